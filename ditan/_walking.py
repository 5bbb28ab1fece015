"""The walking indicators of :mod:`ditan.indicators`: life circles and transit proximity.

Private: import them from :mod:`ditan.indicators`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from ditan._inputs import Context, metric_units, street_lines, walkable
from ditan._places import facility_points, home_origins, station_points
from ditan.pipelines.config.params import WALK_EXCLUDE  # the config's default
from ditan.spatial.engine.network import access_points, build_network, nearest_by_group
from ditan.spatial.errors import ConfigError
from ditan.spatial.indicators import life_circle as _life_circle
from ditan.spatial.indicators import transit as _transit
from ditan.spatial.standards import columns
from ditan.spatial.standards.catalogue import Catalogue, load_catalogue
from ditan.spatial.study_area.stations import station_access_points

__all__ = ["life_circle", "transit_proximity"]

Network = Any  # a networkx graph (osmnx MultiDiGraph) or a GeoDataFrame of street lines


def _catalogue(
    catalogue: str | os.PathLike | Catalogue | None, tiers: dict[str, float] | None
) -> Catalogue:
    """The catalogue with the tier distances of ``tiers`` (unknown or not increasing: refused)."""
    from dataclasses import replace

    cat = catalogue if isinstance(catalogue, Catalogue) else load_catalogue(catalogue)
    if not tiers:
        return cat
    unknown = [t for t in tiers if t not in cat.tiers]
    if unknown:
        raise ConfigError(
            f"tiers: {', '.join(map(str, unknown))} not a tier of the catalogue (its tiers: "
            f"{', '.join(cat.tiers)})"
        )
    dist = {k: float(tiers.get(k, t.distance_m)) for k, t in cat.tiers.items()}
    steps = list(dist.values())
    if any(not (d > 0 and np.isfinite(d)) for d in steps) or any(
        b <= a for a, b in zip(steps, steps[1:], strict=False)
    ):
        raise ConfigError(
            f"tiers: distances must be positive metres increasing in tier order ({dist})"
        )
    return replace(cat, tiers={k: replace(t, distance_m=dist[k]) for k, t in cat.tiers.items()})


def _walk_network(ctx: Context, network: Network, walk_exclude: Sequence[str]):
    streets = walkable(ctx, street_lines(ctx, network, "network"), tuple(walk_exclude), "network")
    return build_network(streets.geometry.to_numpy())


def life_circle(
    units: gpd.GeoDataFrame,
    network: Network,
    facilities: gpd.GeoDataFrame,
    *,
    homes: gpd.GeoDataFrame | None = None,
    landuse: gpd.GeoDataFrame | None = None,
    tiers: dict[str, float] | None = None,
    catalogue: str | os.PathLike | Catalogue | None = None,
    category_column: str | None = None,
    weight_column: str | None = None,
    snap_max_m: float = 100.0,
    walk_exclude: Sequence[str] = WALK_EXCLUDE,
    confirmed_absent: Sequence[str] = (),
    storey_height_m: float = 3.0,
    default_floors: dict[str, float] | None = None,
) -> pd.DataFrame:
    """5/10/15-minute life circles (GB 50180-2018) over the walking network.

    For every home, the walking distance to the nearest facility of each category (one
    multi-source Dijkstra per tier distance); a unit's coverage of a category is the share of its
    homes' weight within the category's tier distance.

    Parameters
    ----------
    units : GeoDataFrame
        Unit polygons.
    network : networkx / osmnx graph, or GeoDataFrame of lines
        The walking network. Lines whose ``highway`` is in ``walk_exclude`` or tagged foot/access=no
        are not walked on. Homes and facilities attach to the nearest line within ``snap_max_m``.
    facilities : GeoDataFrame
        Facility points or polygons (an area is reached along its edge). Their category: a column
        (``category_column``, default ``category``) of catalogue ids, Chinese names or aliases
        (``kindergarten``, 幼儿园 …); without one, OSM tags matched by the catalogue's rules.
    homes : GeoDataFrame, optional
        Building polygons, weighted by floor area (floors as in :func:`ditan.indicators.intensity`;
        with a boolean ``residential`` column only those are homes), or points weighted by
        ``weight_column`` (else 1 each). Default: every place of a unit by its area (a 25 m grid).
    landuse : GeoDataFrame, optional
        Land-use polygons with ``lu_class``: a unit without residential buildings is then sampled on
        its residential land (the pipeline's rule, ``lc_basis`` 'land_area').
    tiers : dict, optional
        Walking distance (m) of tiers, overriding the catalogue's (5min 300, 10min 500, 15min 1000).
    catalogue : path or Catalogue, optional
        Facility catalogue; default the packaged GB 50180 one
        (``spatial/standards/life_circle.yaml``).
    category_column, weight_column : str, optional
        See ``facilities`` and ``homes``.
    snap_max_m : float
        Farthest distance from the network at which a home or facility attaches to it.
    walk_exclude : sequence of str
        OSM highway values not walkable.
    confirmed_absent : sequence of str
        Categories known to be absent: measured 0 % instead of a data gap (NaN).
    storey_height_m, default_floors
        Floors of the homes, as in :func:`ditan.indicators.intensity`.

    Returns
    -------
    DataFrame
        ``lc_<category>_pct`` per category; per tier ``lc_<tier>_all_pct`` (every category within
        reach; NaN when a category of the tier is a data gap), ``lc_<tier>_score_pct`` (mean over
        the tier's assessed categories), ``lc_<tier>_assessed_count``,
        ``lc_<tier>_categories_count``;
        ``lc_basis`` (what weights the homes). A unit without homes has NaN. (The pipeline's rule
        on which units have residents, ``assessment.min_residential_land_*``, is not applied: a unit
        with any home weight is measured.)

    """
    units, ctx = metric_units(units)
    cat = _catalogue(catalogue, tiers)
    fac = facility_points(ctx, facilities, cat, category_column=category_column)
    origins = home_origins(
        ctx,
        units,
        homes,
        landuse,
        weight_column=weight_column,
        storey_height_m=storey_height_m,
        default_floors=default_floors,
    )
    net = _walk_network(ctx, network, walk_exclude)
    ids = list(cat.categories)
    gid = {c: i for i, c in enumerate(ids)}
    pts, owner = access_points(fac.geometry.to_numpy(), fac["outline"].to_numpy())
    cut = np.array([cat.tier_distance_m(c) for c in ids])
    dist, o_snap, t_snap = nearest_by_group(
        net,
        origins.points,
        pts,
        fac["category"].map(gid).to_numpy()[owner].astype(np.int64),
        len(ids),
        cutoff_m=cut,
        snap_max_m=snap_max_m,
    )
    _snap_notes(ctx, origins, o_snap.ok, snap_max_m, t_snap.ok, owner, len(fac), "facilities")
    present = set(fac["category"]) | set(_known(confirmed_absent, list(ids), "category"))
    out = _life_circle.life_circle_coverage(
        len(units),
        origins,
        pd.DataFrame(dist, columns=ids),
        cat,
        index=units.index,
        assessed={c for c in ids if c in present},
    )
    for c in ids:
        if c not in present:
            t = cat.categories[c].tier
            out[[columns.lc_category(c), columns.lc_all(t)]] = np.nan
            ctx.gap(
                f"life-circle category {c} {cat.categories[c].zh}: no facility in the input (NaN, "
                "not 0; confirmed_absent=[…] to measure it as 0)"
            )
    return ctx.finish(out)


def _known(values: Sequence[str], ids: list[str], what: str) -> list[str]:
    """``values`` (confirmed_absent), each an id of ``ids``; else ConfigError, with a hint."""
    import difflib

    bad = [v for v in values if v not in ids]
    if bad:
        hints = [difflib.get_close_matches(v, ids, n=1) for v in bad]
        raise ConfigError(
            "confirmed_absent: "
            + ", ".join(
                f"'{v}'" + (f" (did you mean '{h[0]}'?)" if h else "")
                for v, h in zip(bad, hints, strict=True)
            )
            + f" is not a {what} id ({', '.join(ids)})"
        )
    return list(values)


def _snap_notes(
    ctx: Context,
    origins,
    ok: np.ndarray,
    snap_max_m: float,
    target_ok: np.ndarray,
    owner: np.ndarray,
    n_targets: int,
    targets: str,
) -> None:
    """Notes on homes and targets too far from the walk network to attach to it (not reached)."""
    used = np.unique(origins.weights["origin"].to_numpy())
    lost = int((~ok[used]).sum()) if len(used) else 0
    if lost:
        ctx.note(
            f"{lost} of {len(used)} homes more than {snap_max_m:g} m from the walk network: "
            "counted as not covered"
        )
    snapped = np.zeros(n_targets, dtype=bool)
    snapped[owner[target_ok]] = True
    if (~snapped).any():
        ctx.note(
            f"{int((~snapped).sum())} of {n_targets} {targets} more than {snap_max_m:g} m from the "
            "walk network: not reached on it"
        )


def transit_proximity(
    units: gpd.GeoDataFrame,
    network: Network | None,
    stations: gpd.GeoDataFrame,
    *,
    homes: gpd.GeoDataFrame | None = None,
    landuse: gpd.GeoDataFrame | None = None,
    radius_m: float = 500.0,
    kind_column: str = "kind",
    weight_column: str | None = None,
    snap_max_m: float = 100.0,
    walk_exclude: Sequence[str] = WALK_EXCLUDE,
    confirmed_absent: Sequence[str] = (),
    storey_height_m: float = 3.0,
    default_floors: dict[str, float] | None = None,
) -> pd.DataFrame:
    """Transit and bike proximity (公交站点500米覆盖率) and station counts per unit.

    Parameters
    ----------
    units : GeoDataFrame
        Unit polygons.
    network : networkx / osmnx graph, GeoDataFrame of lines, or None
        The walking network (as in :func:`life_circle`); None: the radius method only.
    stations : GeoDataFrame
        Station points with a ``kind_column`` of bus_stop, metro, bike_rental, ev_charging (or
        公交站, 地铁站, 自行车租赁点 … ). A station listed twice (both platforms, once per line) counts
        once and is reached from every position it was listed at.
    kind_column : str
        The column of station kinds.
    homes, landuse, weight_column, snap_max_m, walk_exclude, storey_height_m, default_floors
        As in :func:`life_circle`.
    radius_m : float
        The radius (500 m: the official 公交站点500米覆盖 method).
    confirmed_absent : sequence of str
        Station kinds known to be absent (e.g. metro): measured 0 instead of a data gap (NaN).

    Returns
    -------
    DataFrame
        ``<kind>_<r>m_radius_pct`` (straight line) and, with a network, ``<kind>_<r>m_network_pct``
        (walking distance) for bus_stop, metro and bike_rental: the share of the homes' weight
        within ``radius_m``; ``bus_stop_count``, ``metro_station_count``, ``bike_rental_count``,
        ``ev_charging_count`` (inside the unit; 1/k on a boundary shared by k units).

    """
    units, ctx = metric_units(units)
    absent = _known(confirmed_absent, list(columns.STATION_COUNTS), "station kind")
    st = station_points(ctx, stations, load_catalogue(), kind_column=kind_column)
    origins = home_origins(
        ctx,
        units,
        homes,
        landuse,
        weight_column=weight_column,
        storey_height_m=storey_height_m,
        default_floors=default_floors,
    )
    kinds = list(columns.PROXIMITY_KINDS)
    n = len(units)
    straight = _transit.straight_distances(origins.points, st, kinds)
    walked = None
    if network is not None:
        net = _walk_network(ctx, network, walk_exclude)
        sub = st[st["kind"].isin(kinds)]
        pts, owner = station_access_points(sub)
        groups = (
            sub["kind"].map({k: i for i, k in enumerate(kinds)}).to_numpy()[owner].astype(np.int64)
        )
        dist, o_snap, t_snap = nearest_by_group(
            net,
            origins.points,
            pts,
            groups,
            len(kinds),
            cutoff_m=float(radius_m),
            snap_max_m=snap_max_m,
        )
        _snap_notes(ctx, origins, o_snap.ok, snap_max_m, t_snap.ok, owner, len(sub), "stations")
        walked = pd.DataFrame(dist, columns=kinds)
    out = pd.DataFrame(index=units.index)
    for kind in kinds:
        out[columns.proximity(kind, radius_m, "radius")] = origins.share(
            straight[kind].to_numpy() <= radius_m, n
        )
        if walked is not None:
            out[columns.proximity(kind, radius_m, "network")] = origins.share(
                walked[kind].to_numpy() <= radius_m, n
            )
    out = out.join(_transit.station_counts(units, st))
    for kind, count in columns.STATION_COUNTS.items():
        if kind in set(st["kind"]) | set(absent):
            continue
        gone = [
            c for c in out.columns if c == count or (columns.parse_proximity(c) or ("",))[0] == kind
        ]
        out[gone] = np.nan
        ctx.gap(
            f"station kind {kind}: no station in the input (NaN, not 0; confirmed_absent=[…] to "
            "measure it as 0)"
        )
    return ctx.finish(out)
