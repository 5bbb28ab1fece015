"""Land-use shares per unit, and the indicators on them: 公共服务用地比例, 产业/居住用地比率, 绿地率, mix.

Overlapping land-use polygons (a park inside a residential area, a pitch on a campus) are
resolved into a planar partition where each face takes the class of the smallest polygon
containing it: the most specific mapping wins. Land of a polygon whose code has no class (unknown,
NULL or empty; class :data:`UNKNOWN_CLASS`) is reported as ``lu_unknown_pct``; unit area covered by
no polygon as ``lu_no_data_pct``; neither is ever folded into another class.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ditan.spatial.crs.metric import ensure_projected
from ditan.spatial.engine.allocate import polygon_pieces
from ditan.spatial.engine.geometry import overlap_groups, partition
from ditan.spatial.landuse.classes import LANDUSE_CLASSES
from ditan.spatial.landuse.codes import community_service_separable

__all__ = [
    "UNKNOWN_CLASS",
    "face_pieces",
    "landuse_faces",
    "landuse_shares",
    "with_unknown_parcels",
]

#: the internal land-use classes of green land (绿地率): park and other green land; squares excluded
GREEN_SPACE_CLASSES = ("park", "green")

#: the class of land-use polygons whose code has no internal class (unknown, NULL or empty): lu_unknown_pct
UNKNOWN_CLASS = "unknown"


def with_unknown_parcels(
    landuse: gpd.GeoDataFrame, parcels: gpd.GeoDataFrame | None
) -> gpd.GeoDataFrame:
    """``landuse`` (classified polygons) plus the parcels whose code has no class, as :data:`UNKNOWN_CLASS`.

    The faces built from the result tell land of an unknown code (lu_unknown_pct) from land no polygon
    covers (lu_no_data_pct); the other consumers of the faces select classes by name, so they ignore it.
    """
    if parcels is None or parcels.empty:
        return landuse
    unknown = parcels[parcels["lu_class"].isna().to_numpy()]
    if unknown.empty:
        return landuse
    extra = gpd.GeoDataFrame(
        {
            "lu_class": UNKNOWN_CLASS,
            "tag": unknown["tag"].to_numpy(),
            "name": unknown["name"].to_numpy() if "name" in unknown else None,
        },
        geometry=unknown.geometry.to_numpy(),
        crs=parcels.crs,
    )
    if landuse.empty:
        return extra
    return gpd.GeoDataFrame(
        pd.concat([landuse[["lu_class", "tag", "name", "geometry"]], extra], ignore_index=True),
        geometry="geometry",
        crs=landuse.crs,
    )


def landuse_faces(landuse: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Non-overlapping faces, each with the class of the smallest land-use polygon covering it.

    Only polygons that overlap another are cut into faces (a planar partition of their group);
    the others are faces as they are, so a city of parcels that tile the land costs one overlap
    test per neighbouring pair. Faces are not dissolved by class: many small faces keep every
    later overlay indexed and fast.
    """
    ensure_projected(landuse, "land use")
    if landuse.empty:
        return gpd.GeoDataFrame({"lu_class": []}, geometry=[], crs=landuse.crs)
    geoms = landuse.geometry.to_numpy()
    cls = landuse["lu_class"].to_numpy()
    group = overlap_groups(geoms)
    alone = np.bincount(group)[group] == 1
    faces_alone, cls_alone = geoms[alone], cls[alone]
    over = np.flatnonzero(~alone)
    if len(over):
        sub = geoms[over]
        faces, fi, pi = partition(sub)
        area = shapely.area(sub)
        pick = (
            pd.DataFrame({"face": fi, "poly": pi, "area": area[pi]})
            .sort_values(["face", "area", "poly"])
            .drop_duplicates("face")
        )
        faces_alone = np.concatenate([faces_alone, faces[pick["face"].to_numpy()]])
        cls_alone = np.concatenate([cls_alone, cls[over][pick["poly"].to_numpy()]])
    return gpd.GeoDataFrame({"lu_class": cls_alone}, geometry=faces_alone, crs=landuse.crs)


def face_pieces(units: gpd.GeoDataFrame, faces: gpd.GeoDataFrame) -> pd.DataFrame:
    """The faces cut by the units: (unit position, face position, area_m2) of each overlap.

    One overlay of a city's land-use faces with its units, for every indicator that needs it
    (:func:`landuse_shares`, :func:`ditan.spatial.indicators.parks.park_service_coverage`).
    """
    return polygon_pieces(units.geometry.to_numpy(), faces.geometry.to_numpy())


def landuse_shares(
    units: gpd.GeoDataFrame,
    faces: gpd.GeoDataFrame,
    *,
    code_system: str = "osm",
    pieces: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Land-use shares and the indicators built on them, one row per unit.

    Columns: ``lu_<class>_pct`` for every internal class, ``lu_unknown_pct`` (faces of a code with no
    class: :data:`UNKNOWN_CLASS`, or any class not among the internal ones) and ``lu_no_data_pct``
    (unit area with no land-use face), each ÷ unit area × 100; ``public_service_pct`` (公共服务用地比例, strict reading:
    public_service only); ``public_service_incl_community_pct`` (public_service + community_service,
    NaN when ``code_system`` cannot tell community-service land apart, see
    ``ditan.spatial.landuse.codes.community_service_separable``); ``industrial_residential_ratio``
    (industrial ÷ residential land area, NaN without residential land); ``green_space_ratio_pct``
    (绿地率: park + green, squares excluded); ``lu_mix_entropy`` (Shannon entropy −Σ p ln p, in nats,
    of the classes' areas over the unit's classified land; NaN without classified land) and
    ``lu_mix_index`` (entropy ÷ ln(number of internal classes), 0–1).

    ``code_system`` names the code system the faces' classes came from; ``pieces``: :func:`face_pieces` of
    these units and faces, when the caller has them.
    """
    ensure_projected(units, "units")
    ensure_projected(faces, "land-use faces")
    separable = community_service_separable(code_system)
    area = units.geometry.area.to_numpy()
    classes = list(LANDUSE_CLASSES)
    pieces = (face_pieces(units, faces) if pieces is None else pieces).copy()
    face_cls = faces["lu_class"].to_numpy(dtype=object)
    face_cls = np.where(pd.Series(face_cls).isin(classes).to_numpy(), face_cls, UNKNOWN_CLASS)
    pieces["cls"] = face_cls[pieces["poly"].to_numpy()]
    by = (
        pieces.pivot_table(index="unit", columns="cls", values="area_m2", aggfunc="sum")
        .reindex(index=range(len(units)), columns=[*classes, UNKNOWN_CLASS])
        .fillna(0.0)
    )
    unknown_m2 = by[UNKNOWN_CLASS].to_numpy(dtype=float)
    m2 = by[classes].to_numpy(dtype=float)
    col = {c: m2[:, i] for i, c in enumerate(classes)}
    out = pd.DataFrame(index=units.index)
    for c in classes:
        out[f"lu_{c}_pct"] = col[c] / area * 100.0
    known = m2.sum(axis=1)
    out["lu_unknown_pct"] = np.clip(unknown_m2 / area * 100.0, 0.0, 100.0)
    out["lu_no_data_pct"] = np.clip((area - known - unknown_m2) / area * 100.0, 0.0, 100.0)
    out["public_service_pct"] = col["public_service"] / area * 100.0
    incl = (col["public_service"] + col["community_service"]) / area * 100.0
    out["public_service_incl_community_pct"] = incl if separable else np.nan
    res = col["residential"]
    with np.errstate(invalid="ignore", divide="ignore"):
        out["industrial_residential_ratio"] = np.where(res > 0, col["industrial"] / res, np.nan)
        p = m2 / known[:, None]
        plogp = np.where(m2 > 0, p * np.log(np.where(m2 > 0, p, 1.0)), 0.0)
    out["green_space_ratio_pct"] = sum(col[c] for c in GREEN_SPACE_CLASSES) / area * 100.0
    entropy = np.where(known > 0, -plogp.sum(axis=1), np.nan)
    out["lu_mix_entropy"] = entropy
    out["lu_mix_index"] = entropy / np.log(len(classes))
    return out
