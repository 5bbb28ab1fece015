"""What land-use parcels say about a unit: floor area (FAR), attached green, height limits.

A parcel layer may carry a planned or current gross floor area (or a FAR, floor area = FAR ×
parcel area), a green-space ratio and a height limit. The rules:

- **FAR source.** Where parcels with a floor area cover part of a unit, that part's floor area
  comes from them (a parcel cut by the unit boundary contributes in proportion to its area
  inside); the rest of the unit takes its floor area from the buildings standing on it.
  ``far_source`` says ``parcels``, ``buildings`` or ``parcels+buildings``, and
  ``far_parcel_area_pct`` how much of the unit the parcels with floor area cover.
- **Attached green.** A parcel's green ratio (附属绿地) adds ratio × area of that parcel to the
  unit's green land, for parcels not already of a green class (a park parcel is all green).
- **Height limit.** The highest limit among the parcels in the unit.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ditan.spatial.crs.metric import ensure_projected
from ditan.spatial.engine.allocate import polygon_pieces
from ditan.spatial.indicators.intensity import building_pieces

__all__ = ["parcel_floor_area_m2", "far_with_parcels", "parcel_attributes"]

GREEN_CLASSES = ("park", "green")
#: a unit this much covered by parcels with floor area takes its FAR from them alone
FULL_COVER_PCT = 99.5


def parcel_floor_area_m2(parcels: gpd.GeoDataFrame) -> np.ndarray:
    """Gross floor area of each parcel: ``floor_area_m2``, else ``far`` × parcel area; NaN if neither."""
    ensure_projected(parcels, "parcels")
    n = len(parcels)
    fa = (
        parcels["floor_area_m2"].to_numpy(dtype=float)
        if "floor_area_m2" in parcels
        else np.full(n, np.nan)
    )
    far = parcels["far"].to_numpy(dtype=float) if "far" in parcels else np.full(n, np.nan)
    return np.where(np.isnan(fa), far * parcels.geometry.area.to_numpy(), fa)


def _per_unit(n: int, pieces: pd.DataFrame, values: np.ndarray) -> np.ndarray:
    return np.bincount(pieces["unit"].to_numpy(), weights=values, minlength=n)


def far_with_parcels(
    units: gpd.GeoDataFrame, parcels: gpd.GeoDataFrame, buildings: gpd.GeoDataFrame
) -> pd.DataFrame:
    """floor_area_m2, far_ratio, far_source and far_parcel_area_pct per unit (see the module rules)."""
    ensure_projected(units, "units")
    ensure_projected(buildings, "buildings")
    n = len(units)
    geoms = units.geometry.to_numpy()
    unit_m2 = shapely.area(geoms)
    pfa = parcel_floor_area_m2(parcels)
    has = ~np.isnan(pfa)
    data = parcels.geometry.to_numpy()[has]
    pieces = polygon_pieces(geoms, data)
    share = pieces["area_m2"].to_numpy() / shapely.area(data)[pieces["poly"].to_numpy()]
    fa_parcels = _per_unit(n, pieces, pfa[has][pieces["poly"].to_numpy()] * share)
    rest = shapely.difference(geoms, shapely.union_all(data)) if len(data) else geoms
    cover_pct = (1.0 - shapely.area(rest) / unit_m2) * 100.0
    rest_units = gpd.GeoDataFrame(geometry=rest, crs=units.crs)
    bp = building_pieces(rest_units, buildings)
    fa_buildings = _per_unit(n, bp, bp["floor_area_m2"].to_numpy())
    floor_area = fa_parcels + fa_buildings
    out = pd.DataFrame(index=units.index)
    out["floor_area_m2"] = floor_area
    out["far_ratio"] = floor_area / unit_m2
    out["far_source"] = np.where(
        cover_pct >= FULL_COVER_PCT,
        "parcels",
        np.where(cover_pct > 0, "parcels+buildings", "buildings"),
    )
    out["far_parcel_area_pct"] = np.clip(cover_pct, 0.0, 100.0)
    return out


def parcel_attributes(units: gpd.GeoDataFrame, parcels: gpd.GeoDataFrame) -> pd.DataFrame:
    """attached_green_m2 (from parcels' green ratios) and parcel_height_limit_max_m per unit."""
    ensure_projected(units, "units")
    ensure_projected(parcels, "parcels")
    n = len(units)
    pieces = polygon_pieces(units.geometry.to_numpy(), parcels.geometry.to_numpy())
    p = pieces["poly"].to_numpy()
    out = pd.DataFrame(index=units.index)
    if "green_ratio_pct" in parcels:
        ratio = parcels["green_ratio_pct"].to_numpy(dtype=float)
        not_green = ~parcels["lu_class"].isin(GREEN_CLASSES).to_numpy()
        add = np.nan_to_num(ratio[p]) / 100.0 * pieces["area_m2"].to_numpy() * not_green[p]
        out["attached_green_m2"] = _per_unit(n, pieces, add)
    if "height_limit_m" in parcels:
        h = (
            pd.Series(parcels["height_limit_m"].to_numpy(dtype=float)[p])
            .groupby(pieces["unit"].to_numpy())
            .max()
        )
        out["parcel_height_limit_max_m"] = h.reindex(range(n)).to_numpy()
    return out
