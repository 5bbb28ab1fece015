"""StudyArea: every layer of one run, in one metric CRS."""

from __future__ import annotations

from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import shapely
from pyproj import CRS

from ditan.spatial.crs.metric import ensure_projected
from ditan.spatial.io.validate import Ledger
from ditan.spatial.standards.catalogue import Catalogue

__all__ = ["RasterInput", "StudyArea", "data_extent", "reach_zone", "within_zone"]


@dataclass
class RasterInput:
    path: str
    vegetation_classes: tuple[int, ...]
    ndvi_threshold: float | None = None
    nodata: float | None = None
    impervious_classes: tuple[int, ...] = (50,)
    tree_classes: tuple[int, ...] = ()  # tree cover (the carbon sink); empty: not measured


@dataclass
class StudyArea:
    """Units and layers of one study area; geometry columns are all in ``crs`` (metres)."""

    crs: CRS
    bounds: shapely.Polygon  # study bounds in the metric CRS
    units: gpd.GeoDataFrame  # index unit_id (str); column name
    roads: gpd.GeoDataFrame  # all highway lines: highway, name
    buildings: gpd.GeoDataFrame  # building, floors, floors_source, residential, name
    landuse: (
        gpd.GeoDataFrame
    )  # lu_class, tag, name (classified polygons: parcels of a known class, or OSM areas)
    vegetation: gpd.GeoDataFrame  # vegetation polygons (green coverage without a raster)
    facilities: gpd.GeoDataFrame  # category, name (one row per feature and category)
    stations: gpd.GeoDataFrame  # kind, name
    catalogue: Catalogue
    ledger: Ledger
    landcover: RasterInput | None = None
    amenities: gpd.GeoDataFrame | None = (
        None  # kind, name: community amenities counted in each unit
    )
    parcels: gpd.GeoDataFrame | None = (
        None  # parcel layer: parcel_id, tag, code, lu_class, floor_area_m2, far, height_limit_m, green_ratio_pct
    )
    code_system: str = "osm"  # the land-use code system of ``landuse``
    has_facility_source: bool = (
        True  # False: no POI layer and no OSM file, life circles not assessable
    )
    has_station_source: bool = (
        True  # False: no station layer and no OSM file, 500 m indicators not assessable
    )
    #: input layers with no source at all, by key (roads, buildings, landuse, vegetation, facilities, stations) → why,
    #: in English (e.g. "the OSM file has no building ways and inputs.buildings is not set"); their indicators are NaN
    absent: dict[str, str] = field(default_factory=dict)
    #: where each input layer has data (layer key → polygon in ``crs``): an OSM file's bounds, or None for a user layer,
    #: whose extent is the convex hull of its features (``data_extent``); a unit outside it is not measured from that
    #: layer (NaN), a unit partly outside is flagged
    extents: dict[str, shapely.Geometry | None] = field(default_factory=dict)
    #: facility categories and station kinds known to be absent (a scenario removed the last one): measured 0, not a gap
    confirmed_absent: frozenset[str] = frozenset()

    def extent(self, key: str) -> shapely.Geometry | None:
        """The extent of layer ``key`` (roads, buildings, landuse) as the data now stand."""
        if key not in self.extents:
            return None
        if self.extents[key] is not None:
            return self.extents[key]
        layer = {
            "roads": self.roads,
            "buildings": self.buildings,
            "landuse": self.parcels if self.parcels is not None else self.landuse,
        }[key]
        return data_extent(layer.geometry.to_numpy())


#: a layer's extent reaches this far beyond its features' convex hull (m), and at least EXTENT_MARGIN_SHARE of its diagonal:
#: a unit is "outside the layer's data" only when it lies clearly beyond it
EXTENT_MARGIN_M = 200.0
EXTENT_MARGIN_SHARE = 0.05


def data_extent(geoms: np.ndarray) -> shapely.Geometry | None:
    """Where a layer has data: the convex hull of its features (qhull on the vertices; no GEOS union), with a margin.

    None without any feature. Features all on one line or point get the margin around them.
    """
    from scipy.spatial import ConvexHull, QhullError

    geoms = np.asarray(geoms, dtype=object)
    xy = (
        shapely.get_coordinates(geoms[~shapely.is_missing(geoms)])
        if len(geoms)
        else np.empty((0, 2))
    )
    if not len(xy):
        return None
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    margin = max(EXTENT_MARGIN_M, EXTENT_MARGIN_SHARE * float(np.hypot(*(hi - lo))))
    try:
        hull = shapely.Polygon(xy[ConvexHull(xy).vertices])
    except (QhullError, ValueError):  # fewer than three points, or all on a line
        hull = shapely.convex_hull(shapely.multipoints(xy))
    return shapely.buffer(hull, margin, quad_segs=4)


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
