"""The reduction a plan would bring (社区二氧化碳排放下降率): the scenario's inventory with its measures, against a baseline.

低碳社区试点建设指南 附件 名词解释 1: the rate is the reduction the community's low-carbon measures bring ÷ its baseline
emission. The baseline of a new urban community (城市新建社区, 表1 比照基准情景) is the emission of the same community
without low-carbon measures, built to the current standards: here the plan's floor area at the inventory's central
(constraint) values. That of an existing urban (表2) or rural (表3) community is its emission in the base year before
the pilot (比照试点前基准年): here the base run's inventory, as measured.

Per unit, for each of the factors' central, low and high values (``b``):

- energy of the scenario's buildings by use (the inventory: electricity MWh, district heat GJ) + the floor area of the
  parcels the plan adds × the intensity of their use (``carbon_measures.yaml`` maps their land-use class to a use);
- green buildings: the *new* floor area's energy × ``green_building_share`` × ``green_building_saving_pct`` is saved.
  New floor area is the added parcels' and, in a new community, all of it;
- heat pumps: ``district_heating_to_heat_pump_share`` of the remaining district heat is supplied by heat pumps, whose
  electricity is heat ÷ 3.6 ÷ COP;
- plan CO₂ = electricity × grid factor + district heat × heat factor − rooftop PV generation × grid factor, the PV
  being ``rooftop_pv_share`` of the installable roof area of each use (of the inventory's generation potential);
- rate = (baseline − plan) ÷ baseline × 100.

``co2_reduction_rate_pct`` is the rate at the central values; ``_low`` and ``_high`` the smaller and the larger of the
rates at the low and the high values (baseline and plan take the same factors: the bounds show how far the factors
move the rate, not the gap between a low plan and a high baseline). The added parcels' roofs are not counted for PV
(no footprint). A NaN has its reason (:attr:`PlanCarbon.reasons`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ditan.spatial.indicators.carbon import BOUNDS, CarbonResult
from ditan.spatial.standards import reasons as R
from ditan.spatial.standards.carbon import USES, CarbonFactors
from ditan.spatial.standards.carbon_measures import PlanMeasures, use_of_landuse_class

__all__ = [
    "RATE",
    "RATE_COLUMNS",
    "PlanCarbon",
    "added_floor_by_unit",
    "no_plan_columns",
    "plan_carbon",
]

RATE = "co2_reduction_rate_pct"
_SUFFIX = {"value": "", "low": "_low", "high": "_high"}
RATE_COLUMNS = tuple(RATE + s for s in _SUFFIX.values())
#: the pilot kinds whose baseline is the plan at the constraint values (the others: the base year as measured)
SCENARIO_BASELINE_KINDS = ("new",)
BASELINE_KINDS = ("new", "existing", "rural")


def no_plan_columns(index: pd.Index) -> pd.DataFrame:
    """The rate columns of a run without a plan: NaN (the registry's reason: no plan)."""
    return pd.DataFrame({c: np.full(len(index), np.nan) for c in RATE_COLUMNS}, index=index)


@dataclass
class PlanCarbon:
    """The plan's inventory per unit and the rate."""

    #: per unit (scenario_carbon.csv): kind, baseline basis, floor areas, CO₂ by bound, the rate
    table: pd.DataFrame
    #: per added parcel: row, lu_class, use, floor_area_m2, share inside the units, note
    parcels: pd.DataFrame
    #: (unit, column, reason) of each NaN rate
    reasons: list[tuple[object, str, R.Reason]] = field(default_factory=list)

    @property
    def rates(self) -> pd.DataFrame:
        return self.table[list(RATE_COLUMNS)]


def added_floor_by_unit(
    units: gpd.GeoDataFrame, parcels: pd.DataFrame
) -> tuple[np.ndarray, pd.DataFrame]:
    """The added parcels' floor area by unit and use ((n units, len(USES)) m²) and one row per parcel.

    ``parcels``: ``row``, ``geometry`` (study CRS), ``lu_class``, ``floor_area_m2`` and ``far`` (NaN: not given). The
    floor area is ``floor_area_m2``, else ``far`` × the parcel's area; it is split between the units by the share of
    the parcel's area inside each. A parcel of a class without buildings (``carbon_measures.yaml``), without a floor
    area or FAR, or outside every unit adds nothing, and its row says so.
    """
    n, k = len(units), len(USES)
    floor = np.zeros((n, k))
    if parcels is None or len(parcels) == 0:
        return floor, pd.DataFrame(
            columns=["row", "lu_class", "use", "floor_area_m2", "in_units_pct", "note"]
        )
    geoms = np.asarray(parcels["geometry"], dtype=object)
    area = shapely.area(geoms)
    given = parcels["floor_area_m2"].to_numpy(dtype=float)
    far = parcels["far"].to_numpy(dtype=float)
    fa = np.where(np.isfinite(given), given, far * area)
    uses = [use_of_landuse_class(c) for c in parcels["lu_class"]]
    tree = shapely.STRtree(units.geometry.to_numpy())
    pi, ui = tree.query(geoms, predicate="intersects")
    share = np.zeros(len(pi))
    if len(pi):
        inter = shapely.area(shapely.intersection(geoms[pi], units.geometry.to_numpy()[ui]))
        share = np.where(area[pi] > 0, inter / np.where(area[pi] > 0, area[pi], 1.0), 0.0)
    inside = np.bincount(pi, weights=share, minlength=len(geoms))
    counted = np.array(
        [u is not None and np.isfinite(f) and f > 0 for u, f in zip(uses, fa, strict=True)]
    )
    use_idx = np.array([USES.index(u) if u is not None else 0 for u in uses], dtype=np.int64)
    w = counted[pi]
    np.add.at(floor, (ui[w], use_idx[pi][w]), fa[pi][w] * share[w])
    notes = []
    for u, f, c, s in zip(uses, fa, parcels["lu_class"], inside, strict=True):
        if u is None:
            notes.append(
                f"land-use class {c}: no building floor area counted (carbon_measures.yaml)"
            )
        elif not np.isfinite(f):
            notes.append("no floor_area or far given: no floor area counted")
        elif s <= 0:
            notes.append("outside every unit: not counted")
        elif u == "industrial":
            notes.append(
                "industrial: process energy not estimable, left out of the totals (as in the inventory)"
            )
        elif s < 0.999:
            notes.append(f"{s * 100:.1f} % inside the units: the rest is not counted")
        else:
            notes.append("")
    table = pd.DataFrame(
        {
            "row": parcels["row"].to_numpy(),
            "lu_class": parcels["lu_class"].to_numpy(),
            "use": uses,
            "floor_area_m2": fa,
            "in_units_pct": inside * 100.0,
            "note": notes,
        }
    )
    return floor, table


def plan_carbon(
    scen: CarbonResult,
    factors: CarbonFactors,
    measures: PlanMeasures,
    *,
    index: pd.Index,
    kinds: list[str | None],
    added_floor: np.ndarray,
    base_co2: dict[str, np.ndarray],
    parcels: pd.DataFrame | None = None,
) -> PlanCarbon:
    """The plan's CO₂ and the rate per unit (see the module's method).

    ``scen``: the scenario's inventory (its buildings after the plan's changes); ``index``: the unit ids in the
    inventory's order; ``kinds``: each unit's pilot kind (new / existing / rural, None: unknown); ``added_floor``:
    :func:`added_floor_by_unit`; ``base_co2``: the base run's ``building_co2_t_per_year`` by bound (value/low/high).
    """
    n, k = len(index), len(USES)
    grid, hf = factors.grid_kg_per_kwh, factors.heat_t_per_gj  # tCO2/MWh, tCO2/GJ
    floor, elec, heat = _by_use(scen, n)
    # no building data behind a unit (no building layer): its quantities are not measured, NaN below
    unmeasured = ~np.isfinite(np.asarray(scen.floor_by_use, dtype=float)).all(axis=1)
    kind = np.array([kd if kd in BASELINE_KINDS else "" for kd in kinds], dtype=object)
    all_new = np.isin(kind, SCENARIO_BASELINE_KINDS)[:, None]
    green = measures.green_building_share * measures.green_building_saving_pct / 100.0
    d = measures.heat_pump_share
    pv_share = np.array([measures.rooftop_pv_share[u] for u in USES])
    inst = (
        scen.installable_by_use if scen.installable_by_use is not None else np.full((n, k), np.nan)
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        inst_total = inst.sum(axis=1)
        pv_fraction = np.where(inst_total > 0, (inst * pv_share).sum(axis=1) / inst_total, 0.0)
    out = pd.DataFrame(index=index)
    out["kind"] = kind
    out["baseline"] = np.where(
        np.isin(kind, SCENARIO_BASELINE_KINDS),
        "基准情景 plan floor area at the constraint values, no measures",
        np.where(kind == "", "unknown", "试点前基准年 base year as measured (base run)"),
    )
    out["added_floor_area_m2"] = added_floor.sum(axis=1)
    new_floor = np.zeros(n)  # filled below (the inventory's floor areas in a new community)
    out["pv_share_of_installable_pct"] = pv_fraction * 100.0
    rates = {}
    for b in BOUNDS:
        s = _SUFFIX[b]
        e_add, h_add = factors.energy_of_floor(added_floor, b)  # MWh, GJ (0: not estimable)
        e_all = elec[b] + e_add
        h_all = heat[b] + h_add
        e_new = np.where(all_new, e_all, e_add)
        h_new = np.where(all_new, h_all, h_add)
        e1 = (e_all - green * e_new).sum(axis=1)
        h1 = (h_all - green * h_new).sum(axis=1)
        cop = getattr(measures.heat_pump_cop, b)
        hp_mwh = d * h1 / 3.6 / cop
        h2 = (1.0 - d) * h1
        building = (e1 + hp_mwh) * grid + h2 * hf
        pv_mwh = scen.table[f"rooftop_pv_mwh_per_year{s}"].to_numpy(dtype=float) * pv_fraction
        pv_mwh = np.where(pv_fraction > 0, pv_mwh, 0.0)
        plan = building - pv_mwh * grid
        scenario_baseline = e_all.sum(axis=1) * grid + h_all.sum(axis=1) * hf
        baseline = np.where(
            np.isin(kind, SCENARIO_BASELINE_KINDS),
            scenario_baseline,
            np.where(kind == "", np.nan, np.asarray(base_co2[b], dtype=float)),
        )
        with np.errstate(invalid="ignore", divide="ignore"):
            rate = np.where(baseline > 0, (baseline - plan) / baseline * 100.0, np.nan)
        if b == "value":
            new_floor = np.where(
                all_new[:, 0],
                floor.sum(axis=1) + added_floor.sum(axis=1),
                added_floor.sum(axis=1),
            )
        out[f"baseline_co2_t{s}"] = baseline
        out[f"green_building_saving_mwh{s}"] = green * (e_new.sum(axis=1) + h_new.sum(axis=1) / 3.6)
        out[f"heat_pump_electricity_mwh{s}"] = hp_mwh
        out[f"building_co2_t{s}"] = building
        out[f"pv_mwh{s}"] = pv_mwh
        out[f"plan_co2_t{s}"] = plan
        with np.errstate(invalid="ignore", divide="ignore"):
            plan_energy = e1 + hp_mwh + h2 / 3.6
            out[f"pv_substitution_pct{s}"] = np.where(
                plan_energy > 0, pv_mwh / plan_energy * 100.0, np.nan
            )
        rates[b] = rate
    out.insert(3, "new_floor_area_m2", new_floor)
    stack = np.vstack([rates[b] for b in BOUNDS])
    with np.errstate(invalid="ignore"):
        out[RATE] = rates["value"]
        finite = np.isfinite(stack).all(axis=0)
        out[RATE + "_low"] = np.where(
            finite, np.nanmin(np.where(finite, stack, 0.0), axis=0), np.nan
        )
        out[RATE + "_high"] = np.where(
            finite, np.nanmax(np.where(finite, stack, 0.0), axis=0), np.nan
        )
    head = [
        "kind",
        "baseline",
        "added_floor_area_m2",
        "new_floor_area_m2",
        "pv_share_of_installable_pct",
    ]
    quantities = ["baseline_co2_t", "green_building_saving_mwh", "heat_pump_electricity_mwh", "building_co2_t",
                  "pv_mwh", "plan_co2_t", "pv_substitution_pct"]  # fmt: skip
    out = out[head + [q + s for q in quantities for s in _SUFFIX.values()] + list(RATE_COLUMNS)]
    if unmeasured.any():
        measured_cols = [
            "new_floor_area_m2",
            *(q + s for q in quantities for s in _SUFFIX.values()),
        ]
        out.iloc[np.flatnonzero(unmeasured), [out.columns.get_loc(c) for c in measured_cols]] = (
            np.nan
        )
    which, reason_of = _why_no_rate(out, scen, kind, pv_fraction)
    nan_units = np.flatnonzero(which >= 0)
    out.iloc[nan_units, [out.columns.get_loc(c) for c in RATE_COLUMNS]] = np.nan
    reasons = _reason_rows(index, which, reason_of)
    return PlanCarbon(out, parcels if parcels is not None else pd.DataFrame(), reasons)


def _by_use(
    scen: CarbonResult, n: int
) -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The scenario's floor area (m²), electricity (MWh) and district heat (GJ) by unit and use, by bound.

    NaN (no building layer) reads as 0 in the arithmetic; plan_carbon sets those units' quantities to NaN
    (the run's reason for building CO₂ leaves their rates NaN).
    """
    if scen.floor_by_use is None or scen.electricity_by_use is None or scen.heat_by_use is None:
        raise ValueError("plan_carbon: scen has no floor and energy by use (from carbon_inventory)")
    if scen.floor_by_use.shape != (n, len(USES)):
        raise ValueError(
            f"plan_carbon: the inventory has {scen.floor_by_use.shape[0]} units, the index {n}"
        )
    return (
        np.nan_to_num(scen.floor_by_use),
        {b: np.nan_to_num(scen.electricity_by_use[b]) for b in BOUNDS},
        {b: np.nan_to_num(scen.heat_by_use[b]) for b in BOUNDS},
    )


def _why_no_rate(
    out: pd.DataFrame, scen: CarbonResult, kind: np.ndarray, pv_fraction: np.ndarray
) -> tuple[np.ndarray, list[R.Reason]]:
    """Why each unit's rate is NaN: a whole-run factor gap, else the kind, the PV, the baseline.

    Per unit the position of its reason in the list returned beside (-1: the rate is a number).
    """
    whole = scen.reasons.get("building_co2_t_per_year")
    if whole is not None:
        return np.zeros(len(out), dtype=np.int64), [
            R.CARBON_FACTOR.format(why=whole[0], why_zh=whole[1])
        ]
    pv_why = scen.reasons.get("rooftop_pv_mwh_per_year")
    no_pv = np.zeros(len(out), dtype=bool)
    reason_of = [R.NO_PILOT_KIND, R.NO_BASELINE]
    if pv_why is not None:
        no_pv = np.asarray(pv_fraction, dtype=float) > 0
        reason_of.append(R.CARBON_FACTOR.format(why=pv_why[0], why_zh=pv_why[1]))
    which = np.select(
        [kind == "", no_pv, ~np.isfinite(out[RATE].to_numpy(dtype=float))], [0, 2, 1], default=-1
    )
    return which.astype(np.int64), reason_of


def _reason_rows(
    index: pd.Index, which: np.ndarray, reason_of: list[R.Reason]
) -> list[tuple[object, str, R.Reason]]:
    """(unit, column, reason) of the rate columns of each unit with a reason, in units' order."""
    pos = np.flatnonzero(which >= 0)
    k = len(RATE_COLUMNS)
    return list(
        zip(
            index[pos].repeat(k).tolist(),
            RATE_COLUMNS * len(pos),
            map(reason_of.__getitem__, np.repeat(which[pos], k).tolist()),
            strict=True,
        )
    )
