"""Community amenities counted inside each unit: canteens, second-hand exchanges (present or not).

A point on the boundary shared by k units counts 1/k to each (ditan.spatial.engine.allocate).
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd

from ditan.spatial.crs.metric import ensure_projected
from ditan.spatial.engine.allocate import point_units

__all__ = ["amenity_counts"]


def amenity_counts(
    units: gpd.GeoDataFrame, amenities: gpd.GeoDataFrame, kinds: list[str]
) -> pd.DataFrame:
    """<kind>_count per unit for every kind in ``kinds`` (0 where none)."""
    ensure_projected(units, "units")
    ensure_projected(amenities, "community amenities")
    out = pd.DataFrame(index=units.index)
    for kind in kinds:
        sub = amenities[amenities["kind"] == kind] if len(amenities) else amenities
        alloc = point_units(units.geometry.to_numpy(), sub.geometry.to_numpy())
        out[f"{kind}_count"] = np.bincount(
            alloc["unit"].to_numpy(), weights=alloc["weight"].to_numpy(), minlength=len(units)
        )
    return out
