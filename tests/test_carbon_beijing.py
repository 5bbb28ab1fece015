"""碳盘查 on the Beijing sample: every carbon column is a number with a source or NaN with a reason."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT

from ditan.pipelines.jobs.run import run

CONFIG = ROOT / "pipelines/configs/beijing_haidian.yaml"
BASES = (
    "building_energy_mwh_per_year", "building_co2_t_per_year", "co2_per_capita_t",
    "co2_per_floor_area_kg_per_m2", "carbon_sink_t_per_year", "source_sink_ratio", "rooftop_pv_kwp",
    "rooftop_pv_mwh_per_year", "renewable_substitution_potential_pct",
)  # fmt: skip
COLUMNS = [b + s for b in BASES for s in ("", "_low", "_high")]


@pytest.fixture(scope="module")
def out(beijing_run):
    """The run of the sample (once for the session, conftest.py): read only."""
    return beijing_run


def test_every_value_has_a_source_or_a_reason(out):
    ind, why = out.result.indicators, out.result.reasons
    for col in COLUMNS:
        assert col in ind.columns, col
        nan_units = set(ind.index[ind[col].isna()])
        explained = why[why["column"] == col]
        assert set(explained["unit_id"]) == nan_units, col
        assert not explained.duplicated(["unit_id", "column"]).any()
    # the sample has no population data: per-capita CO2 is a data gap where people live, and not
    # assessable (no residents) elsewhere; never 0
    pc = why[why["column"] == "co2_per_capita_t"].set_index("unit_id")
    assert len(pc) == len(ind)
    lives = ind["has_residents"].astype(bool)
    assert (pc.loc[lives[lives].index, "reason"] == "no_population").all()
    assert (pc.loc[lives[~lives].index, "reason"] == "no_residents").all()
    # every factor used has a source; the manifest says where they were taken for
    factors = pd.read_csv(out.out_dir / "carbon_factors.csv")
    assert factors["source"].notna().all() and (factors["source"].str.len() > 0).all()
    m = json.loads((out.out_dir / "manifest.json").read_text(encoding="utf-8"))
    assert m["carbon"]["province"] == "北京" and m["carbon"]["climate_zone"] == "寒冷"
    assert m["carbon"]["grid_kg_per_kwh"] == 0.558


def test_consistent_with_the_floor_area_and_the_inventory(out):
    ind = out.result.indicators
    # the carbon inventory covers the same floor area as the floor-area ratio (buildings, overlaps once)
    own = ind["far_source"] == "buildings"
    covered = ind["carbon_floor_area_covered_pct"] / 100 * ind["floor_area_m2"]
    co2 = ind["building_co2_t_per_year"]
    assert (co2[own] * 1000 / covered[own]).to_numpy() == pytest.approx(
        ind.loc[own, "co2_per_floor_area_kg_per_m2"].to_numpy()
    )
    inv = pd.read_csv(out.out_dir / "carbon_inventory.csv")
    b = inv[inv["sector"].str.startswith("buildings")].groupby("unit_id")["co2_t"].sum()
    assert b.reindex(ind.index).to_numpy() == pytest.approx(co2.to_numpy())
    for sector in ("transport", "waste", "water"):
        rows = inv[inv["sector"] == sector]
        assert len(rows) == len(ind) and rows["co2_t"].isna().all()
    assert (ind["building_co2_t_per_year_low"] <= co2).all()
    assert (co2 <= ind["building_co2_t_per_year_high"]).all()
    # no raster in the sample: the sink rests on the green polygons, green coverage × area × 5 t/ha
    assert (ind["carbon_sink_basis"] == "green land").all()
    sink = ind["green_coverage_pct"] / 100 * ind["area_km2"] * 100 * 5.0
    assert ind["carbon_sink_t_per_year"].to_numpy() == pytest.approx(sink.to_numpy())


def test_workbook_has_the_inventory_sheets(out):
    import openpyxl

    wb = openpyxl.load_workbook(out.out_dir / "indicators.xlsx", read_only=True)
    assert "碳盘查 carbon_inventory" in wb.sheetnames
    assert "碳排放因子 carbon_factors" in wb.sheetnames
    assert np.isfinite(out.result.indicators["rooftop_pv_kwp"]).all()


def _run_with(tmp_path, carbon: dict):
    import yaml

    from ditan.pipelines.config.schema import parse_config

    data = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    data["carbon"] = carbon
    cfg = parse_config(data, base_dir=CONFIG.parent)
    return run(cfg, tmp_path / "out")


def test_disabled_leaves_no_carbon_trace(tmp_path):
    out = _run_with(tmp_path, {"enabled": False})
    assert not any(c.startswith(("building_co2", "rooftop_pv")) for c in out.result.indicators)
    assert not (out.out_dir / "carbon_inventory.csv").exists()
    assert "carbon" not in json.loads((out.out_dir / "manifest.json").read_text(encoding="utf-8"))


def test_non_default_factors_reach_every_column(tmp_path, out):
    """广东 (夏热冬暖, no district heating, grid 0.4403) forced on the Beijing buildings.

    With a supplied transport sector: the CO2 of a unit follows from the base run's inventory by hand.
    """
    alt = _run_with(
        tmp_path,
        {
            "province": "广东",
            "other_sectors": {"transport": {"t_per_capita_per_year": 0.8, "source": "test"}},
            "install_share": {"residential": 0.5},
        },
    )
    a, b = alt.result.indicators, out.result.indicators
    inv = pd.read_csv(out.out_dir / "carbon_inventory.csv")
    # no district heat any more; electricity by the 夏热冬暖 intensities: residential 2900/95, others …
    eui = {"residential": 2900 / 95, "office": 80.0, "government": 65.0, "hotel": 100.0, "commercial": 120.0,
           "school": 45.0, "hospital": 140.0, "public": 80.0, "storage": 10.0, "unknown": 80.0}  # fmt: skip
    elec = inv[(inv["carrier"] == "electricity") & inv["sector"].str.startswith("buildings")].copy()
    elec["use"] = elec["sector"].str.replace("buildings · ", "", regex=False)
    elec = elec[elec["use"] != "industrial"]
    expect = (
        (elec["floor_area_m2"] * elec["use"].map(eui) / 1000 * 0.4403)
        .groupby(elec["unit_id"])
        .sum()
    )
    assert a["building_co2_t_per_year"].reindex(expect.index).to_numpy() == pytest.approx(
        expect.to_numpy()
    )
    # residential roofs now 0.5 instead of 0.2: the potential grows
    assert (a["rooftop_pv_kwp"] >= b["rooftop_pv_kwp"] - 1e-9).all()
    assert (a["rooftop_pv_kwp"] > b["rooftop_pv_kwp"]).any()
    tr = pd.read_csv(alt.out_dir / "carbon_inventory.csv")
    assert tr.loc[tr["sector"] == "transport", "note"].str.contains("0.8").all()
