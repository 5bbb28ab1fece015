"""Catch point layers in Chinese web-map coordinates (GCJ-02, BD-09) declared WGS 84 or CGCS2000.

Points exported from Amap/高德, Tencent/腾讯 (GCJ-02) or Baidu/百度 (BD-09) but declared EPSG:4326 land
hundreds of metres off (about 590 m in Beijing for GCJ-02, about 1.3 km for BD-09) and pass every
coordinate check: they are valid degrees in the right country. They are caught by asking which reading
of the coordinates makes the points sit where their kind of feature is:

- the candidates are the coordinates as declared, after the GCJ-02 inverse and after the BD-09 inverse
  (:mod:`ditan.spatial.crs.china`), each taken to the study's metric CRS;
- the references are features of the study read from other sources: the roads (for kinds that stand at the
  kerb: bus stops) and OSM features of the same kind (stations of the same kind, facilities of the same
  category);
- a point *matches* a reference under a reading when it lies within :data:`MATCH_MAX_M` of the reference
  and at less than :data:`MATCH_RATIO` of the mean distance from the reference of the :data:`RING_POINTS`
  positions :data:`RING_RADIUS_M` around it. The ring makes the test local: a point in a dense street grid
  is near some road wherever it lands, but much nearer than its surroundings only where it stands at a road.
  A plain median distance misleads: the sample's OSM facilities (area centres, inside blocks) come out
  nearer the roads after a GCJ-02 inverse they do not need (median 27 → 16 m), moved into a denser grid.

A point matches under a reading when it matches some reference. The layer is in a web-map system when
the best inverse makes at least :data:`MIN_MATCHES` points match, at least :data:`MATCH_FACTOR` times as
many as the declared reading, and at least :data:`MIN_SHARE` of the points compared. Points outside China
(where GCJ-02 is WGS 84) and layers of fewer than :data:`MIN_MATCHES` points are not judged; without a
reference (no OSM file, and no bus stops for the roads) nothing is judged. Facilities are not compared with
the roads: they stand inside blocks, and a wrong reading lands them near some road about as often as the
right one.

Thresholds, measured on the Beijing sample (68 OSM bus stops, its 684 roads; tests/test_webmap_offset.py):
against the roads alone, the stops as they are match 68 of 68 (64 when each is moved 15 m off in a random
direction, as a roadside stop is), and 10 or fewer under an inverse; shifted to GCJ-02 (an independent
forward formula) they match 7–9 as declared and 64–68 after the GCJ-02 inverse; shifted to BD-09, 11–16
and 64–68 after the BD-09 inverse (detected with stops moved up to 25 m off the road too). 1,000 sets of
5–60 random points in the sample's bounds raised no alarm (with a 50 m / 0.5 match, 4 did).
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import shapely
from pyproj import CRS, Transformer

from ditan.spatial.crs.china import SYSTEM_NAMES, TO_WGS84, out_of_china
from ditan.spatial.errors import CRSError

__all__ = ["Reference", "Reading", "Offset", "in_scope", "find_offset", "check_layer"]

#: radius (m) and number of the ring positions a point's distance to a reference is compared with
RING_RADIUS_M = 100.0
RING_POINTS = 8
#: a match: within this distance (m) of the reference …
MATCH_MAX_M = 30.0
#: … and nearer than this share of the ring's mean distance (+1 m, so that a ring on the reference does not divide by 0)
MATCH_RATIO = 0.35
#: an inverse wins with at least this many matching points …
MIN_MATCHES = 5
#: … at least this many times the declared reading's …
MATCH_FACTOR = 2.0
#: … and at least this share of the points compared (the true reading of bus stops: 94–100 %; a wrong one: ≤ 25 %)
MIN_SHARE = 0.6
#: at most this many points are compared (evenly taken through the layer), which keeps a city-wide layer cheap
MAX_POINTS = 2000
#: kinds of point that stand at the kerb, compared with the roads
ROADSIDE_KINDS = frozenset({"bus_stop"})
#: geodetic datums whose longitude/latitude GCJ-02 and BD-09 are offsets of (they agree to centimetres)
DATUMS = ("World Geodetic System 1984", "China 2000")


@dataclass(frozen=True)
class Reference:
    """Features the points should stand on or beside, in the study's metric CRS.

    ``kinds`` (one per geometry): a point is compared only with the geometries of its own kind; ``points_of``:
    only points of these kinds are compared with it (None: every point).
    """

    label: str  # in messages: "the roads", "the OSM stations of the same kind"
    geoms: np.ndarray
    kinds: np.ndarray | None = None
    points_of: frozenset[str] | None = None


@dataclass(frozen=True)
class Reading:
    """How well the points match the references under one reading of their coordinates."""

    system: str | None  # None: as declared; 'gcj02' or 'bd09': after that system's inverse
    matches: int  # points that match some reference
    hit: np.ndarray  # per point: it matches the main reference (the first it is compared with)
    distance_m: np.ndarray  # per point: distance to the main reference (NaN: not compared with it)


@dataclass(frozen=True)
class Offset:
    """A layer found to be in a web-map system."""

    system: str
    declared: Reading
    inverse: Reading
    compared: int  # points compared with some reference
    reference: str  # the label of the main reference (the one the reported distances are to)
    references: str  # the labels of every reference compared with, joined by "or"
    median_declared_m: float
    median_inverse_m: float


def in_scope(gdf: gpd.GeoDataFrame) -> bool:
    """Whether ``gdf`` holds longitude/latitude on WGS 84 or CGCS2000 (not read from gcj02 / bd09)."""
    if gdf.crs is None or gdf.attrs.get("source_crs") in SYSTEM_NAMES:
        return False
    crs = CRS.from_user_input(gdf.crs)
    return bool(
        crs.is_geographic and crs.datum is not None and any(d in crs.datum.name for d in DATUMS)
    )


def _lonlat(gdf: gpd.GeoDataFrame) -> tuple[np.ndarray, np.ndarray]:
    geoms = gdf.geometry.to_numpy()
    ok = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    xy = np.full((len(geoms), 2), np.nan)
    if ok.any():
        xy[ok] = shapely.get_coordinates(shapely.centroid(geoms[ok]))
    return xy[:, 0], xy[:, 1]


def _nearest(tree: shapely.STRtree, xy: np.ndarray) -> np.ndarray:
    """Distance from each (x, y) to the nearest geometry of ``tree`` (inf when the tree is empty)."""
    out = np.full(len(xy), np.inf)
    if len(xy) == 0 or len(tree.geometries) == 0:
        return out
    (idx, _), dist = tree.query_nearest(shapely.points(xy), return_distance=True, all_matches=False)
    out[idx] = dist
    return out


def _matches(xy: np.ndarray, tree: shapely.STRtree) -> tuple[np.ndarray, np.ndarray]:
    """(matches, distance) of each point against one reference tree."""
    d0 = _nearest(tree, xy)
    near = d0 <= MATCH_MAX_M  # only these can match: their rings alone are measured
    angles = np.arange(RING_POINTS) * 2 * np.pi / RING_POINTS
    ring = RING_RADIUS_M * np.column_stack([np.cos(angles), np.sin(angles)])
    around = np.full(len(xy), np.inf)
    around[near] = (
        _nearest(tree, (xy[near][:, None, :] + ring[None, :, :]).reshape(-1, 2))
        .reshape(int(near.sum()), RING_POINTS)
        .mean(axis=1)
    )
    return near & (d0 < MATCH_RATIO * (around + 1.0)), d0


def _applies(ref: Reference, kinds: np.ndarray) -> np.ndarray:
    return (
        np.ones(len(kinds), dtype=bool)
        if ref.points_of is None
        else np.isin(kinds, list(ref.points_of))
    )


def _read(
    xy: np.ndarray,
    kinds: np.ndarray,
    refs: list[Reference],
    system: str | None,
    trees: dict | None = None,
) -> tuple[Reading, np.ndarray]:
    """One reading, and which points were compared with some reference; ``refs[0]`` is the main reference.

    ``trees``: the references' trees by (reference, kind), kept from one reading to the next.
    """
    trees = {} if trees is None else trees
    any_hit, compared = np.zeros(len(xy), dtype=bool), np.zeros(len(xy), dtype=bool)
    hit0, dist0 = np.zeros(len(xy), dtype=bool), np.full(len(xy), np.nan)
    for i, ref in enumerate(refs):
        use = _applies(ref, kinds)
        groups = (
            [(None, use)]
            if ref.kinds is None
            else [(k, use & (kinds == k)) for k in np.unique(kinds[use])]
        )
        for kind, sel in groups:
            geoms = ref.geoms if kind is None else ref.geoms[ref.kinds == kind]
            if not sel.any() or len(geoms) == 0:
                continue
            if (i, kind) not in trees:
                trees[i, kind] = shapely.STRtree(geoms)
            hit, dist = _matches(xy[sel], trees[i, kind])
            any_hit[sel] |= hit
            compared[sel] = True
            if i == 0:
                hit0[sel], dist0[sel] = hit, dist
    return Reading(system, int(any_hit.sum()), hit0, dist0), compared


def find_offset(
    points: gpd.GeoDataFrame,
    study_crs: CRS,
    references: list[Reference],
    kinds: np.ndarray | None = None,
) -> Offset | None:
    """The web-map system ``points`` (longitude/latitude, :func:`in_scope`) are really in, or None.

    ``kinds``: the kind of each point (station kind, facility category), for the references by kind. The
    first reference that applies to some point is the main one, whose distances the result reports.
    """
    lon, lat = _lonlat(points)
    kinds = (
        np.full(len(lon), "", dtype=object) if kinds is None else np.asarray(kinds, dtype=object)
    )
    keep = np.isfinite(lon) & np.isfinite(lat) & ~out_of_china(lon, lat)
    idx = np.flatnonzero(keep)
    if len(idx) > MAX_POINTS:
        idx = idx[np.unique(np.linspace(0, len(idx) - 1, MAX_POINTS).round().astype(int))]
    lon, lat, kinds = lon[idx], lat[idx], kinds[idx]
    refs = [r for r in references if len(r.geoms) and _applies(r, kinds).any()]
    if len(idx) < MIN_MATCHES or not refs:
        return None
    to_study = Transformer.from_crs(CRS.from_user_input(points.crs), study_crs, always_xy=True)
    readings, compared = {}, np.zeros(len(lon), dtype=bool)
    trees: dict = {}
    for system in (None, *TO_WGS84):
        x, y = (lon, lat) if system is None else TO_WGS84[system](lon, lat)
        readings[system], seen = _read(
            np.column_stack(to_study.transform(x, y)), kinds, refs, system, trees
        )
        compared |= seen
        if system is None and MATCH_FACTOR * readings[None].matches > len(lon):
            return None  # no other reading can match MATCH_FACTOR times as many points: as declared
    declared = readings.pop(None)
    best = max(readings.values(), key=lambda r: r.matches)
    assert best.system is not None  # the declared reading (system None) was popped above
    n = int(compared.sum())
    if best.matches < max(MIN_MATCHES, MATCH_FACTOR * declared.matches, MIN_SHARE * n):
        return None
    # the distances reported: of the points that stand on or beside the main reference in one reading or the other
    # (a layer reaching beyond the study's data would otherwise report mostly its points far from any data)
    either = declared.hit | best.hit
    sel = either if either.sum() >= MIN_MATCHES else np.isfinite(declared.distance_m)
    return Offset(
        best.system,
        declared,
        best,
        n,
        refs[0].label,
        " or ".join(r.label for r in refs),
        float(np.median(declared.distance_m[sel])),
        float(np.median(best.distance_m[sel])),
    )


def check_layer(
    points: gpd.GeoDataFrame,
    study_crs: CRS,
    references: list[Reference],
    *,
    layer: str,
    label: str,
    declared: str,
    key: str,
    kinds: np.ndarray | None = None,
) -> None:
    """Raise :class:`CRSError` when the points of a layer declared WGS 84 / CGCS2000 are in GCJ-02 or BD-09.

    ``layer`` and ``label`` name the layer and its source in the message, ``declared`` its CRS as declared
    (e.g. 'EPSG:4326'), ``key`` where its ``crs:`` goes (e.g. 'inputs.stations').
    """
    if not in_scope(points):
        return
    found = find_offset(points, study_crs, references, kinds)
    if found is None:
        return
    s = found.system
    raise CRSError(
        f"layer '{layer}' ({label}): its points sit {found.median_declared_m:,.0f} m from {found.reference} as declared "
        f"({declared}) but {found.median_inverse_m:,.0f} m after the {SYSTEM_NAMES[s].split(' ')[0]} inverse "
        f"({found.inverse.matches} of {found.compared} points then stand on or beside {found.references}, "
        f"{found.declared.matches} as declared): the file is in {SYSTEM_NAMES[s]} web-map coordinates (火星坐标); "
        f"set crs: {s} under {key}"
    )
