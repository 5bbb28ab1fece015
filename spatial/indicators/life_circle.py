"""5/10/15-minute life circles (GB 50180-2018) over the walking network.

For every residential origin, the walking distance to the nearest facility of each category
comes from one multi-source Dijkstra per category group (spatial.network). A unit's coverage of
a category is the share of its residential floor area within that category's tier distance
(300 / 500 / 1000 m by default); a tier's "all" coverage requires every category of the tier.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from spatial.catalogue import Catalogue
from spatial.indicators.origins import Origins


def life_circle_coverage(n_units: int, origins: Origins, distances: pd.DataFrame, catalogue: Catalogue, *, index: pd.Index) -> pd.DataFrame:
    """lc_<category>_pct for each category, lc_<tier>_all_pct for each tier, and lc_basis.

    ``distances``: one row per origin, one column per category id (metres, inf = not reached).
    """
    out = pd.DataFrame(index=index)
    tier_ok = {t: np.ones(len(distances), dtype=bool) for t in catalogue.tiers}
    for cid, cat in catalogue.categories.items():
        within = distances[cid].to_numpy() <= catalogue.tiers[cat.tier].distance_m
        out[f"lc_{cid}_pct"] = origins.share(within, n_units)
        tier_ok[cat.tier] &= within
    for tid in catalogue.tiers:
        out[f"lc_{tid}_all_pct"] = origins.share(tier_ok[tid], n_units)
    out["lc_basis"] = origins.basis.to_numpy()
    return out
