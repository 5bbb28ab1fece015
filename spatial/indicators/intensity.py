"""Development intensity: floor-area ratio (容积率) and building density (建筑密度).

Floors come from ``building:levels``; else ``height`` ÷ storey height (default 3 m), rounded
to whole floors (at least 1); else the configured default for the building type. Footprints
are clipped to each unit, so a building across a boundary adds to each unit only the floor
area standing on it.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd

from spatial.crs import ensure_projected
from spatial.indicators.allocate import polygon_pieces

#: plausible floor counts; values outside are treated as unknown (issue a repair, not a number)
MAX_FLOORS = 150
DEFAULT_FLOORS = {"house": 2, "detached": 2, "bungalow": 1, "residential": 6, "apartments": 6,
                  "dormitory": 5, "commercial": 4, "retail": 2, "office": 8, "school": 4,
                  "university": 5, "hospital": 6, "industrial": 2, "warehouse": 1, "garage": 1,
                  "garages": 1, "roof": 1, "kiosk": 1, "_other": 3}  # fmt: skip


def _first_number(raw: pd.Series) -> pd.Series:
    return pd.to_numeric(raw.astype("string").str.extract(r"(-?\d+(?:\.\d+)?)", expand=False), errors="coerce")


def estimate_floors(
    buildings: pd.DataFrame,
    *,
    default_floors: dict[str, float] | None = None,
    storey_height_m: float = 3.0,
) -> pd.DataFrame:
    """Floors and floors_source ('levels', 'height', 'default') for each building.

    Reads ``levels_raw``, ``height_raw`` and ``building`` columns (any may be missing).
    """
    defaults = {**DEFAULT_FLOORS, **(default_floors or {})}
    n = len(buildings)
    levels = _first_number(buildings["levels_raw"]) if "levels_raw" in buildings else pd.Series(np.nan, index=buildings.index)
    height = _first_number(buildings["height_raw"]) if "height_raw" in buildings else pd.Series(np.nan, index=buildings.index)
    levels = levels.where((levels >= 1) & (levels <= MAX_FLOORS))
    by_height = np.maximum(np.round(height / storey_height_m), 1).where((height > 0) & (height <= MAX_FLOORS * storey_height_m))
    btype = buildings["building"].astype(object) if "building" in buildings else pd.Series(["yes"] * n, index=buildings.index)
    by_default = btype.map(defaults).fillna(defaults["_other"]).astype(float)
    floors = levels.fillna(by_height).fillna(by_default)
    source = np.where(levels.notna(), "levels", np.where(by_height.notna(), "height", "default"))
    return pd.DataFrame({"floors": floors.to_numpy(dtype=float), "floors_source": source}, index=buildings.index)


def building_pieces(units: gpd.GeoDataFrame, buildings: gpd.GeoDataFrame) -> pd.DataFrame:
    """(unit position, building position, footprint_m2, floor_area_m2) for each building ∩ unit."""
    ensure_projected(units, "units")
    ensure_projected(buildings, "buildings")
    pieces = polygon_pieces(units.geometry.to_numpy(), buildings.geometry.to_numpy()).rename(
        columns={"poly": "building", "area_m2": "footprint_m2"}
    )
    pieces["floor_area_m2"] = pieces["footprint_m2"] * buildings["floors"].to_numpy()[pieces["building"].to_numpy()]
    return pieces


def intensity(units: gpd.GeoDataFrame, buildings: gpd.GeoDataFrame, pieces: pd.DataFrame | None = None) -> pd.DataFrame:
    """FAR (far_ratio), building density and the share of floor area resting on estimates.

    ``buildings`` needs ``floors`` and ``floors_source`` (see :func:`estimate_floors`).
    """
    ensure_projected(units, "units")
    if pieces is None:
        pieces = building_pieces(units, buildings)
    src = buildings["floors_source"].to_numpy()[pieces["building"].to_numpy()]
    n = len(units)
    u = pieces["unit"].to_numpy()

    def per_unit(values: np.ndarray) -> np.ndarray:
        return np.bincount(u, weights=values, minlength=n)

    area_m2 = units.geometry.area.to_numpy()
    fa = pieces["floor_area_m2"].to_numpy()
    floor_area = per_unit(fa)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = pd.DataFrame(index=units.index)
        out["footprint_area_m2"] = per_unit(pieces["footprint_m2"].to_numpy())
        out["floor_area_m2"] = floor_area
        out["far_ratio"] = floor_area / area_m2
        out["building_density_pct"] = out["footprint_area_m2"].to_numpy() / area_m2 * 100.0
        out["floor_area_estimated_pct"] = np.where(floor_area > 0, per_unit(fa * (src != "levels")) / floor_area * 100.0, np.nan)
        out["floor_area_default_floors_pct"] = np.where(floor_area > 0, per_unit(fa * (src == "default")) / floor_area * 100.0, np.nan)
    return out
