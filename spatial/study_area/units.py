"""Analysis units derived from the road network, and their names.

When no community boundaries are given, units are the blocks enclosed by roads of tertiary
class and above (with the study bounds closing the outer blocks); blocks over ``max_area_m2``
are subdivided by the next road tier. Blocks under ``min_area_m2``
and strips narrower than ``min_width_m`` (the medians between divided carriageways, slip-road
islands) are dropped. Each unit is named after the most specific (smallest) named area covering at least
``name_share`` of it (a residential compound, a campus), else after its two longest bounding
roads, else "街区 U0xx".
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ditan.spatial.crs.metric import ensure_projected
from ditan.spatial.engine.allocate import polygon_pieces

__all__ = ["derive_units", "name_units"]

BLOCK_HIGHWAYS = ("motorway", "motorway_link", "trunk", "trunk_link", "primary", "primary_link",
                  "secondary", "secondary_link", "tertiary", "tertiary_link")  # fmt: skip


SUBDIVIDE_HIGHWAYS = ("residential", "unclassified", "living_street")


def derive_units(
    roads: gpd.GeoDataFrame,
    bounds: shapely.Polygon,
    *,
    highways: tuple[str, ...] = BLOCK_HIGHWAYS,
    min_area_m2: float = 20_000.0,
    min_width_m: float = 30.0,
    max_area_m2: float = 1_000_000.0,
    subdivide_highways: tuple[str, ...] = SUBDIVIDE_HIGHWAYS,
) -> gpd.GeoDataFrame:
    """Blocks enclosed by the given road classes inside ``bounds`` (metric CRS), largest first.

    A block larger than ``max_area_m2`` (a campus, a large estate) is subdivided by the next
    tier of roads inside it — ``subdivide_highways`` and named service roads (the main roads
    of campuses and estates); it stays whole if that yields fewer than two blocks.
    """
    ensure_projected(roads, "roads")
    geoms = roads.geometry.to_numpy()
    hw = roads["highway"]
    faces = _blocks(geoms[hw.isin(highways).to_numpy()], bounds, min_area_m2, min_width_m)
    named_service = (hw == "service") & (roads["name"].notna() if "name" in roads else False)
    minor = geoms[(hw.isin(subdivide_highways) | named_service).to_numpy()]
    out: list = []
    for face in faces:  # only the few oversized blocks are subdivided
        parts: np.ndarray | list = []
        if shapely.area(face) > max_area_m2:
            parts = _blocks(minor, face, min_area_m2, min_width_m)
        out.extend(parts if len(parts) >= 2 else [face])
    faces = np.array(out, dtype=object)
    faces = faces[np.argsort(-shapely.area(faces), kind="stable")]
    ids = [f"U{i + 1:03d}" for i in range(len(faces))]
    return gpd.GeoDataFrame({"unit_id": ids}, geometry=faces, crs=roads.crs)


def _blocks(
    lines: np.ndarray, frame: shapely.Polygon, min_area_m2: float, min_width_m: float
) -> np.ndarray:
    """Faces of ``lines`` inside ``frame``, without slivers (too small or too narrow)."""
    lines = shapely.intersection(lines, frame)
    noded = shapely.union_all(np.concatenate([lines, shapely.get_parts(shapely.boundary(frame))]))
    faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(noded))).ravel()
    faces = faces[shapely.within(shapely.point_on_surface(faces), frame)]
    # a strip exactly min_width_m wide is kept: only narrower ones vanish under the inward buffer
    wide = (
        ~shapely.is_empty(shapely.buffer(faces, -(min_width_m / 2.0 - 1e-3)))
        if min_width_m > 0
        else np.ones(len(faces), bool)
    )
    return faces[(shapely.area(faces) >= min_area_m2) & wide]


def name_units(
    units: gpd.GeoDataFrame,
    named_areas: gpd.GeoDataFrame,
    roads: gpd.GeoDataFrame,
    *,
    name_share: float = 0.3,
) -> pd.Series:
    """A unique name per unit taken from the data where one exists, else generated.

    The most specific (smallest) named area covering at least ``name_share`` of the unit gives
    the name; else the two longest named roads along its edge ("成府路、荷清路围合街区"); else
    "街区 U001". Units that would share a name get their bounding roads, then their id, added.
    """
    ensure_projected(units, "units")
    ugeoms = units.geometry.to_numpy()
    ids = units["unit_id"].to_numpy() if "unit_id" in units else units.index.to_numpy()
    area_name = _area_names(ugeoms, named_areas, name_share)
    road_name = _road_names(ugeoms, roads)
    names = area_name.copy()
    no_area = names.isna()
    names[no_area] = road_name[no_area] + "围合街区"
    names[names.isna()] = ["街区 " + str(u) for u in ids[names.isna().to_numpy()]]
    dup = names.duplicated(keep=False) & area_name.notna() & road_name.notna()
    names[dup] = area_name[dup] + "（" + road_name[dup] + "）"
    dup = names.duplicated(keep=False).to_numpy()
    names[dup] = [f"{nm}（{u}）" for nm, u in zip(names[dup], ids[dup], strict=True)]
    names.index = units.index
    return names


def _area_names(ugeoms: np.ndarray, named_areas: gpd.GeoDataFrame, name_share: float) -> pd.Series:
    names = pd.Series([None] * len(ugeoms), dtype=object)
    if len(named_areas):
        p = polygon_pieces(ugeoms, named_areas.geometry.to_numpy())
        p["share"] = p["area_m2"] / shapely.area(ugeoms)[p["unit"].to_numpy()]
        p["own"] = shapely.area(named_areas.geometry.to_numpy())[p["poly"].to_numpy()]
        p = p[p["share"] >= name_share].sort_values(["unit", "own", "poly"]).drop_duplicates("unit")
        names.iloc[p["unit"].to_numpy()] = named_areas["name"].to_numpy()[p["poly"].to_numpy()]
    return names


def _road_names(ugeoms: np.ndarray, roads: gpd.GeoDataFrame, *, reach_m: float = 15.0) -> pd.Series:
    names = pd.Series([None] * len(ugeoms), dtype=object)
    named = roads[roads["name"].notna()] if "name" in roads else roads.iloc[:0]
    if not len(named):
        return names
    rings = shapely.buffer(shapely.boundary(ugeoms), reach_m)
    ri, ui = shapely.STRtree(rings).query(named.geometry.to_numpy(), predicate="intersects")
    length = shapely.length(shapely.intersection(named.geometry.to_numpy()[ri], rings[ui]))
    df = pd.DataFrame({"unit": ui, "road": named["name"].to_numpy()[ri], "len": length})
    df = df.groupby(["unit", "road"], as_index=False)["len"].sum()
    df = df[df["len"] >= 2 * reach_m].sort_values(
        ["unit", "len", "road"], ascending=[True, False, True]
    )
    top = df.groupby("unit").head(2).groupby("unit")["road"].agg(lambda r: "、".join(sorted(r)))
    names.iloc[top.index.to_numpy()] = top.to_numpy()
    return names
