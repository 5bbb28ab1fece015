"""5/10/15-minute life circles (GB 50180-2018) over the walking network.

For every residential origin, the walking distance to the nearest facility of each category
comes from one multi-source Dijkstra per category group (ditan.spatial.engine.network). A unit's coverage of
a category is the share of its residential floor area within that category's tier distance
(300 / 500 / 1000 m by default); a tier's "all" coverage requires every category of the tier.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ditan.spatial.engine.origins import Origins
from ditan.spatial.standards import columns
from ditan.spatial.standards.catalogue import Catalogue

__all__ = ["life_circle_coverage"]


def life_circle_coverage(
    n_units: int,
    origins: Origins,
    distances: pd.DataFrame,
    catalogue: Catalogue,
    *,
    index: pd.Index,
    assessed: set[str] | None = None,
) -> pd.DataFrame:
    """Per unit: lc_<category>_pct, and per tier lc_<tier>_all_pct, lc_<tier>_score_pct, the categories assessed; lc_basis.

    ``distances``: one row per origin, one column per category id (metres, inf = not reached).
    ``assessed``: the categories that have data (a facility somewhere in the study area, or confirmed
    absent); the others are data gaps, left out of the score (their own and the tier's "all" columns
    are set to NaN by :mod:`ditan.spatial.standards.evidence`). Default: every category.

    The score is the weighted mean, over the tier's assessed categories, of the share of homes within
    reach of one: Σ_o w_o (k_o / K) / Σ_o w_o with k_o of the K categories reached from origin o, which
    equals the mean of the categories' shares.
    """
    assessed = set(catalogue.categories) if assessed is None else set(assessed)
    out = pd.DataFrame(index=index)
    tier_ok = {t: np.ones(len(distances), dtype=bool) for t in catalogue.tiers}
    tier_cols: dict[str, list[str]] = {t: [] for t in catalogue.tiers}
    for cid, cat in catalogue.categories.items():
        within = distances[cid].to_numpy() <= catalogue.tiers[cat.tier].distance_m
        out[columns.lc_category(cid)] = origins.share(within, n_units)
        tier_ok[cat.tier] &= within
        if cid in assessed:
            tier_cols[cat.tier].append(columns.lc_category(cid))
    for tid in catalogue.tiers:
        out[columns.lc_all(tid)] = origins.share(tier_ok[tid], n_units)
        cols = tier_cols[tid]
        out[columns.lc_score(tid)] = out[cols].mean(axis=1, skipna=False) if cols else np.nan
        out[columns.lc_assessed(tid)] = float(len(cols))
        out[columns.lc_categories_total(tid)] = float(
            sum(c.tier == tid for c in catalogue.categories.values())
        )
    out["lc_basis"] = origins.basis.to_numpy()
    return out
