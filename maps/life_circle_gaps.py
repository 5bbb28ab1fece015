"""The life circle's gaps on the map: residential buildings from which some category of a tier is out of reach."""

from __future__ import annotations

from collections.abc import Sequence

import geopandas as gpd
import numpy as np
import pandas as pd

from ditan.spatial.standards.catalogue import Catalogue

__all__ = ["coverage_gaps"]


def coverage_gaps(
    buildings: gpd.GeoDataFrame,
    distances: pd.DataFrame,
    catalogue: Catalogue,
    *,
    tier: str | None = None,
    data_gaps: Sequence[str] = (),
) -> gpd.GeoDataFrame:
    """Residential buildings from which some category of the life-circle ``tier`` (default: the widest) is out of reach.

    The complement of ``lc_<tier>_all_pct``: beyond the tier's walking distance on the network.
    ``distances`` is ``RunResult.origin_distances`` of building origins (row i is building i).
    Columns: missing (categories out of reach, in Chinese), n_missing, building, floors; ``attrs["tier"]``.
    Categories in ``data_gaps`` (no facility in any source) are not counted: their absence is not measured.
    """
    tier = tier or max(catalogue.tiers, key=lambda t: catalogue.tiers[t].distance_m)
    cats = [
        c
        for c in catalogue.categories.values()
        if c.tier == tier and c.id in distances.columns and c.id not in data_gaps
    ]
    if len(distances) < len(buildings):
        raise ValueError(
            "origin distances do not start with one row per building; coverage gaps need building origins"
        )
    d = distances.iloc[: len(buildings)]
    reach = catalogue.tiers[tier].distance_m
    out = np.column_stack(
        [~(d[c.id].to_numpy(dtype=float) <= reach) for c in cats] or [np.zeros(len(d), bool)]
    )
    gap = (
        buildings["residential"].eq(True).to_numpy() & out.any(axis=1)
        if "residential" in buildings
        else np.zeros(len(d), bool)
    )
    keep = [c for c in ("building", "floors") if c in buildings.columns]
    g = gpd.GeoDataFrame(
        buildings.loc[gap, keep], geometry=buildings.geometry[gap].to_numpy(), crs=buildings.crs
    )
    rows = out[gap]
    # one text per pattern of categories out of reach, not one per building
    key = np.packbits(rows, axis=1, bitorder="little")  # a row's pattern as bytes
    key = np.ascontiguousarray(key).view(f"V{key.shape[1]}").reshape(-1)
    _, first, which = np.unique(key, return_index=True, return_inverse=True)
    texts = np.array(
        ["、".join(c.zh for c, o in zip(cats, rows[i], strict=True) if o) for i in first],
        dtype=object,
    )
    g["missing"] = texts[which.reshape(-1)] if len(rows) else np.array([], dtype=object)
    g["n_missing"] = rows.sum(axis=1)
    g.attrs["tier"] = tier
    return g
