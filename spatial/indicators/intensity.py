"""Development intensity: floor-area ratio (容积率) and building density (建筑密度).

Floors come from ``building:levels``; else ``height`` ÷ storey height (default 3 m), rounded
to whole floors (at least 1); else the configured default for the building type. Footprints
are clipped to each unit, so a building across a boundary adds to each unit only the floor
area standing on it.

Overlapping footprints (a tower drawn over its podium, the same building from two sources) are
never summed. Footprints that overlap by more than ``OVERLAP_TOL_M2`` are resolved into a planar
partition: every face where footprints overlap counts once in the footprint area (building
density = union of footprints ÷ land), and its floor area is face area × the *maximum* floors
among the footprints covering it — a tower drawn over its podium stands from the ground, and the
podium's floors under it are not added again. The face takes its ``floors_source`` and
``residential`` flag from the footprint that gave the maximum (ties: floors from levels before
height before default, then residential, then the first building). Footprints that merely touch
(a shared wall) and buildings overlapping nothing are untouched.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ditan.spatial.crs.metric import ensure_projected
from ditan.spatial.engine.allocate import polygon_pieces
from ditan.spatial.engine.geometry import partition

__all__ = ["estimate_floors", "resolve_overlaps", "building_pieces", "intensity", "housing_heights"]

#: plausible floor counts; values outside are treated as unknown (issue a repair, not a number)
MAX_FLOORS = 150
DEFAULT_FLOORS = {"house": 2, "detached": 2, "bungalow": 1, "residential": 6, "apartments": 6,
                  "dormitory": 5, "commercial": 4, "retail": 2, "office": 8, "school": 4,
                  "university": 5, "hospital": 6, "industrial": 2, "warehouse": 1, "garage": 1,
                  "garages": 1, "roof": 1, "kiosk": 1, "_other": 3}  # fmt: skip
#: intersection area (m²) at or below which two footprints merely touch (a shared wall, digitising noise)
OVERLAP_TOL_M2 = 0.01
#: tie-break among footprints of equal floors: the better-founded floor count wins
_SOURCE_RANK = {"levels": 0, "height": 1, "default": 2}


def _first_number(raw: pd.Series) -> pd.Series:
    """The first number written in each value (``"12层"`` → 12.0), as plain float64 (NaN: none).

    A float64 or integer column is taken as it is, except the values whose text is not a plain
    decimal (infinities, and numbers Python writes in scientific notation: |x| ≥ 1e16 or < 1e-4),
    which are read as text like any other value, so that the result is the same as reading the text
    of all (narrower floats are read as text: their text is their shortest decimal, not their value).
    """
    dtype = getattr(raw.dtype, "numpy_dtype", raw.dtype)  # pandas' nullable Int64, Float64
    if isinstance(dtype, np.dtype) and (dtype == np.float64 or dtype.kind in "iu"):
        number = raw.to_numpy(dtype=float, na_value=np.nan, copy=True)
        size = np.abs(number)
        odd = np.isinf(number) | (size >= 1e16) | ((size > 0) & (size < 1e-4))
        if odd.any():
            number[odd] = _first_number_in_text(raw[odd]).to_numpy()
        return pd.Series(number, index=raw.index)
    return _first_number_in_text(raw)


def _first_number_in_text(raw: pd.Series) -> pd.Series:
    number = pd.to_numeric(
        raw.astype("string").str.extract(r"(-?\d+(?:\.\d+)?)", expand=False), errors="coerce"
    )
    return pd.Series(
        number.to_numpy(dtype=float, na_value=np.nan), index=raw.index
    )  # plain float64, like the stand-ins


def estimate_floors(
    buildings: pd.DataFrame,
    *,
    default_floors: dict[str, float] | None = None,
    storey_height_m: float = 3.0,
) -> pd.DataFrame:
    """Floors, floors_source ('levels', 'height', 'default') and floors_implausible for each building.

    Reads ``levels_raw``, ``height_raw`` and ``building`` columns (any may be missing). Floor counts
    outside 1–``MAX_FLOORS`` and heights outside (0, ``MAX_FLOORS`` × storey height] are not used (the
    building falls back to its height, then to the type default); ``floors_implausible`` marks the
    buildings where such a value was given and ignored, so the loader can count them.
    """
    defaults = {**DEFAULT_FLOORS, **(default_floors or {})}
    n = len(buildings)
    levels = (
        _first_number(buildings["levels_raw"])
        if "levels_raw" in buildings
        else pd.Series(np.nan, index=buildings.index)
    )
    height = (
        _first_number(buildings["height_raw"])
        if "height_raw" in buildings
        else pd.Series(np.nan, index=buildings.index)
    )
    ok_levels = (levels >= 1) & (levels <= MAX_FLOORS)
    ok_height = (height > 0) & (height <= MAX_FLOORS * storey_height_m)
    implausible = (levels.notna() & ~ok_levels) | (height.notna() & ~ok_height)
    levels = levels.where(ok_levels)
    by_height = np.maximum(np.round(height / storey_height_m), 1).where(ok_height)
    btype = (
        buildings["building"].astype(object)
        if "building" in buildings
        else pd.Series(["yes"] * n, index=buildings.index)
    )
    by_default = btype.map(defaults).fillna(defaults["_other"]).astype(float)
    floors = levels.fillna(by_height).fillna(by_default)
    source = np.where(levels.notna(), "levels", np.where(by_height.notna(), "height", "default"))
    return pd.DataFrame(
        {
            "floors": floors.to_numpy(dtype=float),
            "floors_source": source,
            "floors_implausible": implausible.to_numpy(dtype=bool),
        },
        index=buildings.index,
    )


def _overlapping(geoms: np.ndarray) -> tuple[np.ndarray, int]:
    """Positions of footprints overlapping another by more than OVERLAP_TOL_M2, and the number of such pairs."""
    a, b = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    keep = a < b
    a, b = a[keep], b[keep]
    keep = ~shapely.touches(
        geoms[a], geoms[b]
    )  # most neighbours share a wall: cheaper to test than to intersect
    a, b = a[keep], b[keep]
    ov = shapely.area(shapely.intersection(geoms[a], geoms[b])) > OVERLAP_TOL_M2
    return np.unique(np.concatenate([a[ov], b[ov]])), int(ov.sum())


def resolve_overlaps(buildings: gpd.GeoDataFrame) -> tuple[gpd.GeoDataFrame, dict]:
    """Non-overlapping "resolved footprints" and overlap statistics (the rule is in the module docstring).

    ``buildings`` needs ``floors``; ``floors_source`` and ``residential`` are carried when present.
    Returns a GeoDataFrame (same CRS, fresh index) with ``floors``, [``floors_source``],
    [``residential``], ``source_building`` (position in ``buildings`` of the footprint giving the
    floors) and geometry — buildings overlapping nothing as they are, the others as partition faces —
    and ``{"overlapping_buildings", "overlap_pairs", "overlap_area_m2"}`` where ``overlap_area_m2`` is
    the summed area of the footprints minus the area of their union.
    """
    ensure_projected(buildings, "buildings")
    geoms = buildings.geometry.to_numpy()
    attrs = [c for c in ("floors", "floors_source", "residential") if c in buildings]
    involved, n_pairs = _overlapping(geoms) if len(geoms) else (np.empty(0, dtype=np.int64), 0)
    alone = np.setdiff1d(np.arange(len(geoms)), involved)
    face_geoms, face_src = np.empty(0, dtype=object), np.empty(0, dtype=np.int64)
    if len(involved):
        # a face lies inside or outside each footprint; faces inside none (courtyards) are dropped
        faces, fi, si = partition(geoms[involved])
        bi = involved[si]
        cand = pd.DataFrame(
            {"face": fi, "floors": -buildings["floors"].to_numpy(dtype=float)[bi], "building": bi}
        )
        order = ["face", "floors"]
        if "floors_source" in buildings:
            rank = pd.Series(buildings["floors_source"].to_numpy()[bi]).map(_SOURCE_RANK)
            cand["rank"] = rank.fillna(len(_SOURCE_RANK)).to_numpy()
            order.append("rank")
        if "residential" in buildings:
            cand["nonres"] = ~buildings["residential"].to_numpy(dtype=bool)[bi]
            order.append("nonres")
        pick = cand.sort_values([*order, "building"]).drop_duplicates("face")
        face_geoms, face_src = faces[pick["face"].to_numpy()], pick["building"].to_numpy()
    src = np.concatenate([alone, face_src])
    geom = np.concatenate([geoms[alone], face_geoms])
    by_src = np.argsort(src, kind="stable")
    src, geom = src[by_src], geom[by_src]
    cols = {c: buildings[c].to_numpy()[src] for c in attrs} | {"source_building": src}
    out = gpd.GeoDataFrame(cols, geometry=geom, crs=buildings.crs)
    stats = {
        "overlapping_buildings": len(involved),
        "overlap_pairs": n_pairs,
        "overlap_area_m2": float(
            shapely.area(geoms[involved]).sum() - shapely.area(face_geoms).sum()
        ),
    }
    return out, stats


def building_pieces(
    units: gpd.GeoDataFrame, buildings: gpd.GeoDataFrame, *, resolve: bool = True
) -> pd.DataFrame:
    """(unit position, building position, footprint_m2, floor_area_m2) for each building ∩ unit.

    With ``resolve`` (the default) overlapping footprints are first resolved (:func:`resolve_overlaps`)
    and each face is attributed to the building that gave its floors; ``resolve=False`` sums
    footprints as drawn. One row per (unit, building).
    """
    ensure_projected(units, "units")
    ensure_projected(buildings, "buildings")
    if resolve:
        fp, _ = resolve_overlaps(buildings)
        src = fp["source_building"].to_numpy()
    else:
        fp, src = buildings, np.arange(len(buildings))
    pieces = polygon_pieces(units.geometry.to_numpy(), fp.geometry.to_numpy())
    poly = pieces["poly"].to_numpy()
    pieces = pd.DataFrame(
        {
            "unit": pieces["unit"].to_numpy(),
            "building": src[poly],
            "footprint_m2": pieces["area_m2"].to_numpy(),
            "floor_area_m2": pieces["area_m2"].to_numpy()
            * fp["floors"].to_numpy(dtype=float)[poly],
        }
    )
    return pieces.groupby(["unit", "building"], as_index=False, sort=True).sum()


def _overlap_per_unit(
    units: gpd.GeoDataFrame, buildings: gpd.GeoDataFrame, pieces: pd.DataFrame
) -> np.ndarray:
    """Footprint area drawn on each unit but not counted in ``pieces`` (overlaps resolved away).

    Faces lie inside their source building, so a building whose pieces add up to its whole area
    is counted exactly as drawn; only the others (overlapped, or reaching outside the units) are clipped again.
    """
    geoms = buildings.geometry.to_numpy()
    b = pieces["building"].to_numpy()
    fp = pieces["footprint_m2"].to_numpy()
    area = shapely.area(geoms)
    short = np.flatnonzero(
        np.bincount(b, weights=fp, minlength=len(geoms)) < area * (1 - 1e-9) - 1e-6
    )
    drawn = polygon_pieces(units.geometry.to_numpy(), geoms[short])
    n = len(units)
    drawn_m2 = np.bincount(
        drawn["unit"].to_numpy(), weights=drawn["area_m2"].to_numpy(), minlength=n
    )
    mine = np.isin(b, short)
    counted_m2 = np.bincount(pieces["unit"].to_numpy()[mine], weights=fp[mine], minlength=n)
    return np.maximum(drawn_m2 - counted_m2, 0.0)


def intensity(
    units: gpd.GeoDataFrame, buildings: gpd.GeoDataFrame, pieces: pd.DataFrame | None = None
) -> pd.DataFrame:
    """FAR (far_ratio), building density and the share of floor area resting on estimates.

    ``buildings`` needs ``floors`` and ``floors_source`` (see :func:`estimate_floors`). Overlapping
    footprints count once (see :func:`building_pieces`); ``footprint_overlap_m2`` is the footprint
    area they would have added had they been summed as drawn.
    """
    ensure_projected(units, "units")
    ensure_projected(buildings, "buildings")
    if pieces is None:
        pieces = building_pieces(units, buildings)
    src = buildings["floors_source"].to_numpy()[pieces["building"].to_numpy()]
    n = len(units)
    u = pieces["unit"].to_numpy()

    def per_unit(values: np.ndarray) -> np.ndarray:
        return np.bincount(u, weights=values, minlength=n).astype(
            float
        )  # float also without any building (bincount: int)

    area_m2 = units.geometry.area.to_numpy()
    fa = pieces["floor_area_m2"].to_numpy()
    floor_area = per_unit(fa)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = pd.DataFrame(index=units.index)
        out["footprint_area_m2"] = per_unit(pieces["footprint_m2"].to_numpy())
        out["footprint_overlap_m2"] = _overlap_per_unit(units, buildings, pieces)
        out["floor_area_m2"] = floor_area
        out["far_ratio"] = floor_area / area_m2
        out["building_density_pct"] = out["footprint_area_m2"].to_numpy() / area_m2 * 100.0
        out["floor_area_estimated_pct"] = np.where(
            floor_area > 0, per_unit(fa * (src != "levels")) / floor_area * 100.0, np.nan
        )
        out["floor_area_default_floors_pct"] = np.where(
            floor_area > 0, per_unit(fa * (src == "default")) / floor_area * 100.0, np.nan
        )
    return out


def housing_heights(
    units: gpd.GeoDataFrame,
    buildings: gpd.GeoDataFrame,
    pieces: pd.DataFrame,
    *,
    low_rise_floors: int = 6,
) -> pd.DataFrame:
    """max_floors (tallest building standing on the unit) and housing_low_rise_pct.

    housing_low_rise_pct: residential floor area in buildings of at most ``low_rise_floors`` floors
    ÷ all residential floor area (重庆: ≤ 6-floor housing ≥ 70 %); NaN without housing.
    ``pieces`` from :func:`building_pieces`; ``buildings`` needs ``floors`` and ``residential``.
    """
    ensure_projected(units, "units")
    n = len(units)
    b = pieces["building"].to_numpy()
    u = pieces["unit"].to_numpy()
    floors = buildings["floors"].to_numpy(dtype=float)[b]
    top = pd.Series(floors).groupby(u).max().reindex(range(n)).fillna(0.0).to_numpy()
    res = (
        buildings["residential"].to_numpy(dtype=bool)[b]
        if "residential" in buildings
        else np.zeros(len(b), dtype=bool)
    )
    fa = pieces["floor_area_m2"].to_numpy()
    housing = np.bincount(u, weights=fa * res, minlength=n)
    low = np.bincount(u, weights=fa * res * (floors <= low_rise_floors), minlength=n)
    out = pd.DataFrame(index=units.index)
    out["max_floors"] = top
    with np.errstate(invalid="ignore", divide="ignore"):
        out["housing_low_rise_pct"] = np.where(housing > 0, low / housing * 100.0, np.nan)
    return out
