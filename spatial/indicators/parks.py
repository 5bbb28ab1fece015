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

from ditan.spatial.crs.metric import ensure_projected
from ditan.spatial.engine.allocate import polygon_pieces
from ditan.spatial.engine.geometry import merge_touching, union_by_group

__all__ = ["merged_parks", "park_service_coverage"]

RESIDENTIAL_LAND = ("residential", "community_service")


def merged_parks(landuse: gpd.GeoDataFrame) -> np.ndarray:
    """Park polygons of the land-use layer, touching pieces merged into one park each."""
    ensure_projected(landuse, "land use")
    parks = landuse.geometry.to_numpy()[(landuse["lu_class"] == "park").to_numpy()]
    if len(parks) == 0:
        return np.array([], dtype=object)
    return merge_touching(parks)


def park_service_coverage(
    units: gpd.GeoDataFrame,
    faces: gpd.GeoDataFrame,
    parks: np.ndarray,
    *,
    large_min_area_m2: float = 5000.0,
    large_radius_m: float = 500.0,
    small_min_area_m2: float = 2000.0,
    small_radius_m: float = 300.0,
    face_pieces: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """park_service_coverage_pct, the counts of parks by size class, and residential_land_m2 per unit.

    ``faces`` is the land-use planar partition (:func:`ditan.spatial.indicators.landuse.landuse_faces`);
    ``parks`` the merged park polygons (:func:`merged_parks`), in the same metric CRS; ``face_pieces``: the
    faces cut by the units (:func:`ditan.spatial.indicators.landuse.face_pieces`), when the caller has them.
    """
    ensure_projected(units, "units")
    ensure_projected(faces, "land-use faces")
    n = len(units)
    parks = np.asarray(parks, dtype=object)
    area = shapely.area(parks) if len(parks) else np.array([])
    large = area >= large_min_area_m2
    small = (area >= small_min_area_m2) & ~large
    reach = np.concatenate(
        [shapely.buffer(parks[large], large_radius_m), shapely.buffer(parks[small], small_radius_m)]
    )
    is_res = faces["lu_class"].isin(RESIDENTIAL_LAND).to_numpy()
    res = faces.geometry.to_numpy()[is_res]  # faces do not overlap
    geoms = units.geometry.to_numpy()
    if face_pieces is not None:  # the residential faces' pieces, numbered as in ``res``
        poly = face_pieces["poly"].to_numpy()
        mine = is_res[poly]
        unit = face_pieces["unit"].to_numpy()[mine]
        face = (np.cumsum(is_res) - 1)[poly[mine]]
        face_m2 = face_pieces["area_m2"].to_numpy()[mine]
    else:
        pieces = (
            polygon_pieces(geoms, res)
            if len(res)
            else pd.DataFrame({"unit": np.zeros(0, int), "poly": np.zeros(0, int), "area_m2": []})
        )
        unit, face, face_m2 = (pieces[k].to_numpy() for k in ("unit", "poly", "area_m2"))
    res_m2 = np.bincount(unit, weights=face_m2, minlength=n)
    # a residential face within one park's reach is covered whole: its pieces count as they are (no overlay);
    # the rest is cut by the reach of each park it touches, and the cuts of each face are unioned, so that
    # each piece of residential land is counted once
    whole = np.zeros(len(res), dtype=bool)
    cov_m2 = np.zeros(n)
    if len(reach) and len(res):
        # reach contains face (as face within reach), with each reach polygon tested against its faces
        whole[np.unique(shapely.STRtree(res).query(reach, predicate="contains")[1])] = True
        cov_m2 += np.bincount(unit[whole[face]], weights=face_m2[whole[face]], minlength=n)
        rest = res[~whole]
        fi, bi = shapely.STRtree(reach).query(rest, predicate="intersects")
        if len(fi):
            covered = union_by_group(shapely.intersection(rest[fi], reach[bi]), fi)
            cut = polygon_pieces(geoms, covered)
            cov_m2 += np.bincount(
                cut["unit"].to_numpy(), weights=cut["area_m2"].to_numpy(), minlength=n
            )
    out = pd.DataFrame(index=units.index)
    with np.errstate(invalid="ignore", divide="ignore"):
        out["park_service_coverage_pct"] = np.where(
            res_m2 > 0, np.minimum(cov_m2 / res_m2, 1.0) * 100.0, np.nan
        )
    out["residential_land_m2"] = res_m2
    in_unit = polygon_pieces(geoms, parks) if len(parks) else pd.DataFrame({"unit": [], "poly": []})
    u, p = in_unit["unit"].to_numpy(dtype=int), in_unit["poly"].to_numpy(dtype=int)
    out["park_large_count"] = np.bincount(u[large[p]], minlength=n) if len(p) else 0
    out["park_small_count"] = np.bincount(u[small[p]], minlength=n) if len(p) else 0
    return out
