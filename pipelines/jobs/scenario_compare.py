"""What-if scenarios: the base and scenario indicators compared per unit, and the scenario workbook."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from openpyxl import Workbook
from openpyxl.styles import Font

from ditan.pipelines.compute.indicators import RunResult
from ditan.pipelines.jobs.scenario import Scenario
from ditan.pipelines.outputs import files as write
from ditan.pipelines.outputs import staging
from ditan.spatial.indicators.carbon_plan import PlanCarbon
from ditan.spatial.standards.registry import Indicator

#: written besides a run's outputs with a scenario (``ditan run --scenario FILE``)
SCENARIO_OUTPUTS = ("scenario_comparison.csv", "scenario.xlsx", "scenario_indicators.csv")
#: written besides SCENARIO_OUTPUTS when the scenario is a plan file with carbon measures (measures:)
PLAN_OUTPUTS = ("scenario_carbon.csv",)


def write_scenario_files(
    stage: Path,
    comparison: pd.DataFrame,
    scenario: Scenario,
    columns: dict[str, Indicator],
    result: RunResult,
    plan_carbon: PlanCarbon | None,
) -> tuple[str, ...]:
    """SCENARIO_OUTPUTS (and PLAN_OUTPUTS with a plan's reduction) into ``stage``; the names written."""
    write.write_csv(stage / "scenario_comparison.csv", comparison.set_index("unit_id"))
    write_scenario_xlsx(
        stage / "scenario.xlsx", comparison, scenario, columns, plan_carbon=plan_carbon
    )
    write.write_csv(stage / "scenario_indicators.csv", result.indicators)
    if plan_carbon is None:
        return SCENARIO_OUTPUTS
    write.write_csv(stage / "scenario_carbon.csv", plan_carbon_table(plan_carbon))
    return SCENARIO_OUTPUTS + PLAN_OUTPUTS


def compare(base: RunResult, scen: RunResult) -> pd.DataFrame:
    """One row per unit × numeric indicator: unit_id, name, indicator, zh, en, unit, base, scenario, change, changed.

    Sorted by unit, then indicator in registry order; ``changed`` is False where both are NaN or equal (to 1e-9).
    """
    b = base.indicators.sort_index()
    cols = [
        c
        for c in base.columns
        if c in b.columns and pd.api.types.is_numeric_dtype(b[c]) and b[c].dtype != bool
    ]
    bv = b[cols].to_numpy(dtype=float)
    sv = scen.indicators.reindex(index=b.index, columns=cols).to_numpy(dtype=float)
    n, k = bv.shape
    reg = [base.columns[c] for c in cols]
    same = np.isclose(sv, bv, rtol=1e-9, atol=1e-9) | (np.isnan(bv) & np.isnan(sv))
    return pd.DataFrame(
        {
            "unit_id": np.repeat(b.index.to_numpy(), k),
            "name": np.repeat(b["name"].to_numpy(), k),
            "indicator": np.tile(cols, n),
            "zh": np.tile([r.zh for r in reg], n),
            "en": np.tile([r.en for r in reg], n),
            "unit": np.tile([r.unit for r in reg], n),
            "base": bv.ravel(),
            "scenario": sv.ravel(),
            "change": (sv - bv).ravel(),
            "changed": ~same.ravel(),
        }
    )


def compare_wide(long: pd.DataFrame, *, changed_only: bool = True) -> pd.DataFrame:
    """The comparison as one row per unit (index unit_id, name) and columns (indicator, base | scenario | change).

    With ``changed_only``, only indicators that changed in some unit (in registry order).
    """
    order = list(dict.fromkeys(long["indicator"]))
    keep = set(long.loc[long["changed"], "indicator"]) if changed_only else set(order)
    order = [i for i in order if i in keep]
    sub = long[long["indicator"].isin(keep)]
    wide = sub.pivot_table(
        index=["unit_id", "name"],
        columns="indicator",
        values=["base", "scenario", "change"],
        dropna=False,
        sort=False,
    )
    wide = wide.swaplevel(axis=1).reindex(
        columns=pd.MultiIndex.from_product([order, ["base", "scenario", "change"]])
    )
    units = long.drop_duplicates("unit_id")[["unit_id", "name"]]
    return wide.reindex(pd.MultiIndex.from_frame(units))


def plan_carbon_table(plan: PlanCarbon) -> pd.DataFrame:
    """scenario_carbon.csv: per unit, the plan's baseline, its CO₂ after the measures and the reduction rate."""
    return plan.table.rename_axis("unit_id")


def write_scenario_xlsx(
    path: Path,
    long: pd.DataFrame,
    scenario: Scenario,
    columns: dict[str, Indicator],
    *,
    plan_carbon: PlanCarbon | None = None,
) -> None:
    """Sheets: the changed indicators per unit (wide), every unit × indicator (long), the scenario rows, the columns.

    A plan file adds its measures (措施 measures) and, with an inventory, the reduction per unit (减排测算 plan carbon)
    and the added parcels' floor area (新增地块 added parcels).
    """
    wb = Workbook()
    ws = wb.active
    ws.title = "方案对比 comparison"
    wide = compare_wide(long)
    inds = list(dict.fromkeys(wide.columns.get_level_values(0)))
    zh = {"base": "基准", "scenario": "方案", "change": "变化"}
    ws.append(["单元", "名称"] + [f"{columns[i].zh} {zh[f]}" for i in inds for f in zh])
    ws.append(["unit_id", "name"] + [f"{_en(columns[i])} {f}" for i in inds for f in zh])
    for (uid, name), row in wide.round(write.CSV_DECIMALS).iterrows():
        ws.append(write.xlsx_row(ws, [uid, name, *[float(v) for v in row.to_numpy()]]))
    if not inds:
        ws.append(["no indicator changed in any unit / 方案未改变任何指标"])
    ws.freeze_panes = "C3"
    al = wb.create_sheet("全部指标 all indicators")
    heads = [
        ("单元", "unit_id"),
        ("名称", "name"),
        ("指标", "indicator"),
        ("中文名", "zh"),
        ("English", "en"),
        ("单位", "unit"),
        ("基准", "base"),
        ("方案", "scenario"),
        ("变化", "change"),
        ("有变化", "changed"),
    ]
    al.append([h[0] for h in heads])
    al.append([h[1] for h in heads])
    for row in long.round(write.CSV_DECIMALS).itertuples(index=False):
        al.append(write.xlsx_row(al, row))
    al.freeze_panes = "C3"
    sc = wb.create_sheet("方案 scenario")
    table = scenario.table()
    sc.append(list(table.columns))
    for row in table.round(2).itertuples(index=False):
        sc.append(write.xlsx_row(sc, row))
    sc.append([])
    sc.append(write.xlsx_row(sc, [f"{scenario.path.name} sha256 {scenario.sha256}"]))
    if scenario.changes_file is not None:
        sc.append(
            write.xlsx_row(sc, [f"{scenario.changes_file.name} sha256 {scenario.changes_sha256}"])
        )
    if scenario.measures is not None:
        ms = wb.create_sheet("措施 measures")
        rows = pd.DataFrame(scenario.measures.table())
        ms.append(["措施", "值", "单位", "来源"])
        ms.append(list(rows.columns))
        for row in rows.itertuples(index=False):
            ms.append(write.xlsx_row(ms, row))
        for cell in (*ms[1], *ms[2]):
            cell.font = Font(bold=True)
    if plan_carbon is not None:
        pc = wb.create_sheet("减排测算 plan carbon")
        t = plan_carbon_table(plan_carbon).reset_index()
        pc.append(list(t.columns))
        for row in t.round(write.CSV_DECIMALS).itertuples(index=False):
            pc.append(write.xlsx_row(pc, row))
        pc.freeze_panes = "B2"
        if len(plan_carbon.parcels):
            pa = wb.create_sheet("新增地块 added parcels")
            pa.append(list(plan_carbon.parcels.columns))
            for row in plan_carbon.parcels.round(2).itertuples(index=False):
                pa.append(write.xlsx_row(pa, row))
    for sheet in (ws, al):
        for cell in (*sheet[1], *sheet[2]):
            cell.font = Font(bold=True)
    wb.properties.created = wb.properties.modified = write.FIXED_TIME
    with staging.atomic_path(path) as tmp:
        wb.save(tmp)
        write.fix_zip_times(tmp)


def _en(ind: Indicator) -> str:
    return f"{ind.en} ({ind.unit})" if ind.unit and ind.unit not in ("count", "ratio") else ind.en
