"""StudyArea: every layer of one run, in one metric CRS."""

from __future__ import annotations

from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import shapely
from pyproj import CRS

from spatial.catalogue import Catalogue
from spatial.crs import ensure_projected
from spatial.validate import Ledger


@dataclass
class RasterInput:
    path: str
    vegetation_classes: tuple[int, ...]
    ndvi_threshold: float | None = None
    nodata: float | None = None
    impervious_classes: tuple[int, ...] = (50,)


@dataclass
class StudyArea:
    """Units and layers of one study area; geometry columns are all in ``crs`` (metres)."""

    crs: CRS
    bounds: shapely.Polygon  # study bounds in the metric CRS
    units: gpd.GeoDataFrame  # index unit_id (str); column name
    roads: gpd.GeoDataFrame  # all highway lines: highway, name
    buildings: gpd.GeoDataFrame  # building, floors, floors_source, residential, name
    landuse: gpd.GeoDataFrame  # lu_class, tag, name (classified polygons: parcels of a known class, or OSM areas)
    vegetation: gpd.GeoDataFrame  # vegetation polygons (green coverage without a raster)
    facilities: gpd.GeoDataFrame  # category, name (one row per feature and category)
    stations: gpd.GeoDataFrame  # kind, name
    catalogue: Catalogue
    ledger: Ledger
    landcover: RasterInput | None = None
    amenities: gpd.GeoDataFrame | None = None  # kind, name: community amenities counted in each unit
    parcels: gpd.GeoDataFrame | None = None  # parcel layer: parcel_id, tag, code, lu_class, floor_area_m2, far, height_limit_m, green_ratio_pct
    code_system: str = "osm"  # the land-use code system of ``landuse``
    has_facility_source: bool = True  # False: no POI layer and no OSM file, life circles not assessable
    has_station_source: bool = True  # False: no station layer and no OSM file, 500 m indicators not assessable
    #: input layers with no source at all, by key (roads, buildings, landuse, vegetation, facilities, stations) → why,
    #: in English (e.g. "the OSM file has no building ways and inputs.buildings is not set"); their indicators are NaN
    absent: dict[str, str] = field(default_factory=dict)


def reach_zone(units: gpd.GeoDataFrame, distance_m: float) -> shapely.Geometry:
    """Everything within ``distance_m`` of a unit: the union of the units, buffered (metric CRS)."""
    ensure_projected(units, "units")
    boxes = shapely.union_all(shapely.envelope(units.geometry.to_numpy()))
    return shapely.buffer(boxes, distance_m, quad_segs=2)


def within_zone(zone: shapely.Geometry, geoms: np.ndarray) -> np.ndarray:
    """Boolean per geometry: it touches ``zone`` (features partly inside are kept whole)."""
    geoms = np.asarray(geoms, dtype=object)
    if not len(geoms):
        return np.zeros(0, dtype=bool)
    shapely.prepare(zone)
    ok = ~shapely.is_missing(geoms)
    hit = np.zeros(len(geoms), dtype=bool)
    hit[ok] = shapely.intersects(zone, geoms[ok])
    return hit
