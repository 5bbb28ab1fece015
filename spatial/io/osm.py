"""Streaming OpenStreetMap reader (.osm, .osm.bz2, .osm.pbf) built on pyosmium.

One pass over the file yields three raw tables in WGS 84: highway ways (lines, with their
node ids so the walk network keeps OSM's topology), areas (closed ways and multipolygon
relations assembled by libosmium) and tagged nodes. Only the tag keys ditan uses are kept.
Ways or areas whose geometry cannot be built (nodes missing from an extract, broken rings)
are counted, not silently lost.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import osmium
import pandas as pd
import shapely

from spatial.errors import LayerError

log = logging.getLogger(__name__)

#: Tag keys kept from the file; everything else is ignored.
KEYS = (
    "name", "highway", "oneway", "access", "foot", "service", "junction",
    "building", "building:levels", "height", "building:use",
    "landuse", "leisure", "natural", "amenity", "shop", "healthcare", "social_facility",
    "public_transport", "railway", "station", "subway", "bus", "tourism", "office",
    "place", "area", "isced:level", "school", "operator",
)  # fmt: skip
AREA_KEYS = ("building", "landuse", "leisure", "natural", "amenity", "shop", "healthcare",
             "social_facility", "tourism", "office", "railway", "public_transport", "place")
NODE_KEYS = ("amenity", "shop", "leisure", "healthcare", "social_facility", "public_transport",
             "railway", "highway", "tourism", "office", "place")


@dataclass
class OsmExtract:
    """The raw content of one OSM file, in EPSG:4326."""

    ways: gpd.GeoDataFrame
    areas: gpd.GeoDataFrame
    nodes: gpd.GeoDataFrame
    bounds: tuple[float, float, float, float] | None
    failures: dict[str, int] = field(default_factory=dict)


def _tags(obj: osmium.osm.OSMObject) -> dict[str, str]:
    """The tags ditan reads (one C++ lookup per key: faster than iterating pyosmium's tag list)."""
    get = obj.tags.get
    return {k: v for k in KEYS if (v := get(k)) is not None}


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
    failures = {"highway ways with missing node locations": 0, "areas that could not be assembled": 0}
    try:
        # untagged nodes (most of a file) only feed the location index: the filter keeps them out of Python
        fp = (osmium.FileProcessor(str(path)).with_locations().with_areas()
              .with_filter(osmium.filter.EmptyTagFilter().enable_for(osmium.osm.NODE)))
        header_box = fp.header.box()
        for o in fp:
            if o.is_node():
                if any(k in o.tags for k in NODE_KEYS):
                    row = _tags(o)
                    row.update(osm_type="node", osm_id=o.id, lon=o.location.lon, lat=o.location.lat)
                    node_rows.append(row)
            elif o.is_way():
                if "highway" in o.tags:
                    try:
                        geom = wkb.create_linestring(o)
                    except (osmium.InvalidLocationError, RuntimeError):
                        failures["highway ways with missing node locations"] += 1
                        continue
                    row = _tags(o)
                    row.update(osm_id=o.id)
                    way_rows.append(row)
                    way_wkb.append(geom)
            elif o.is_area():
                if any(k in o.tags for k in AREA_KEYS):
                    try:
                        geom = wkb.create_multipolygon(o)
                    except (osmium.InvalidLocationError, RuntimeError):
                        failures["areas that could not be assembled"] += 1
                        continue
                    row = _tags(o)
                    row.update(osm_type="way" if o.from_way() else "relation", osm_id=o.orig_id())
                    area_rows.append(row)
                    area_wkb.append(geom)
    except RuntimeError as exc:
        raise LayerError(f"OSM file '{path}' could not be read ({exc}); is it a complete .osm/.osm.pbf file?") from exc

    ways = gpd.GeoDataFrame(way_rows, geometry=shapely.from_wkb(way_wkb, on_invalid="ignore") if way_wkb else [], crs=4326)
    areas = gpd.GeoDataFrame(area_rows, geometry=shapely.from_wkb(area_wkb, on_invalid="ignore") if area_wkb else [], crs=4326)
    nodes_df = pd.DataFrame(node_rows)
    nodes = gpd.GeoDataFrame(
        nodes_df.drop(columns=["lon", "lat"], errors="ignore"),
        geometry=gpd.points_from_xy(nodes_df.get("lon", []), nodes_df.get("lat", [])),
        crs=4326,
    )
    bounds = None
    if header_box.valid():
        bounds = (header_box.bottom_left.lon, header_box.bottom_left.lat,
                  header_box.top_right.lon, header_box.top_right.lat)
    log.info("read %s: %d highway ways, %d areas, %d tagged nodes", path.name, len(ways), len(areas), len(nodes))
    return OsmExtract(ways=ways, areas=areas, nodes=nodes, bounds=bounds, failures=failures)
