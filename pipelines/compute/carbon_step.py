"""The carbon inventory step of a run: the factors for where the study area lies, then the inventory per unit.

Reads the units, the buildings and their pieces on the units (from the intensity step), the green-coverage
columns (tree cover from a raster, else vegetation polygons) and the population; writes the carbon columns, the
sector table and the roofs, and names what the data cannot give as data gaps (the ledger and the run summary).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pyproj import Transformer

from ditan.pipelines.config.params import CarbonParams
from ditan.spatial.indicators import carbon
from ditan.spatial.io.validate import Ledger
from ditan.spatial.standards import reasons as R
from ditan.spatial.standards.carbon import CarbonFactors, resolve_factors
from ditan.spatial.study_area.model import StudyArea

__all__ = ["carbon_step", "study_area_centre_lonlat", "vegetation_absent"]


def study_area_centre_lonlat(sa: StudyArea) -> tuple[float, float]:
    """The centre of the units' bounding box, in WGS 84 degrees (lon, lat)."""
    x0, y0, x1, y1 = sa.units.total_bounds
    to_wgs = Transformer.from_crs(sa.crs, "EPSG:4326", always_xy=True)
    lon, lat = to_wgs.transform((x0 + x1) / 2.0, (y0 + y1) / 2.0)
    return float(lon), float(lat)


def vegetation_absent(sa: StudyArea, green_part: pd.DataFrame) -> bool:
    """No source of green at all: vegetation absent from the study area (no raster, no polygons).

    Also, as the evidence's ``absent_layers`` has it, a vegetation layer with no feature left in the
    study area and no green land in any unit (read there from the land-use shares; here from the
    green part, which measures the same green land).
    """
    if "vegetation" in sa.absent:
        return True
    return (
        sa.landcover is None
        and sa.vegetation.empty
        and not green_part["green_coverage_pct"].gt(0).any()
    )


def carbon_step(
    sa: StudyArea,
    params: CarbonParams,
    pieces: pd.DataFrame,
    green_part: pd.DataFrame,
    population: np.ndarray,
    *,
    ledger: Ledger,
) -> tuple[carbon.CarbonResult, CarbonFactors, dict[str, R.Reason], list[str]]:
    """The inventory, the factors used, the whole-run reasons by column (for the evidence) and the gap lines."""
    units = sa.units
    factors = resolve_factors(study_area_centre_lonlat(sa), params.overrides)
    area_m2 = units.geometry.area.to_numpy()
    tree_m2 = green_m2 = None
    no_vegetation = vegetation_absent(sa, green_part)
    if "tree_cover_pct" in green_part:
        tree_m2 = green_part["tree_cover_pct"].to_numpy(dtype=float) / 100.0 * area_m2
    elif not no_vegetation:  # vegetation polygons and green land, or a continuous (NDVI) raster
        green_m2 = green_part["green_coverage_pct"].to_numpy(dtype=float) / 100.0 * area_m2
    # else: nothing measured the green, the sink is unknown (NaN with its reason), not 0
    has_buildings = "buildings" not in sa.absent
    res = carbon.carbon_inventory(
        units,
        sa.buildings if has_buildings else None,
        pieces if has_buildings else None,
        factors,
        population=population,
        tree_m2=tree_m2,
        green_m2=green_m2,
        buildings_missing="" if has_buildings else sa.absent["buildings"],
    )
    gaps: dict[str, R.Reason] = {}
    by_reason: dict[tuple[str, str], list[str]] = {}
    # a vegetation layer absent from every source is the run's data gap already (the sink columns need it)
    sink_why = res.reasons.get("carbon_sink_t_per_year") if "vegetation" in sa.absent else None
    for col, why in res.reasons.items():
        if not has_buildings and why[0] == sa.absent["buildings"]:
            continue  # the missing building layer is the run's data gap already (the columns need buildings)
        if why == sink_why:
            continue
        by_reason.setdefault(why, []).append(col)
    lines: list[str] = []
    for (
        en,
        zh,
    ), cols in by_reason.items():  # one line per cause, naming every column it leaves NaN
        reason = R.CARBON_FACTOR.format(why=en, why_zh=zh)
        every = [f"{c}{s}" for c in cols for s in ("", "_low", "_high")]
        gaps.update(dict.fromkeys(every, reason))
        ledger.gap(f"carbon: {en}", en, every)
        lines.append(f"碳盘查 carbon: {zh} / {en} ({', '.join(cols)})")
    return res, factors, gaps, lines
