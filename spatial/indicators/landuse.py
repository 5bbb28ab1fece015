"""Land-use shares per unit, and the green-space ratio (绿地率) from green land.

Overlapping land-use polygons (a park inside a residential area, a pitch on a campus) are
resolved into a planar partition where each face takes the class of the smallest polygon
containing it: the most specific mapping wins. Unit area covered by no polygon is reported as
``lu_unknown_pct``, never folded into another class.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from spatial.crs import ensure_projected
from spatial.indicators.allocate import polygon_pieces
from spatial.landuse.classes import LANDUSE_CLASSES


def landuse_faces(landuse: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Non-overlapping faces, each with the class of the smallest land-use polygon covering it."""
    ensure_projected(landuse, "land use")
    if landuse.empty:
        return gpd.GeoDataFrame({"lu_class": []}, geometry=[], crs=landuse.crs)
    geoms = landuse.geometry.to_numpy()
    rings = shapely.boundary(geoms)
    faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(shapely.union_all(rings)))).ravel()
    faces = faces[shapely.area(faces) > 0]
    probe = shapely.point_on_surface(faces)
    fi, pi = shapely.STRtree(geoms).query(probe, predicate="within")
    area = shapely.area(geoms)
    pick = pd.DataFrame({"face": fi, "poly": pi, "area": area[pi]}).sort_values(["face", "area", "poly"]).drop_duplicates("face")
    cls = landuse["lu_class"].to_numpy()[pick["poly"].to_numpy()]
    out = gpd.GeoDataFrame({"lu_class": cls}, geometry=faces[pick["face"].to_numpy()], crs=landuse.crs)
    return out.dissolve("lu_class", as_index=False)


def landuse_shares(units: gpd.GeoDataFrame, faces: gpd.GeoDataFrame) -> pd.DataFrame:
    """lu_<class>_pct for every class, lu_unknown_pct, industrial_residential_ratio and green_space_ratio_pct."""
    ensure_projected(units, "units")
    ensure_projected(faces, "land-use faces")
    area = units.geometry.area.to_numpy()
    pieces = polygon_pieces(units.geometry.to_numpy(), faces.geometry.to_numpy())
    pieces["cls"] = faces["lu_class"].to_numpy()[pieces["poly"].to_numpy()]
    by = pieces.pivot_table(index="unit", columns="cls", values="area_m2", aggfunc="sum").reindex(
        index=range(len(units)), columns=list(LANDUSE_CLASSES)
    ).fillna(0.0)
    out = pd.DataFrame(index=units.index)
    for c in LANDUSE_CLASSES:
        out[f"lu_{c}_pct"] = by[c].to_numpy() / area * 100.0
    known = by.sum(axis=1).to_numpy()
    out["lu_unknown_pct"] = np.clip((area - known) / area * 100.0, 0.0, 100.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        out["industrial_residential_ratio"] = np.where(
            by["residential"].to_numpy() > 0, by["industrial"].to_numpy() / by["residential"].to_numpy(), np.nan
        )
    out["green_space_ratio_pct"] = out["lu_green_pct"]
    return out
