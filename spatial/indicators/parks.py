"""Park service-radius coverage (公园绿地服务半径覆盖率, 城市体检).

The share of a unit's residential land (居住用地: the residential and community-service
classes) lying within the service radius of a park: 500 m of a park of at least 5,000 m², or
300 m of a park of 2,000–5,000 m² (both configurable). Radii are straight-line distances from
the park's edge, as the official indicator measures them. Parks are the land-use polygons of
class ``park`` (公园绿地); touching or overlapping park polygons are merged before their
size is measured, so a park drawn in pieces counts at its full size. Parks outside a unit
serve it too; parks beyond the edge of the data cannot, so units at the edge of the study
area may be understated. A unit without residential land gets NaN (not assessable).
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from spatial.crs import ensure_projected
from spatial.indicators.allocate import polygon_pieces

RESIDENTIAL_LAND = ("residential", "community_service")


def merged_parks(landuse: gpd.GeoDataFrame) -> np.ndarray:
    """Park polygons of the land-use layer, touching pieces merged into one park each."""
    ensure_projected(landuse, "land use")
    parks = landuse.geometry.to_numpy()[(landuse["lu_class"] == "park").to_numpy()]
    if len(parks) == 0:
        return np.array([], dtype=object)
    return shapely.get_parts(shapely.union_all(parks))


def park_service_coverage(
    units: gpd.GeoDataFrame,
    faces: gpd.GeoDataFrame,
    parks: np.ndarray,
    *,
    large_min_area_m2: float = 5000.0,
    large_radius_m: float = 500.0,
    small_min_area_m2: float = 2000.0,
    small_radius_m: float = 300.0,
) -> pd.DataFrame:
    """park_service_coverage_pct, the counts of parks by size class, and residential_land_m2 per unit.

    ``faces`` is the land-use planar partition (:func:`spatial.indicators.landuse.landuse_faces`);
    ``parks`` the merged park polygons (:func:`merged_parks`), in the same metric CRS.
    """
    ensure_projected(units, "units")
    ensure_projected(faces, "land-use faces")
    n = len(units)
    parks = np.asarray(parks, dtype=object)
    area = shapely.area(parks) if len(parks) else np.array([])
    large = area >= large_min_area_m2
    small = (area >= small_min_area_m2) & ~large
    reach = np.concatenate([shapely.buffer(parks[large], large_radius_m), shapely.buffer(parks[small], small_radius_m)])
    res = faces.geometry.to_numpy()[faces["lu_class"].isin(RESIDENTIAL_LAND).to_numpy()]
    res_land = shapely.union_all(res) if len(res) else shapely.Polygon()
    covered = shapely.intersection(res_land, shapely.union_all(reach)) if len(reach) else shapely.Polygon()
    geoms = units.geometry.to_numpy()

    def per_unit(geom: shapely.Geometry) -> np.ndarray:
        if geom.is_empty:
            return np.zeros(n)
        p = polygon_pieces(geoms, np.array([geom], dtype=object))
        return np.bincount(p["unit"].to_numpy(), weights=p["area_m2"].to_numpy(), minlength=n)

    res_m2 = per_unit(res_land)
    cov_m2 = per_unit(covered)
    out = pd.DataFrame(index=units.index)
    with np.errstate(invalid="ignore", divide="ignore"):
        out["park_service_coverage_pct"] = np.where(res_m2 > 0, np.minimum(cov_m2 / res_m2, 1.0) * 100.0, np.nan)
    out["residential_land_m2"] = res_m2
    in_unit = polygon_pieces(geoms, parks) if len(parks) else pd.DataFrame({"unit": [], "poly": []})
    u, p = in_unit["unit"].to_numpy(dtype=int), in_unit["poly"].to_numpy(dtype=int)
    out["park_large_count"] = np.bincount(u[large[p]], minlength=n) if len(p) else 0
    out["park_small_count"] = np.bincount(u[small[p]], minlength=n) if len(p) else 0
    return out
