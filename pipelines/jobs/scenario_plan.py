"""Plan files: a scenario with carbon measures, and the reduction rate it brings (社区二氧化碳排放下降率).

``ditan run CONFIG --scenario plan.yaml`` takes a YAML plan file::

    name: 方案A                       # optional
    changes: changes.gpkg            # optional: a feature file of changes (ditan.pipelines.jobs.scenario), from
                                     # this file's folder; its added parcels' floor area enters the plan's inventory
    measures:                        # the carbon measures (ditan.spatial.standards.carbon_measures)
      rooftop_pv_share: 0.3
      green_building_share: 0.7
      green_building_saving_pct: 30
      district_heating_to_heat_pump_share: 0.5
      heat_pump_cop: 3

A feature file alone (``--scenario changes.gpkg``) works as before and gives no reduction rate. The plan file is read
and its measures checked before the study area is loaded (a bad value stops the run at once, its key path named);
its ``changes:`` rows are checked against the study area after.

:func:`plan_reduction` computes the rate of every unit (ditan.spatial.indicators.carbon_plan) from the base run and
the scenario run, and :func:`apply_plan` writes it into the scenario's indicators and reasons;
:func:`with_plan_rates` gives the compliance check the plan's rate in place of the base run's "no plan".
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from ditan.pipelines.compute.indicators import RunResult, Timer, compute
from ditan.pipelines.config.params import ComputeParams
from ditan.pipelines.jobs.scenario import Scenario, read_scenario
from ditan.pipelines.jobs.scenario_apply import apply_scenario
from ditan.pipelines.jobs.scenario_compare import compare
from ditan.pipelines.outputs import files as write
from ditan.spatial.errors import ConfigError, did_you_mean
from ditan.spatial.indicators.carbon_plan import (
    RATE_COLUMNS,
    PlanCarbon,
    added_floor_by_unit,
    plan_carbon,
)
from ditan.spatial.standards import reasons as R
from ditan.spatial.standards.carbon_measures import PlanMeasures, parse_measures
from ditan.spatial.standards.profiles import load_profile
from ditan.spatial.study_area.model import StudyArea

__all__ = [
    "PlanFile",
    "apply_plan",
    "check_plan_file",
    "is_plan_file",
    "plan_reduction",
    "plan_summary",
    "read_any",
    "read_plan",
    "read_plan_file",
    "run_plan",
    "unit_kinds",
    "with_plan_rates",
]

PLAN_KEYS = ("name", "description", "changes", "measures")
#: the profile whose kinds (new / existing / rural and their Chinese names) fix each unit's baseline
PILOT_PROFILE = "lowcarbon_pilot_2015"


@dataclass
class PlanFile:
    """A plan file, read and checked without the study area."""

    path: Path
    sha256: str
    measures: PlanMeasures | None
    changes: Path | None
    name: str = ""


def is_plan_file(path: Path) -> bool:
    """A YAML file is a plan file; anything else is a feature file of changes."""
    return Path(path).suffix.lower() in (".yaml", ".yml")


def read_plan_file(path: str | Path) -> PlanFile:
    """Read a plan file and check its keys and measures: ConfigError naming the key path and the fix."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"scenario plan file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8-sig"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise ConfigError(
            f"scenario plan {path.name}: not valid YAML{where}: {getattr(exc, 'problem', exc)}"
        ) from None
    except UnicodeDecodeError:
        raise ConfigError(f"scenario plan {path.name}: not UTF-8 text; save it as UTF-8") from None
    if not isinstance(data, dict):
        raise ConfigError(
            f"scenario plan {path.name}: expected a mapping with {', '.join(PLAN_KEYS)}; see README (scenario measures)"
        )
    unknown = [k for k in data if k not in PLAN_KEYS]
    if unknown:
        k = str(unknown[0])
        hint = did_you_mean(k, PLAN_KEYS, "known keys")
        raise ConfigError(f"scenario plan {path.name}: {k}: unknown key; {hint}")
    if "measures" not in data and "changes" not in data:
        raise ConfigError(
            f"scenario plan {path.name}: neither measures: nor changes:; give the carbon measures (measures:) and/or "
            "a feature file of changes (changes: FILE)"
        )
    changes = None
    if data.get("changes") is not None:
        changes = Path(str(data["changes"]))
        changes = changes if changes.is_absolute() else path.parent / changes
        if not changes.is_file():
            raise ConfigError(
                f"scenario plan {path.name}: changes: file not found: {changes} (read from the plan file's folder)"
            )
        if changes.suffix.lower() in (".yaml", ".yml"):
            raise ConfigError(
                f"scenario plan {path.name}: changes: {changes.name} is a YAML file; name a feature file of changes "
                "(GeoPackage, GeoJSON, Shapefile or CSV)"
            )
    try:
        measures = parse_measures(data["measures"], "measures") if "measures" in data else None
    except ConfigError as exc:
        raise ConfigError(f"scenario plan {path.name}: {exc}") from None
    return PlanFile(
        path=path,
        sha256=write.file_sha256(path),
        measures=measures,
        changes=changes,
        name=str(data.get("name") or ""),
    )


def check_plan_file(path: Path | None, *, carbon: bool) -> PlanFile | None:
    """A plan file read and checked before the study area is loaded (None: no scenario, or a feature file)."""
    if path is None or not is_plan_file(path):
        return None
    plan = read_plan_file(path)
    if plan.measures is not None and not carbon:
        raise ConfigError(
            f"scenario plan {plan.path.name} gives carbon measures but carbon.enabled is false in the config: "
            "enable the carbon inventory, or drop measures: from the plan"
        )
    return plan


def read_any(path: Path | None, plan: PlanFile | None, sa: StudyArea) -> Scenario | None:
    """The scenario of ``--scenario``: a plan file (already checked: ``plan``) or a feature file of changes."""
    if plan is not None:
        return read_plan(plan, sa)
    return read_scenario(path, sa) if path is not None else None


def run_plan(
    sa: StudyArea,
    scenario: Scenario,
    base: RunResult,
    params: ComputeParams,
    radii: tuple[float, ...],
    kind: str | None,
) -> tuple[RunResult, pd.DataFrame, PlanCarbon | None]:
    """The changed study area computed, its reduction rate (a plan's measures) and its comparison with ``base``.

    ``kind``: compliance.kind (each unit's pilot kind, unless inputs.units.kind_column gives them).
    A plan of measures only (no changes) leaves the study area as it is: its result is a copy of
    ``base``, not computed again.
    """
    if scenario.changes:
        changed = apply_scenario(sa, scenario)
        scen = compute(changed, params, Timer(), extra_radii_m=radii)
    else:
        changed, scen = sa, _copy_of(base)
    plan = plan_reduction(base, scen, scenario, changed, unit_kinds(sa, kind))
    if plan is not None:
        apply_plan(scen, plan)
    return scen, compare(base, scen), plan


def _copy_of(res: RunResult) -> RunResult:
    """``res`` with its own indicators, units and reasons (:func:`apply_plan` writes into them)."""
    return replace(
        res,
        indicators=res.indicators.copy(),
        units=res.units.copy(),
        reasons=res.reasons.copy(),
        gaps=list(res.gaps),
        stats=dict(res.stats),
    )


def plan_summary(plan: PlanCarbon | None) -> dict:
    """For the manifest's scenario entry: the units whose rate was assessed and its range."""
    if plan is None:
        return {}
    rate = plan.table["co2_reduction_rate_pct"]
    have = bool(rate.notna().any())
    return {
        "co2_reduction_rate_pct": {
            "units_assessed": int(rate.notna().sum()),
            "min": float(rate.min()) if have else None,
            "max": float(rate.max()) if have else None,
        }
    }


def read_plan(plan: PlanFile, sa: StudyArea) -> Scenario:
    """The plan as a Scenario: its changes (checked against the study area) and its measures."""
    changes, changes_sha = [], ""
    if plan.changes is not None:
        rows = read_scenario(plan.changes, sa)
        changes, changes_sha = rows.changes, rows.sha256
    return Scenario(
        path=plan.path,
        sha256=plan.sha256,
        changes=changes,
        measures=plan.measures,
        changes_file=plan.changes,
        changes_sha256=changes_sha,
    )


def unit_kinds(sa: StudyArea, kind: str | None) -> list[str | None]:
    """Each unit's pilot kind id (new / existing / rural) from inputs.units.kind_column, else compliance.kind."""
    ids = load_profile(PILOT_PROFILE).kind_id
    if "kind" in sa.units:
        return [ids(v) if pd.notna(v) else None for v in sa.units["kind"]]
    return [ids(kind) if kind else None] * len(sa.units)


def _added_parcels(scenario: Scenario) -> pd.DataFrame:
    rows = [
        {
            "row": c.row,
            "geometry": c.geometry,
            "lu_class": c.parcel.get("lu_class"),
            "floor_area_m2": c.parcel.get("floor_area_m2", np.nan),
            "far": c.parcel.get("far", np.nan),
        }
        for c in scenario.changes
        if c.action == "add" and c.layer == "parcel"
    ]
    return pd.DataFrame(rows, columns=["row", "geometry", "lu_class", "floor_area_m2", "far"])


def plan_reduction(
    base: RunResult, scen: RunResult, scenario: Scenario, sa: StudyArea, kinds: list[str | None]
) -> PlanCarbon | None:
    """The plan's inventory and rate per unit; None when the scenario gives no measures or no inventory was made."""
    if scenario.measures is None or base.carbon is None or scen.carbon is None:
        return None
    if scen.carbon_factors is None:
        return None
    floor, parcels = added_floor_by_unit(sa.units, _added_parcels(scenario))
    bt = base.indicators.reindex(sa.units.index)
    base_co2 = {
        b: bt[f"building_co2_t_per_year{s}"].to_numpy(dtype=float)
        for b, s in (("value", ""), ("low", "_low"), ("high", "_high"))
    }
    return plan_carbon(
        scen.carbon,
        scen.carbon_factors,
        scenario.measures,
        index=sa.units.index,
        kinds=kinds,
        added_floor=floor,
        base_co2=base_co2,
        parcels=parcels,
    )


def _reason_rows(plan: PlanCarbon) -> pd.DataFrame:
    return R.reasons_frame(plan.reasons)


def apply_plan(scen: RunResult, plan: PlanCarbon) -> None:
    """The plan's rate into the scenario's indicators, units and reasons (in place)."""
    rates = plan.rates.reindex(scen.indicators.index)
    for c in RATE_COLUMNS:
        if c in scen.indicators:
            scen.indicators[c] = rates[c].to_numpy()
        if c in scen.units:
            scen.units[c] = rates[c].reindex(scen.units.index).to_numpy()
    r = scen.reasons
    keep = r[~r["column"].isin(RATE_COLUMNS)] if len(r) else r
    new = _reason_rows(plan)
    scen.reasons = (
        pd.concat([keep, new], ignore_index=True) if len(new) else keep.reset_index(drop=True)
    )


def with_plan_rates(
    indicators: pd.DataFrame, reasons: pd.DataFrame, scen: RunResult
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The base indicators and reasons with the plan's rate (and its reasons) in place of "no plan": for compliance."""
    table = indicators.copy()
    for c in RATE_COLUMNS:
        if c in table and c in scen.indicators:
            table[c] = scen.indicators[c].reindex(table.index).to_numpy()
    keep = reasons[~reasons["column"].isin(RATE_COLUMNS)] if len(reasons) else reasons
    sr = scen.reasons
    theirs = sr[sr["column"].isin(RATE_COLUMNS)] if len(sr) else sr
    return table, pd.concat([keep, theirs], ignore_index=True)
