"""Input preparation for :mod:`ditan.indicators`: one metric CRS, street graphs as lines.

Private: the public functions are in :mod:`ditan.indicators`. Every repair or choice made here is
written into the ``notes`` of a :class:`Context` (and logged), and ends up in the ``attrs`` of the
table the indicator returns.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from ditan.spatial.crs.metric import choose_metric_crs, ensure_projected, to_metric
from ditan.spatial.errors import CRSError, LayerError, feature_list
from ditan.spatial.indicators.roads import ROAD_CLASS

log = logging.getLogger("ditan.indicators")

#: edge attributes read from a street graph (lists, as osmnx leaves them after simplification, are
#: reduced)
GRAPH_ATTRIBUTES = ("highway", "name", "oneway", "access", "foot", "junction", "service")
#: rank of the OSM highway values when an edge carries several: the most important road class first
_HIGHWAY_RANK = {v: i for i, v in enumerate(ROAD_CLASS)}
POLYGONAL = ("Polygon", "MultiPolygon")
PUNTAL = ("Point", "MultiPoint")


@dataclass
class Context:
    """The metric CRS of one indicator call and what was done to its inputs (notes, data gaps)."""

    crs: CRS
    notes: list[str] = field(default_factory=list)
    gaps: list[str] = field(default_factory=list)

    def note(self, text: str, *, warn: bool = False) -> None:
        self.notes.append(text)
        (log.warning if warn else log.info)(text)

    def gap(self, text: str) -> None:
        self.gaps.append(text)
        log.info("data gap 数据缺失: %s", text)

    def finish(self, out: pd.DataFrame) -> pd.DataFrame:
        """The result with ``attrs``: crs (measured in), notes and data_gaps (lists of text)."""
        out.attrs.update(
            crs=self.crs.to_string(), notes=list(self.notes), data_gaps=list(self.gaps)
        )
        return out


def _frame(obj: Any, name: str) -> gpd.GeoDataFrame:
    if isinstance(obj, gpd.GeoSeries):
        obj = gpd.GeoDataFrame(geometry=obj)
    if not isinstance(obj, gpd.GeoDataFrame):
        raise LayerError(
            f"layer '{name}' must be a GeoDataFrame (got {type(obj).__name__}); read it with "
            "geopandas.read_file() or build one with geopandas.GeoDataFrame(..., geometry=..., "
            "crs=...)"
        )
    return obj


def metric_units(units: Any) -> tuple[gpd.GeoDataFrame, Context]:
    """``units`` in a metric CRS, and the context every other layer is brought into.

    Units in degrees are projected to the CRS ditan chooses for their centre (CGCS2000 3°
    Gauss–Krüger in China, UTM elsewhere: :func:`ditan.spatial.crs.metric.choose_metric_crs`), with
    a note.
    """
    units = _frame(units, "units")
    if units.crs is None:
        raise CRSError(
            "layer 'units' has no coordinate system; set it with units.set_crs('EPSG:4326') (or "
            "the CRS the coordinates are in)"
        )
    crs = CRS.from_user_input(units.crs)
    if not crs.is_geographic:
        ensure_projected(units, "units")
        return units, Context(crs)
    lon0, lat0, lon1, lat1 = units.to_crs(4326).total_bounds if len(units) else (0.0, 0.0, 0.0, 0.0)
    metric = choose_metric_crs((lon0 + lon1) / 2, (lat0 + lat1) / 2)
    ctx = Context(metric)
    ctx.note(
        f"units are in {crs.name} (degrees): every layer is measured in {metric.name} "
        f"(EPSG:{metric.to_epsg()}), the metric CRS ditan chooses for their centre; project the "
        f"layers yourself to measure in another (单元为经纬度坐标，已投影至 EPSG:{metric.to_epsg()} 计算)",
        warn=True,
    )
    return units.to_crs(metric), ctx


def layer(ctx: Context, gdf: Any, name: str) -> gpd.GeoDataFrame:
    """A layer in the context's metric CRS (reprojected, with a note, when it is in another CRS)."""
    gdf = _frame(gdf, name)
    if gdf.crs is None:
        raise CRSError(
            f"layer '{name}' has no coordinate system; set it with .set_crs('EPSG:…') (the CRS its "
            "coordinates are in)"
        )
    if CRS.from_user_input(gdf.crs) != ctx.crs:
        ctx.note(
            f"layer '{name}' reprojected from {CRS.from_user_input(gdf.crs).name} to {ctx.crs.name}"
        )
    return to_metric(gdf, ctx.crs, name)


def is_graph(obj: Any) -> bool:
    """A networkx graph (osmnx returns a MultiDiGraph): nodes, edges and a graph-attribute dict."""
    return not isinstance(obj, pd.DataFrame) and all(
        hasattr(obj, a) for a in ("nodes", "edges", "graph")
    )


def _first(value: Any) -> Any:
    return (value[0] if len(value) else None) if isinstance(value, list | tuple) else value


def _highway(value: Any) -> Any:
    """One OSM highway value: a list's most important road class (residential, primary: primary)."""
    if not isinstance(value, list | tuple):
        return value
    known = [v for v in value if v in _HIGHWAY_RANK]
    return min(known, key=_HIGHWAY_RANK.__getitem__) if known else _first(value)


def _oneway(value: Any) -> Any:
    value = _first(value)
    return ("yes" if value else "no") if isinstance(value, bool | np.bool_) else value


def graph_edges(graph: Any) -> gpd.GeoDataFrame:
    """The edges of a networkx / osmnx street graph as a GeoDataFrame of lines (one row per street).

    Nodes need ``x`` and ``y`` (in the graph's CRS, ``graph.graph['crs']``). An edge's line is its
    ``geometry`` attribute when it has one, else the straight segment between its nodes. The two
    directed edges of a two-way street (u → v and v → u over the same line) become one row. In a
    graph where some edges have a ``highway`` attribute, those without one are not streets (osmnx's
    graph_from_xml makes edges of every way, building outlines too) and are left out
    (``attrs['not_streets']`` counts them). Attributes: ``highway`` (a list, as osmnx leaves merged
    ways, becomes its most important road class), ``name``, ``oneway`` (True/False as 'yes'/'no'),
    ``access``, ``foot``, ``junction``, ``service`` (lists: their first value); ``u`` and ``v`` are
    the node ids.
    """
    crs = graph.graph.get("crs")
    if crs is None:
        raise CRSError(
            "the street graph has no coordinate system (graph.graph['crs'] is not set): set it, "
            "e.g. G.graph['crs'] = 'EPSG:4326' for longitude/latitude node coordinates (osmnx "
            "graphs carry it)"
        )
    nodes = list(graph.nodes(data=True))
    xy = {n: (d.get("x"), d.get("y")) for n, d in nodes}
    bad = [n for n, (x, y) in xy.items() if x is None or y is None]
    if bad:
        raise LayerError(
            f"street graph: {len(bad)} node(s) without x and y coordinates ({feature_list(bad)}); "
            "give every node attributes x and y in the graph's CRS"
        )
    edges = list(graph.edges(data=True))
    u = [e[0] for e in edges]
    v = [e[1] for e in edges]
    data = [e[2] for e in edges]
    geom = np.array([d.get("geometry") for d in data] + [None], dtype=object)[:-1]
    straight = np.array([not isinstance(g, shapely.Geometry) for g in geom], dtype=bool)
    if straight.any():
        ends = np.array(
            [[xy[a], xy[b]] for a, b, s in zip(u, v, straight, strict=True) if s], dtype=float
        )
        geom[straight] = shapely.linestrings(ends)
    cols: dict[str, Any] = {"u": u, "v": v}
    for key in GRAPH_ATTRIBUTES:
        pick = {"highway": _highway, "oneway": _oneway}.get(key, _first)
        cols[key] = pd.Series([pick(d.get(key)) for d in data], dtype=object)
    out = gpd.GeoDataFrame(cols, geometry=geom, crs=crs)
    ends = pd.factorize(pd.Series(u + v, dtype=object))[0].reshape(2, -1)
    key = pd.DataFrame(
        {
            "lo": ends.min(axis=0),
            "hi": ends.max(axis=0),
            "line": shapely.to_wkb(shapely.normalize(geom)),
        }
    )
    street = out["highway"].notna().to_numpy().copy()
    not_streets = int((~street).sum()) if street.any() else 0
    if not street.any():  # a graph without highway attributes (hand-made): every edge is a street
        street[:] = True
    street &= shapely.length(geom) > 0  # a self-loop without a geometry: no length to walk or count
    # the non-streets are left out first (a building outline may share a segment with a footway),
    # then
    # the reverse direction of each two-way street
    keep = np.zeros(len(out), dtype=bool)
    keep[street] = ~key[street].duplicated().to_numpy()
    out = out[keep].reset_index(drop=True)
    out.attrs["not_streets"] = not_streets
    return out


def street_lines(ctx: Context, network: Any, name: str) -> gpd.GeoDataFrame:
    """Street lines in the metric CRS from a graph or a GeoDataFrame of lines.

    From a graph with a ``highway`` attribute on some edges, edges without one are no streets
    (osmnx's graph_from_xml makes edges of every way, building outlines too): they are dropped, with
    a note.
    """
    if is_graph(network):
        edges = graph_edges(network)
        kind = "graph"
    else:
        edges = _frame(network, name)
        kind = "layer"
    if len(edges) and not edges.geom_type.isin(["LineString", "MultiLineString"]).all():
        found = sorted(set(edges.geom_type.dropna()) - {"LineString", "MultiLineString"})
        raise LayerError(
            f"layer '{name}' must hold lines (LineString), not {', '.join(found)}; pass the street "
            "lines or a networkx / osmnx graph"
        )
    if kind == "graph" and edges.attrs.get("not_streets"):
        ctx.note(
            f"{name}: {edges.attrs['not_streets']} graph edge(s) without a highway attribute are "
            "not streets (e.g. building outlines in osmnx.graph_from_xml): not used"
        )
    return layer(ctx, edges, name)


def walkable(
    ctx: Context, streets: gpd.GeoDataFrame, walk_exclude: tuple[str, ...], name: str
) -> gpd.GeoDataFrame:
    """The streets one may walk on: highway not in ``walk_exclude``, not tagged foot/access=no."""
    keep = np.ones(len(streets), dtype=bool)
    if "highway" in streets:
        keep &= ~streets["highway"].isin(list(walk_exclude)).to_numpy()
    for key in ("foot", "access"):
        if key in streets:
            keep &= ~streets[key].isin(["no"]).to_numpy()
    if (~keep).any():
        ctx.note(
            f"{name}: {int((~keep).sum())} of {len(streets)} lines not walkable (highway in "
            "walk_exclude, or foot/access=no): not used for walking distances"
        )
    return streets[keep]


def floors(
    buildings: gpd.GeoDataFrame, *, storey_height_m: float, default_floors: dict | None
) -> gpd.GeoDataFrame:
    """``buildings`` with ``floors`` and ``floors_source`` (given; else levels, height, type)."""
    from ditan.spatial.indicators.intensity import estimate_floors

    if "floors" in buildings:
        out = buildings.copy()
        out["floors"] = pd.to_numeric(out["floors"], errors="coerce").astype(float)
        if "floors_source" not in out:
            out["floors_source"] = "levels"
        if out["floors"].isna().any() or (out["floors"] <= 0).any():
            bad = out.index[out["floors"].isna() | (out["floors"] <= 0)].tolist()
            raise LayerError(
                f"layer 'buildings': {len(bad)} building(s) without a positive 'floors' value "
                f"({feature_list(bad)}); fill them in, or drop the column to estimate floors from "
                "building:levels, height and the building type"
            )
        return out
    raw = pd.DataFrame(index=buildings.index)
    for target, names in (
        ("levels_raw", ("levels_raw", "building:levels", "levels")),
        ("height_raw", ("height_raw", "height")),
        ("building", ("building",)),
    ):
        found = next((c for c in names if c in buildings), None)
        if found is not None:
            raw[target] = buildings[found].to_numpy()
    est = estimate_floors(raw, default_floors=default_floors, storey_height_m=storey_height_m)
    return buildings.assign(
        floors=est["floors"].to_numpy(), floors_source=est["floors_source"].to_numpy()
    )


def polygons(gdf: gpd.GeoDataFrame, name: str) -> gpd.GeoDataFrame:
    """Rows with a non-empty polygon; anything else raises, naming the rows."""
    ok = gdf.geom_type.isin(POLYGONAL).to_numpy() & ~gdf.geometry.is_empty.to_numpy()
    if not ok.all():
        bad = gdf.index[~ok].tolist()
        raise LayerError(
            f"layer '{name}': {len(bad)} row(s) are not polygons ({feature_list(bad)}); pass "
            "polygons only"
        )
    return gdf
