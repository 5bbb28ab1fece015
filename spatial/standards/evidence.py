"""What each value rests on: NaN with a reason where the data behind it is absent, never 0.

Every indicator declares what it needs in the registry (``needs:`` in spatial/standards/indicators.yaml):
a layer (roads, buildings, land use, vegetation, the raster, parcels, population, facilities, stations),
or residents in the unit. :func:`apply_evidence` sets a column to NaN for the units where a need is not
met and records why in the long reasons table, in this order of precedence:

1. the layer is absent from the whole run (no source at all) — a data gap;
2. the unit lies outside the layer's extent (its data stop short of the unit) — a data gap;
3. the category or station kind the column measures has no feature anywhere in the study area — a data gap
   (unless the config confirms it absent, when 0 is a measured answer);
4. the unit has no residents to weigh (rules about residents cannot be judged there) — a property of the unit;
5. a NaN the computation left itself (no residential land for a ratio, no population …): the column's ``nan:``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from string import Formatter

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ditan.spatial.crs.metric import ensure_projected
from ditan.spatial.standards import reasons as R
from ditan.spatial.standards.registry import Indicator

__all__ = ["Evidence", "extent_shares", "apply_evidence", "empty_kinds", "has_residents"]

#: a need → (English, Chinese) name of what is missing, for NO_LAYER and OUTSIDE_LAYER
NEED_NAMES = {
    "roads": ("road", "道路"), "buildings": ("building", "建筑"), "floor_area": ("building or parcel floor-area", "建筑或地块建筑面积"),
    "landuse": ("land-use", "用地"), "vegetation": ("vegetation (land-cover raster or green polygons)", "植被（土地覆盖栅格或绿地面）"),
    "raster": ("land-cover raster", "土地覆盖栅格"), "parcels": ("parcel", "地块"), "population": ("population", "人口"),
    "facilities": ("facility (POI)", "设施（POI）"), "stations": ("station", "站点"), "residents": ("residential", "居住"),
}  # fmt: skip
#: a unit whose area inside a layer's extent is below this share (%) lies outside it
OUTSIDE_BELOW_PCT = 1.0
#: a unit with less than this share (%) inside a layer's extent is flagged as partly outside (measured on what is there)
PARTLY_BELOW_PCT = 99.0
#: non-numeric companions of indicators: set to "none" where their indicator rests on nothing
SOURCE_COLUMNS = {"far_source": "far_ratio", "green_space_source": "green_space_ratio_pct",
                  "green_coverage_source": "green_coverage_pct", "lu_code_system": "lu_residential_pct"}  # fmt: skip


@dataclass
class Evidence:
    """What the data of one run can support, unit by unit."""

    absent: dict[str, str] = field(
        default_factory=dict
    )  # need → why the whole layer is missing (English)
    outside: dict[str, np.ndarray] = field(
        default_factory=dict
    )  # need → bool per unit: outside the layer's extent
    gaps: dict[str, R.Reason] = field(
        default_factory=dict
    )  # column → the data gap that leaves it NaN
    residents: np.ndarray | None = None  # bool per unit; None: not restricted
    residents_reason: R.Reason = R.NO_RESIDENTS


def extent_shares(units: gpd.GeoDataFrame, extent: shapely.Geometry | None) -> np.ndarray:
    """Share (%) of each unit's area inside ``extent`` (100 everywhere when there is no extent)."""
    ensure_projected(units, "units")
    geoms = units.geometry.to_numpy()
    if extent is None or len(geoms) == 0:
        return np.full(len(geoms), 100.0)
    area = shapely.area(geoms)
    inside = shapely.area(shapely.intersection(geoms, extent))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(area > 0, inside / area * 100.0, 100.0)


def _no_layer(need: str, why: str) -> R.Reason:
    en, zh = NEED_NAMES.get(need, (need, need))
    return R.NO_LAYER.format(layer_en=en, layer_zh=zh, why=why)


def _outside(need: str) -> R.Reason:
    en, zh = NEED_NAMES.get(need, (need, need))
    return R.OUTSIDE_LAYER.format(layer_en=en, layer_zh=zh)


_REASON_BY_CODE = {r.code: r for r in vars(R).values() if isinstance(r, R.Reason)}


def _own_reasons(
    table: pd.DataFrame, own: np.ndarray, reason: R.Reason
) -> list[tuple[np.ndarray, R.Reason]]:
    """The reason of a computation's own NaN, its fields filled from the unit's row.

    A field of the reason's text names a column of the table (``{lu_code_system}``: the system the
    unit's land use was read in); units are grouped by those values, one reason per group. A field
    the table lacks, or a missing value, reads "—".
    """
    fields = sorted({f for _, f, _, _ in Formatter().parse(reason.en + reason.zh) if f})
    if not fields or not own.any():
        return [(own, reason)]
    values = pd.DataFrame(
        {
            f: table[f].astype(object).where(table[f].notna(), "—") if f in table.columns else "—"
            for f in fields
        },
        index=table.index,
    )[own]
    groups = values.groupby(fields, sort=False).indices
    at = np.flatnonzero(own)
    out = []
    for key, rows in groups.items():
        mask = np.zeros(len(own), dtype=bool)
        mask[at[rows]] = True
        key = key if isinstance(key, tuple) else (key,)
        out.append((mask, reason.format(**dict(zip(fields, map(str, key), strict=True)))))
    return out


def apply_evidence(
    table: pd.DataFrame, columns: dict[str, Indicator], ev: Evidence
) -> pd.DataFrame:
    """Set to NaN every value whose data is absent (in place) and return the long reasons table of every NaN.

    ``table`` is indexed by unit id; ``columns`` are the registry entries of its columns.
    """
    n = len(table)
    units = table.index.to_numpy()
    parts: list[pd.DataFrame] = []
    blocked: dict[str, np.ndarray] = {}  # column → units left NaN for want of data

    def add(col: str, mask: np.ndarray, reason: R.Reason) -> None:
        if mask.any():
            parts.append(
                pd.DataFrame(
                    {
                        "unit_id": units[mask],
                        "column": col,
                        "reason": reason.code,
                        "reason_en": reason.en,
                        "reason_zh": reason.zh,
                        "data_gap": reason.data_gap,
                    }
                )
            )

    for col in table.columns:
        ind = columns.get(col)
        if ind is None or col in SOURCE_COLUMNS or not pd.api.types.is_numeric_dtype(table[col]):
            continue
        done = np.zeros(n, dtype=bool)
        for need in ind.needs:  # 1. a whole layer missing
            if need in ev.absent:
                add(col, ~done, _no_layer(need, ev.absent[need]))
                done[:] = True
        for need in ind.needs:  # 2. the unit beyond the layer's data
            if need in ev.outside:
                hit = ev.outside[need] & ~done
                add(col, hit, _outside(need))
                done |= hit
        if col in ev.gaps:  # 3. the category or station kind in no source
            add(col, ~done, ev.gaps[col])
            done[:] = True
        if "residents" in ind.needs and ev.residents is not None:  # 4. nobody lives there
            hit = ~ev.residents & ~done
            add(col, hit, ev.residents_reason)
            done |= hit
        values = table[col].to_numpy(dtype=float, na_value=np.nan)
        own = ~np.isfinite(values) & ~done  # 5. the computation's own NaN
        for mask, reason in _own_reasons(table, own, _REASON_BY_CODE.get(ind.nan, R.OTHER)):
            add(col, mask, reason)
        blocked[col] = done
        if done.any():
            values = values.copy()
            values[done] = np.nan
            table[col] = values
    for src, ind_col in SOURCE_COLUMNS.items():
        if src in table.columns and ind_col in table.columns:
            blank = blocked.get(ind_col, np.zeros(n, dtype=bool))
            table[src] = np.where(blank, "none", table[src].astype(object))
    if not parts:
        return R.reasons_frame([])
    return pd.concat(parts, ignore_index=True)[R.REASON_COLUMNS]


def empty_kinds(
    present: pd.Series, wanted: list[str], confirmed_absent: list[str] | tuple[str, ...] = ()
) -> list[str]:
    """The ids of ``wanted`` with no feature in ``present`` (a column of ids) and not confirmed absent: data gaps."""
    have = set(present.dropna().astype(str).unique()) | set(confirmed_absent)
    return [k for k in wanted if k not in have]


#: where land use covers at least this share (%) of a unit, its residential land decides whether the unit has residents
LANDUSE_DECIDES_PCT = 50.0


def has_residents(
    basis: np.ndarray,
    weight: np.ndarray,
    residential_land_m2: np.ndarray | None,
    area_m2: np.ndarray,
    *,
    min_land_m2: float,
    min_land_pct: float,
    unknown_land_pct: np.ndarray | None = None,
) -> np.ndarray:
    """Units with residents to assess.

    Homes must carry a weight (residential floor area, population, or residential land without buildings).
    Where land use is known (``residential_land_m2`` given), residential land must also reach ``min_land_m2``
    and ``min_land_pct`` % of the unit: a sliver of residential land at the edge of a stadium, or a
    caretaker's house in a park, does not make a neighbourhood. Land use decides only where it covers
    most of the unit (``unknown_land_pct`` below LANDUSE_DECIDES_PCT): where it is mostly unmapped (OSM
    often has no landuse=residential), residential buildings or a population are evidence enough.
    """
    ok = np.asarray(weight, dtype=float) > 0
    if residential_land_m2 is not None:
        land = np.nan_to_num(np.asarray(residential_land_m2, dtype=float))
        enough = (land >= min_land_m2) & (
            land >= np.asarray(area_m2, dtype=float) * min_land_pct / 100.0
        )
        unknown = (
            np.zeros(len(ok))
            if unknown_land_pct is None
            else np.nan_to_num(np.asarray(unknown_land_pct, dtype=float), nan=100.0)
        )
        unmapped = unknown >= LANDUSE_DECIDES_PCT
        ok &= enough | ((np.asarray(basis) != "land_area") & unmapped)
    return ok
