"""Streaming OpenStreetMap reader (.osm, .osm.bz2, .osm.pbf) built on pyosmium.

One pass over the file yields three raw tables in WGS 84: highway ways (lines, with their
node ids so the walk network keeps OSM's topology), areas (closed ways and multipolygon
relations assembled by libosmium) and tagged nodes. Only the tag keys ditan uses are kept.
Ways or areas whose geometry cannot be built are counted, not silently lost: libosmium quietly
skips a closed way with nodes missing from the file (a clipped export) and a multipolygon
whose members are missing or whose rings do not close, so the reader tracks every area
candidate (a closed way or a multipolygon/boundary relation with an area key) and lists those
that never became an area in ``OsmExtract.lost`` with the reason; the layer builders
(ditan.spatial.study_area.osm_layers) count them as dropped in the data-quality ledger.
"""

from __future__ import annotations

import logging
import os
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import osmium
import pandas as pd
import shapely

from ditan.spatial.errors import LayerError

__all__ = ["OsmExtract", "read_osm"]

log = logging.getLogger(__name__)

#: Tag keys kept from the file; everything else is ignored.
KEYS = (
    "name", "highway", "oneway", "access", "foot", "service", "junction",
    "building", "building:levels", "height", "building:use",
    "landuse", "leisure", "natural", "amenity", "shop", "healthcare", "social_facility",
    "public_transport", "railway", "station", "subway", "bus", "tourism", "office",
    "place", "area", "isced:level", "school", "operator",
)  # fmt: skip
AREA_KEYS = (
    "building",
    "landuse",
    "leisure",
    "natural",
    "amenity",
    "shop",
    "healthcare",
    "social_facility",
    "tourism",
    "office",
    "railway",
    "public_transport",
    "place",
)
NODE_KEYS = (
    "amenity",
    "shop",
    "leisure",
    "healthcare",
    "social_facility",
    "public_transport",
    "railway",
    "highway",
    "tourism",
    "office",
    "place",
)


#: why an OSM feature could not be built (the ``reason`` column of :attr:`OsmExtract.lost`)
MISSING_NODES = "nodes missing from the extract (clipped export)"
MISSING_MEMBERS = "multipolygon member ways missing from the extract (clipped export)"
BROKEN_RINGS = "broken multipolygon (its rings do not close into an outline)"
BAD_RING = "closed way that is no ring (fewer than three distinct nodes, or a ring libosmium cannot assemble)"
NOT_CLOSED = "outline way that does not close (last node is not the first)"
TOO_SHORT = "way with fewer than two distinct points"
#: ``OsmExtract.failures`` keys (highway ways) and the area total
HIGHWAY_MISSING = "highway ways with missing node locations"
HIGHWAY_SHORT = "highway ways with fewer than two distinct points"
AREAS_LOST = "areas that could not be assembled"
#: relation types libosmium assembles into areas
AREA_RELATIONS = ("multipolygon", "boundary")


@dataclass
class OsmExtract:
    """The raw content of one OSM file, in EPSG:4326.

    ``ways``, ``areas`` and ``nodes`` always carry ``osm_id`` and every key of :data:`KEYS` as columns
    (None where absent), even when empty: a file without areas (an osmnx drive network) still
    gives an ``areas`` frame with the usual columns. ``lost`` lists the area candidates that could
    not be built (tags, osm_type, osm_id, reason); ``failures`` counts the highway ways lost and the
    areas lost in all.
    """

    ways: gpd.GeoDataFrame
    areas: gpd.GeoDataFrame
    nodes: gpd.GeoDataFrame
    bounds: tuple[float, float, float, float] | None
    failures: dict[str, int] = field(default_factory=dict)
    lost: pd.DataFrame = field(default_factory=lambda: _frame([], ("osm_type", "osm_id", "reason")))


def _tags(obj: osmium.osm.OSMObject) -> dict[str, str]:
    """The tags ditan reads (one C++ lookup per key: faster than iterating pyosmium's tag list)."""
    get = obj.tags.get
    return {k: v for k in KEYS if (v := get(k)) is not None}


def _frame(rows: list[dict], extra: tuple[str, ...]) -> pd.DataFrame:
    """Rows as a frame with ``extra`` and every key of KEYS as columns (object columns of None where absent)."""
    df = pd.DataFrame(rows)
    for col in (*extra, *KEYS):
        if col not in df.columns:
            df[col] = pd.Series([None] * len(df), index=df.index, dtype=object)
    return df


def _geo(rows: list[dict], wkb: list[str], extra: tuple[str, ...]) -> gpd.GeoDataFrame:
    geom = shapely.from_wkb(wkb, on_invalid="ignore") if wkb else np.empty(0, dtype=object)
    return gpd.GeoDataFrame(_frame(rows, extra), geometry=geom, crs=4326)


def read_osm(path: str | os.PathLike) -> OsmExtract:
    """Read one OSM file in a single streaming pass."""
    path = Path(path)
    if not path.exists():
        raise LayerError(f"OSM file '{path}' does not exist; check inputs.osm.path in the config")
    wkb = osmium.geom.WKBFactory()
    way_rows: list[dict] = []
    way_wkb: list[str] = []
    area_rows: list[dict] = []
    area_wkb: list[str] = []
    node_rows: list[dict] = []
    lost_rows: list[dict] = []
    failures = {HIGHWAY_MISSING: 0, HIGHWAY_SHORT: 0, AREAS_LOST: 0}
    way_ids = array("q")  # every way in the file: are a lost multipolygon's members in it?
    ways_missing_nodes: set[int] = set()
    pending_ways: dict[
        int, tuple[dict, bool]
    ] = {}  # area candidate ways awaiting their area: id → (tags, nodes missing)
    pending_rels: dict[
        int, tuple[dict, list[int]]
    ] = {}  # area candidate relations: id → (tags, member way ids)

    def lose(row: dict, osm_type: str, osm_id: int, reason: str) -> None:
        row.update(osm_type=osm_type, osm_id=osm_id, reason=reason)
        lost_rows.append(row)

    try:
        # untagged nodes (most of a file) only feed the location index: the filter keeps them out of Python
        nodes_filter = osmium.filter.EmptyTagFilter()
        nodes_filter.enable_for(osmium.osm.NODE)  # (osmium's stub says it returns None)
        fp = osmium.FileProcessor(str(path)).with_locations().with_areas().with_filter(nodes_filter)
        header_box = fp.header.box()
        o: Any  # osmium types the objects as a union that is_node() / is_way() … do not narrow
        for o in fp:
            if o.is_node():
                if any(k in o.tags for k in NODE_KEYS):
                    row = _tags(o)
                    row.update(osm_type="node", osm_id=o.id, lon=o.location.lon, lat=o.location.lat)
                    node_rows.append(row)
            elif o.is_way():
                way_ids.append(o.id)
                # a node missing from the file: create_linestring raises on one after a present node, but skips a
                # leading run of missing nodes silently (they equal its initial undefined location), hence the first-node test
                nodes = o.nodes
                short = False
                try:  # in C++, about as fast as any check of the node locations; the line is kept for highways
                    geom = wkb.create_linestring(o)
                    missing = not nodes[0].location.valid()
                except osmium.InvalidLocationError:
                    missing = True
                except (
                    RuntimeError,
                    IndexError,
                ):  # fewer than two distinct points: all nodes missing, or degenerate
                    missing = len(nodes) > 0 and not nodes[0].location.valid()
                    short = not missing
                if missing:
                    ways_missing_nodes.add(o.id)
                if "highway" in o.tags:
                    if missing or short:
                        failures[HIGHWAY_MISSING if missing else HIGHWAY_SHORT] += 1
                    else:
                        row = _tags(o)
                        row.update(osm_id=o.id)
                        way_rows.append(row)
                        way_wkb.append(geom)
                tags = o.tags
                if any(k in tags for k in AREA_KEYS):
                    if (
                        o.is_closed()
                    ):  # libosmium makes an area of it (unless area=no): remember it until it comes
                        if tags.get("area") != "no":
                            pending_ways[o.id] = (_tags(o), missing)
                    elif (
                        tags.get("building") not in (None, "no") or "landuse" in tags
                    ):  # an outline that does not close
                        lose(_tags(o), "way", o.id, MISSING_NODES if missing else NOT_CLOSED)
            elif o.is_relation():
                if o.tags.get("type") in AREA_RELATIONS and any(k in o.tags for k in AREA_KEYS):
                    pending_rels[o.id] = (_tags(o), [m.ref for m in o.members if m.type == "w"])
            elif o.is_area():
                from_way = o.from_way()
                oid = o.orig_id()
                pending = pending_ways.pop(oid, None) if from_way else pending_rels.pop(oid, None)
                if pending is None and not any(k in o.tags for k in AREA_KEYS):
                    continue
                row = pending[0] if pending is not None else _tags(o)
                kind = "way" if from_way else "relation"
                try:
                    geom = wkb.create_multipolygon(o)
                except osmium.InvalidLocationError:
                    lose(row, kind, oid, MISSING_NODES)
                    continue
                except RuntimeError:
                    lose(row, kind, oid, BAD_RING if from_way else BROKEN_RINGS)
                    continue
                row.update(osm_type=kind, osm_id=oid)
                area_rows.append(row)
                area_wkb.append(geom)
    except RuntimeError as exc:
        raise LayerError(
            f"OSM file '{path}' could not be read ({exc}); is it a complete .osm/.osm.pbf file?"
        ) from exc

    # the candidates libosmium never made an area of
    for oid, (row, missing) in pending_ways.items():
        lose(row, "way", oid, MISSING_NODES if missing else BAD_RING)
    if pending_rels:
        in_file = (
            np.frombuffer(way_ids, dtype=np.int64) if len(way_ids) else np.empty(0, dtype=np.int64)
        )
        for oid, (row, members) in pending_rels.items():
            if not np.isin(np.asarray(members, dtype=np.int64), in_file).all():
                lose(row, "relation", oid, MISSING_MEMBERS)
            elif any(m in ways_missing_nodes for m in members):
                lose(row, "relation", oid, MISSING_NODES)
            else:
                lose(row, "relation", oid, BROKEN_RINGS)
    failures[AREAS_LOST] = len(lost_rows)

    ways = _geo(way_rows, way_wkb, ("osm_id",))
    areas = _geo(area_rows, area_wkb, ("osm_type", "osm_id"))
    nodes_df = _frame(node_rows, ("osm_type", "osm_id"))
    nodes = gpd.GeoDataFrame(
        nodes_df.drop(columns=["lon", "lat"], errors="ignore"),
        geometry=gpd.points_from_xy(nodes_df.get("lon", []), nodes_df.get("lat", [])),
        crs=4326,
    )
    lost = _frame(lost_rows, ("osm_type", "osm_id", "reason"))
    bounds = None
    if header_box.valid():
        bounds = (
            header_box.bottom_left.lon,
            header_box.bottom_left.lat,
            header_box.top_right.lon,
            header_box.top_right.lat,
        )
    log.info(
        "read %s: %d highway ways, %d areas, %d tagged nodes (%d areas lost)",
        path.name,
        len(ways),
        len(areas),
        len(nodes),
        len(lost),
    )
    return OsmExtract(
        ways=ways, areas=areas, nodes=nodes, bounds=bounds, failures=failures, lost=lost
    )
