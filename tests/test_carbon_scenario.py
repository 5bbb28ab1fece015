"""The reduction a plan would bring (社区二氧化碳排放下降率): plan measures of ``ditan run --scenario plan.yaml``.

Every expectation is worked out here, spreadsheet-style, from the building footprints and uses, the base run's roofs
table and inventory and the factor values (typed, or read from the run's factor table), never from the scenario code.
"""

from __future__ import annotations

import math
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from conftest import box, gdf

from ditan.pipelines.config.schema import load_config
from ditan.pipelines.jobs.run import run
from ditan.pipelines.jobs.scenario_plan import _added_parcels, read_plan, read_plan_file
from ditan.spatial.errors import ConfigError
from ditan.spatial.indicators import carbon
from ditan.spatial.indicators.carbon_plan import added_floor_by_unit, plan_carbon
from ditan.spatial.indicators.intensity import building_pieces
from ditan.spatial.standards.carbon import resolve_factors
from ditan.spatial.standards.carbon_measures import check_landuse_uses, parse_measures
from ditan.spatial.standards.compliance import evaluate
from ditan.spatial.standards.profiles import load_profile

ROOT = Path(__file__).resolve().parents[1]
BEIJING_CFG = ROOT / "pipelines" / "configs" / "beijing_haidian.yaml"
#: 整县屋顶分布式光伏 installable shares, typed (unknown use: the public-building share)
SHARE = {"government": 0.5, "school": 0.4, "hospital": 0.4, "public": 0.4, "unknown": 0.4, "industrial": 0.3,
         "commercial": 0.3, "office": 0.3, "hotel": 0.3, "storage": 0.3, "residential": 0.2}  # fmt: skip
BOUNDS = ("value", "low", "high")


# ---- (a) acceptance: PV on 30 % of the Beijing sample's eligible roofs -------------------------------------------


@pytest.fixture(scope="module")
def beijing_pv(tmp_path_factory):
    d = tmp_path_factory.mktemp("pv")
    plan = d / "pv30.yaml"
    plan.write_text("name: 屋顶光伏 30 %\nmeasures:\n  rooftop_pv_share: 0.3\n", encoding="utf-8")
    out = run(load_config(BEIJING_CFG), d / "out", scenario=plan)
    return out


def _factor(table: pd.DataFrame, prefix: str) -> dict[str, float]:
    row = table[table["factor"].str.startswith(prefix)]
    assert len(row) == 1, prefix
    r = row.iloc[0]
    return {"value": float(r["value"]), "low": float(r["low"]), "high": float(r["high"])}


def test_pv_on_30pct_of_the_beijing_roofs_gives_the_spreadsheet_rate(beijing_pv):
    out = beijing_pv
    res, sa = out.result, out.study
    roofs = res.carbon.roofs
    # the roofs table: installable = roof × the use's share (typed)
    assert np.allclose(
        roofs["installable_m2"], roofs["roof_m2"] * roofs["use"].map(SHARE), rtol=1e-9
    )
    # each unit's installable roof: the roofs inside it × the share of each building's use; where footprints
    # overlap (0.1 % of the sample's roof area) the roof is the taller building's, counted once
    units, b = sa.units, sa.buildings.loc[roofs.index]
    geoms = b.geometry.to_numpy()
    rank = np.argsort(-b["floors"].to_numpy(dtype=float), kind="stable")
    before = np.empty(len(rank), dtype=np.int64)
    before[rank] = np.arange(len(rank))
    tree = shapely.STRtree(geoms)
    own = geoms.copy()
    for i in range(len(geoms)):
        taller = [j for j in tree.query(geoms[i], predicate="intersects") if before[j] < before[i]]
        if taller:
            own[i] = shapely.difference(geoms[i], shapely.union_all(geoms[taller]))
    share = roofs["use"].map(SHARE).to_numpy()
    inst = roofs["installable_m2"].to_numpy()
    per_unit = np.array(
        [
            (share * shapely.area(shapely.intersection(own, u))).sum()
            for u in units.geometry.to_numpy()
        ]
    )
    assert per_unit.sum() == pytest.approx(inst.sum(), rel=1e-3)
    factors = pd.read_csv(out.out_dir / "carbon_factors.csv")
    grid = _factor(factors, "grid electricity")["value"]
    assert grid == pytest.approx(0.558)  # 北京 2022
    kwp, ghi, pr = (
        _factor(factors, "PV power per m²"),
        _factor(factors, "annual horizontal irradiation"),
        _factor(factors, "PV performance ratio"),
    )
    # the baseline of an existing community: the base run's inventory (its building rows), per bound
    inv = pd.read_csv(out.out_dir / "carbon_inventory.csv")
    build = inv[inv["sector"].str.startswith("buildings")]
    rates = {}
    for bd, s in zip(BOUNDS, ("", "_low", "_high"), strict=True):
        base = build.groupby("unit_id")[f"co2_t{s}"].sum().reindex(units.index).to_numpy()
        pv_mwh = per_unit * 0.3 * kwp[bd] * ghi[bd] * pr[bd] / 1000.0
        rates[bd] = pv_mwh * grid / base * 100.0
    scen = pd.read_csv(out.out_dir / "scenario_indicators.csv", index_col="unit_id")
    got = scen["co2_reduction_rate_pct"].reindex(units.index).to_numpy()
    assert np.isfinite(got).all()
    assert np.abs(got - rates["value"]).max() < 0.1  # to 0.1 percentage point
    stack = np.vstack([rates[bd] for bd in BOUNDS])
    assert np.abs(scen["co2_reduction_rate_pct_low"].to_numpy() - stack.min(axis=0)).max() < 0.1
    assert np.abs(scen["co2_reduction_rate_pct_high"].to_numpy() - stack.max(axis=0)).max() < 0.1
    # the sample as a whole: PV on 30 % of every eligible roof, over the buildings' CO2
    whole = (inst.sum() * 0.3 * kwp["value"] * ghi["value"] * pr["value"] / 1000 * grid) / build[
        "co2_t"
    ].sum()
    plan = pd.read_csv(out.out_dir / "scenario_carbon.csv", index_col="unit_id")
    assert (plan["baseline_co2_t"] - plan["plan_co2_t"]).sum() / plan[
        "baseline_co2_t"
    ].sum() == pytest.approx(whole, rel=1e-3)


def test_the_rate_in_the_comparison_compliance_and_without_a_plan(beijing_pv):
    out = beijing_pv
    res = out.result
    cmp = pd.read_csv(out.out_dir / "scenario_comparison.csv")
    rows = cmp[cmp["indicator"] == "co2_reduction_rate_pct"]
    assert len(rows) == len(res.indicators) and rows["base"].isna().all()
    assert rows["scenario"].notna().all() and rows["changed"].all()
    # the base run has no plan: NaN, with the reason, not a data gap
    assert res.indicators["co2_reduction_rate_pct"].isna().all()
    r = res.reasons[res.reasons["column"] == "co2_reduction_rate_pct"]
    assert set(r["reason"]) == {"no_plan"} and not r["data_gap"].any()
    profile = load_profile("lowcarbon_pilot_2015")
    alone = evaluate(res.indicators, profile, kind="existing", reasons=res.reasons)
    t2 = alone[alone["rule_id"] == "t2_co2_reduction"]
    assert (t2["status"] == "not_assessable").all() and t2["reason"].str.contains("no plan").all()
    # with the plan, compliance checks its rate against ≥ 10 % (表2, binding); PV alone stays below
    comp = pd.read_csv(out.out_dir / "compliance.csv")
    c = comp[comp["rule_id"] == "t2_co2_reduction"].set_index("unit_id")
    scen = pd.read_csv(out.out_dir / "scenario_indicators.csv", index_col="unit_id")
    assert np.allclose(c["measured"], scen["co2_reduction_rate_pct"].reindex(c.index), atol=1e-3)
    assert (c["status"] == "fail").all() and (c["binding"] == "binding").all()
    assert (c["target"] == "≥ 10").all()
    # 可再生能源替代率: assessed on the potential, and the output says so
    rn = comp[comp["rule_id"] == "t2_renewable_substitution"].set_index("unit_id")
    assert np.allclose(
        rn["measured"],
        res.indicators["renewable_substitution_potential_pct"].reindex(rn.index),
        atol=1e-3,
    )
    assert rn["note"].str.contains("潜力 potential").all() and (rn["binding"] == "guiding").all()
    assert out.manifest["scenario"]["measures"]["rooftop_pv_share"] == 0.3


def test_a_plan_of_measures_only_is_not_computed_again(beijing_pv, monkeypatch, tmp_path):
    """No changes: the base run's result, copied, with the plan's rate; as computed again."""
    from geopandas.testing import assert_geodataframe_equal

    from ditan.pipelines.compute.indicators import Timer, compute
    from ditan.pipelines.config.params import params_from_config
    from ditan.pipelines.jobs import scenario_plan
    from ditan.pipelines.jobs.run import profile_radii
    from ditan.pipelines.jobs.scenario_apply import apply_scenario
    from ditan.pipelines.jobs.scenario_compare import compare

    sa, base = beijing_pv.study, beijing_pv.result
    cfg = load_config(BEIJING_CFG)
    params, kind = params_from_config(cfg), cfg.compliance.kind
    radii = profile_radii(load_profile(cfg.compliance.profile))
    plan_file = tmp_path / "pv30.yaml"
    plan_file.write_text("measures:\n  rooftop_pv_share: 0.3\n", encoding="utf-8")
    scenario = read_plan(read_plan_file(plan_file), sa)
    assert not scenario.changes
    # the study area changed by nothing and computed again (what run_plan did before)
    again = compute(apply_scenario(sa, scenario), params, Timer(), extra_radii_m=radii)
    plan_again = scenario_plan.plan_reduction(
        base, again, scenario, sa, scenario_plan.unit_kinds(sa, kind)
    )
    scenario_plan.apply_plan(again, plan_again)

    def computed(*args, **kw):
        raise AssertionError("a plan of measures only computed the study area again")

    monkeypatch.setattr(scenario_plan, "compute", computed)
    scen, comparison, plan = scenario_plan.run_plan(sa, scenario, base, params, radii, kind)
    pd.testing.assert_frame_equal(scen.indicators, again.indicators)
    pd.testing.assert_frame_equal(scen.reasons, again.reasons)
    assert_geodataframe_equal(scen.units, again.units)
    pd.testing.assert_frame_equal(comparison, compare(base, again))
    pd.testing.assert_frame_equal(plan.table, plan_again.table)
    # the plan's rate went into the copies, not into the base run
    assert scen.indicators["co2_reduction_rate_pct"].notna().all()
    assert base.indicators["co2_reduction_rate_pct"].isna().all()
    assert set(base.reasons.loc[base.reasons["column"] == "co2_reduction_rate_pct", "reason"]) == {
        "no_plan"
    }


# ---- (b), (c) a hand fixture: green buildings, heat pumps, added parcels -------------------------------------------

# factors of the fixture (the config's overrides): residential 30 kWh/m², district heat 0.25 GJ/m², grid 0.5
GRID, EUI, HEAT, HEAT_T = 0.5, 30.0, 0.25, 0.11
OVERRIDES = {
    "grid_kg_per_kwh": GRID,
    "eui_kwh_per_m2": {"residential": EUI},
    "heating_gj_per_m2": HEAT,
}
FLOOR = 10_000.0  # each unit: a residential block 20 × 50 m of 10 floors


@pytest.fixture
def blocks():
    units = gdf(
        [
            {"unit_id": "A", "name": "新建", "geometry": box(0, 0, 200, 200)},
            {"unit_id": "B", "name": "既有", "geometry": box(200, 0, 400, 200)},
        ]
    ).set_index("unit_id")
    b = gdf(
        [
            {
                "building": "apartments",
                "floors": 10.0,
                "residential": True,
                "geometry": box(20, 20, 40, 70),
            },
            {
                "building": "apartments",
                "floors": 10.0,
                "residential": True,
                "geometry": box(220, 20, 240, 70),
            },
        ]
    )
    b["floors_source"] = "levels"
    f = resolve_factors((116.35, 40.0), OVERRIDES)
    inv = carbon.carbon_inventory(
        units, b, building_pieces(units, b), f, population=np.array([300.0, 300.0])
    )
    return units, f, inv


def _plan(blocks, measures: dict, added=None, parcels=None):
    units, f, inv = blocks
    co2 = inv.table["building_co2_t_per_year"].to_numpy()
    return plan_carbon(
        inv,
        f,
        parse_measures(measures),
        index=units.index,
        kinds=["new", "existing"],
        added_floor=np.zeros((2, len(carbon.USES))) if added is None else added,
        base_co2={"value": co2, "low": co2, "high": co2},
        parcels=parcels,
    )


def test_green_buildings_and_heat_pumps_by_hand(blocks):
    base = FLOOR * (EUI / 1000 * GRID + HEAT * HEAT_T)  # 150 t electricity + 275 t heat = 425 t
    assert base == pytest.approx(425.0)
    p = _plan(
        blocks,
        {
            "green_building_share": 0.5,
            "green_building_saving_pct": 20,
            "district_heating_to_heat_pump_share": 0.4,
            "heat_pump_cop": 3,
        },
    ).table
    # A, a new community: all its floor area is new; 10 % of its energy saved (0.5 × 20 %)
    e, h = 300.0 * 0.9, 2500.0 * 0.9  # MWh, GJ
    hp = 0.4 * h / 3.6 / 3  # heat-pump electricity
    plan_a = (e + hp) * GRID + 0.6 * h * HEAT_T
    assert plan_a == pytest.approx(325.1667, abs=1e-3)
    assert p.loc["A", "baseline_co2_t"] == pytest.approx(base)
    assert p.loc["A", "co2_reduction_rate_pct"] == pytest.approx((base - plan_a) / base * 100)
    assert p.loc["A", "new_floor_area_m2"] == pytest.approx(FLOOR)
    # B, an existing community: no new floor area, green buildings save nothing; the heat pumps do
    hp_b = 0.4 * 2500.0 / 3.6 / 3
    plan_b = (300.0 + hp_b) * GRID + 0.6 * 2500.0 * HEAT_T
    assert p.loc["B", "heat_pump_electricity_mwh"] == pytest.approx(hp_b)
    assert p.loc["B", "green_building_saving_mwh"] == 0.0
    assert p.loc["B", "co2_reduction_rate_pct"] == pytest.approx((base - plan_b) / base * 100)
    # the bounds: the COP's range (2.3–3.5 by default) moves the rate; the other factors are fixed here
    q = _plan(blocks, {"district_heating_to_heat_pump_share": 1.0}).table
    rate = {cop: (base - (300 + 2500 / 3.6 / cop) * GRID) / base * 100 for cop in (2.3, 3.0, 3.5)}
    assert q.loc["B", "co2_reduction_rate_pct"] == pytest.approx(rate[3.0])
    assert q.loc["B", "co2_reduction_rate_pct_low"] == pytest.approx(rate[2.3])
    assert q.loc["B", "co2_reduction_rate_pct_high"] == pytest.approx(rate[3.5])


def test_a_unit_without_a_pilot_kind_has_no_rate(blocks):
    units, f, inv = blocks
    co2 = inv.table["building_co2_t_per_year"].to_numpy()
    p = plan_carbon(
        inv,
        f,
        parse_measures({"rooftop_pv_share": 0.5}),
        index=units.index,
        kinds=[None, "rural"],
        added_floor=np.zeros((2, len(carbon.USES))),
        base_co2={"value": co2, "low": co2, "high": co2},
    )
    assert math.isnan(p.table.loc["A", "co2_reduction_rate_pct"])
    assert {(u, r.code) for u, c, r in p.reasons if c == "co2_reduction_rate_pct"} == {
        ("A", "no_pilot_kind")
    }
    # B: rural, the base year: PV on half the residential roof (20 % of 1000 m² installable)
    pv = 1000 * 0.2 * 0.5 * 0.15 * 1450 * 0.8 / 1000  # MWh, 北京 factors
    assert p.table.loc["B", "co2_reduction_rate_pct"] == pytest.approx(pv * GRID / 425.0 * 100)


def test_without_buildings_the_plan_quantities_are_nan_not_0(blocks):
    """No building layer: floor area and energy are unknown, so the plan's quantities are NaN, not 0."""
    units, f, _ = blocks
    inv = carbon.carbon_inventory(
        units, None, None, f, population=np.full(2, np.nan), buildings_missing="no building source"
    )
    nan2 = np.full(2, np.nan)
    p = plan_carbon(
        inv,
        f,
        parse_measures(
            {"green_building_share": 0.5, "green_building_saving_pct": 20, "rooftop_pv_share": 0.5}
        ),
        index=units.index,
        kinds=["new", "existing"],
        added_floor=np.zeros((2, len(carbon.USES))),
        base_co2={"value": nan2, "low": nan2, "high": nan2},
    ).table
    for col in ("new_floor_area_m2", "building_co2_t", "plan_co2_t", "green_building_saving_mwh",
                "heat_pump_electricity_mwh", "baseline_co2_t", "co2_reduction_rate_pct"):  # fmt: skip
        assert p[col].isna().all(), col


def test_rooftop_pv_by_use_by_hand():
    """rooftop_pv_share {residential: 0.2, school: 0.6} on an existing unit with both uses.

    Roofs: a residential block 20 × 50 m (1000 m², 10 floors) and a school 20 × 20 m (400 m²,
    2 floors). Installable (整县光伏 shares): 1000 × 0.2 = 200 m² and 400 × 0.4 = 160 m², 360 m² in
    all. PV fitted: 0.2 × 200 + 0.6 × 160 = 136 m² (37.8 % of the installable) → 136 × 0.15 kWp =
    20.4 kWp × 1450 kWh/m² × 0.8 = 23.664 MWh. The base year: residential 10,000 m² × (30 kWh × 0.5
    + 0.25 GJ × 0.11) = 425 t; school 800 m² × (40 kWh × 0.5 + 0.0275) = 38 t.
    """
    units = gdf([{"unit_id": "A", "name": "既有", "geometry": box(0, 0, 200, 200)}]).set_index(
        "unit_id"
    )
    b = gdf(
        [
            {
                "building": "apartments",
                "floors": 10.0,
                "residential": True,
                "geometry": box(20, 20, 40, 70),
            },
            {
                "building": "school",
                "floors": 2.0,
                "residential": False,
                "geometry": box(100, 20, 120, 40),
            },
        ]
    )
    b["floors_source"] = "levels"
    over = OVERRIDES | {"eui_kwh_per_m2": {"residential": EUI, "school": 40.0}}
    f = resolve_factors((116.35, 40.0), over)
    inv = carbon.carbon_inventory(
        units, b, building_pieces(units, b), f, population=np.array([300.0])
    )
    base = 10_000 * (EUI / 1000 * GRID + HEAT * HEAT_T) + 800 * (40 / 1000 * GRID + HEAT * HEAT_T)
    assert base == pytest.approx(463.0)
    assert inv.table["building_co2_t_per_year"].iat[0] == pytest.approx(base)
    p = plan_carbon(
        inv,
        f,
        parse_measures({"rooftop_pv_share": {"residential": 0.2, "school": 0.6}}),
        index=units.index,
        kinds=["existing"],
        added_floor=np.zeros((1, len(carbon.USES))),
        base_co2={"value": np.array([base]), "low": np.array([base]), "high": np.array([base])},
    ).table
    assert p.loc["A", "pv_share_of_installable_pct"] == pytest.approx(136 / 360 * 100)
    assert p.loc["A", "pv_mwh"] == pytest.approx(23.664)
    assert p.loc["A", "pv_mwh_low"] == pytest.approx(136 * 0.10 * 1350 * 0.75 / 1000)  # 13.77
    assert p.loc["A", "pv_mwh_high"] == pytest.approx(136 * 0.20 * 1550 * 0.85 / 1000)  # 35.836
    assert p.loc["A", "plan_co2_t"] == pytest.approx(463.0 - 23.664 * 0.5)
    assert p.loc["A", "co2_reduction_rate_pct"] == pytest.approx(11.832 / 463.0 * 100)


def _reasons_unit_by_unit(table: pd.DataFrame, scen_reasons: dict) -> list:
    """The reasons as given before vectorising: one unit at a time, in order of precedence."""
    from ditan.spatial.standards import reasons as R

    rate_columns = [
        "co2_reduction_rate_pct",
        "co2_reduction_rate_pct_low",
        "co2_reduction_rate_pct_high",
    ]
    rows = []
    whole = scen_reasons.get("building_co2_t_per_year")
    pv_why = scen_reasons.get("rooftop_pv_mwh_per_year")
    for uid in table.index:
        kind, pv = table.loc[uid, "kind"], table.loc[uid, "pv_share_of_installable_pct"]
        reason = None
        if whole is not None:
            reason = R.CARBON_FACTOR.format(why=whole[0], why_zh=whole[1])
        elif kind == "":
            reason = R.NO_PILOT_KIND
        elif pv > 0 and pv_why is not None:
            reason = R.CARBON_FACTOR.format(why=pv_why[0], why_zh=pv_why[1])
        elif not np.isfinite(table.loc[uid, "co2_reduction_rate_pct"]):
            reason = R.NO_BASELINE
        if reason is not None:
            rows += [(uid, c, reason) for c in rate_columns]
    return rows


@pytest.mark.parametrize("seed", range(6))
def test_rate_reasons_on_random_units_as_unit_by_unit(seed):
    """Random kinds, roofs, baselines and whole-run gaps: the reasons and rates as unit by unit."""
    rng = np.random.default_rng(seed)
    n, k, grid = 300, len(carbon.USES), 0.558  # 北京
    index = pd.Index([f"U{i:04d}" for i in rng.permutation(n)], name="unit_id")
    inst = rng.uniform(0, 50, (n, k)) * (rng.random((n, k)) < 0.3)
    inst[rng.random(n) < 0.2] = 0.0  # no roof: no PV
    pv, energy = rng.uniform(0, 10, n), rng.uniform(0, 100, n)
    why = {}
    if seed % 3 == 0:
        why["rooftop_pv_mwh_per_year"] = ("no irradiation", "无辐照")
    if seed == 4:
        why["building_co2_t_per_year"] = ("no grid factor", "无电网因子")
    # every unit: 1000 m² residential, its electricity ``energy`` MWh, no district heat
    res = np.arange(k) == carbon.USES.index("residential")
    elec = {b: energy[:, None] * res for b in BOUNDS}
    table = pd.DataFrame({f"rooftop_pv_mwh_per_year{s}": pv for s in ("", "_low", "_high")}, index)
    scen = carbon.CarbonResult(
        table,
        pd.DataFrame(),
        pd.DataFrame(),
        why,
        installable_by_use=inst,
        floor_by_use=1000.0 * res * np.ones((n, 1)),
        electricity_by_use=elec,
        heat_by_use={b: np.zeros((n, k)) for b in BOUNDS},
    )
    kinds = list(rng.choice(np.array(["new", "existing", "rural", "town", None], dtype=object), n))
    co2 = np.where(rng.random(n) < 0.2, rng.choice([0.0, np.nan], n), rng.uniform(1, 500, n))
    p = plan_carbon(
        scen,
        resolve_factors((116.35, 40.0)),
        parse_measures({"rooftop_pv_share": 0.3}),
        index=index,
        kinds=kinds,
        added_floor=np.zeros((n, k)),
        base_co2={"value": co2, "low": co2, "high": co2},
    )
    expect = _reasons_unit_by_unit(p.table, why)
    assert p.reasons == expect and len(expect) > 0
    # the rate by hand: plan = building CO2 − 30 % of the PV potential (with a roof) × grid;
    # baseline: a new community's plan without measures, else the base year; NaN where a reason is
    building = energy * grid
    plan = building - pv * 0.3 * grid * (inst.sum(axis=1) > 0)
    kind = np.array([x if x in ("new", "existing", "rural") else "" for x in kinds], dtype=object)
    baseline = np.where(kind == "new", building, np.where(kind == "", np.nan, co2))
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(baseline > 0, (baseline - plan) / baseline * 100, np.nan)
    nan_units = index.isin([u for u, _, _ in expect])
    rate[nan_units] = np.nan
    for c in (
        "co2_reduction_rate_pct",
        "co2_reduction_rate_pct_low",
        "co2_reduction_rate_pct_high",
    ):
        assert p.table[c].to_numpy() == pytest.approx(rate, nan_ok=True), c


def test_added_parcels_raise_the_floor_area_and_the_baseline_of_a_new_community(blocks):
    units = blocks[0]
    parcels = pd.DataFrame(
        {
            "row": [1, 2, 3],
            # a residential parcel 50 × 40 m half in A, half in B, FAR 2.5: 5000 m², 2500 in each
            # a park with a floor area given: no building floor counted; a commercial parcel without FAR or floor area
            "geometry": [box(175, 50, 225, 90), box(20, 120, 60, 160), box(250, 120, 290, 160)],
            "lu_class": ["residential", "park", "commercial"],
            "floor_area_m2": [np.nan, 800.0, np.nan],
            "far": [2.5, np.nan, np.nan],
        }
    )
    added, rows = added_floor_by_unit(units, parcels)
    res = carbon.USES.index("residential")
    assert added[:, res] == pytest.approx([2500.0, 2500.0])
    assert added.sum() == pytest.approx(5000.0)
    assert rows["floor_area_m2"].iloc[0] == pytest.approx(5000.0)
    assert "no building floor area" in rows["note"].iloc[1]
    assert "no floor_area or far" in rows["note"].iloc[2]
    p = _plan(blocks, {}, added=added, parcels=rows).table
    per_m2 = EUI / 1000 * GRID + HEAT * HEAT_T  # 0.0425 t per m²
    # A (new): the baseline is the plan's floor area at the constraint values: it rises with the parcel; no
    # measure: no reduction
    assert p.loc["A", "baseline_co2_t"] == pytest.approx((FLOOR + 2500) * per_m2)
    assert p.loc["A", "co2_reduction_rate_pct"] == pytest.approx(0.0, abs=1e-9)
    assert p.loc["A", "new_floor_area_m2"] == pytest.approx(FLOOR + 2500)
    # B (existing): the baseline stays the base year; the added floor area raises the plan's emission
    assert p.loc["B", "baseline_co2_t"] == pytest.approx(FLOOR * per_m2)
    assert p.loc["B", "co2_reduction_rate_pct"] == pytest.approx(-25.0)
    # green buildings on the new floor area: B's new floor area is the parcel's half
    g = _plan(
        blocks,
        {"green_building_share": 1.0, "green_building_saving_pct": 40},
        added=added,
        parcels=rows,
    ).table
    assert g.loc["B", "plan_co2_t"] == pytest.approx(FLOOR * per_m2 + 2500 * per_m2 * 0.6)


def test_a_plan_file_with_changes_reads_its_parcels(tmp_path):
    sa = _beijing_study_area()
    # a residential parcel 40 × 40 m, FAR 2 (3200 m²), on the first unit's centre, drawn in WGS 84
    x0, y0, x1, y1 = sa.units.geometry.iloc[0].bounds
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    poly = shapely.box(cx - 20, cy - 20, cx + 20, cy + 20)
    changes = tmp_path / "changes.geojson"
    gpd.GeoDataFrame(
        {
            "action": ["add"],
            "layer": ["parcel"],
            "code": ["R2"],
            "code_system": ["gb50137"],
            "far": [2.0],
        },
        geometry=[poly],
        crs=sa.crs,
    ).to_crs("EPSG:4326").to_file(changes)
    plan = tmp_path / "plan.yaml"
    plan.write_text(
        "changes: changes.geojson\nmeasures: {rooftop_pv_share: 0.2}\n", encoding="utf-8"
    )
    pf = read_plan_file(plan)
    assert pf.changes == changes and pf.measures.rooftop_pv_share["school"] == 0.2
    scen = read_plan(pf, sa)
    assert scen.measures is pf.measures and len(scen.changes) == 1
    assert scen.summary()["changes_file"]["file"] == str(changes)
    added, rows = added_floor_by_unit(sa.units, _added_parcels(scen))
    inside = shapely.area(shapely.intersection(sa.units.geometry.to_numpy(), poly)) / 1600.0
    assert rows["floor_area_m2"].iloc[0] == pytest.approx(3200.0, rel=1e-4)
    assert added.sum(axis=1) == pytest.approx(inside * 3200.0, rel=1e-4)
    assert added[:, carbon.USES.index("residential")].sum() == pytest.approx(3200.0, rel=1e-4)


def _beijing_study_area():
    from ditan.pipelines.assemble.load import load_study_area

    return load_study_area(load_config(BEIJING_CFG))


# ---- (d) bad measures refused, with their key path ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("measures", "message"),
    [
        ({"rooftop_pv_share": 30}, r"measures\.rooftop_pv_share: 30 is outside 0–1 \(if you meant 30 %, write 0\.3\)"),
        ({"rooftop_pv_share": {"housing": 0.3}}, r"measures\.rooftop_pv_share\.housing: unknown building use"),
        ({"rooftop_pv_share": {"school": -0.1}}, r"measures\.rooftop_pv_share\.school: -0\.1 is outside 0–1"),
        ({"rooftop_pv_share": "all"}, r"measures\.rooftop_pv_share: 'all' is not a number"),
        ({"green_building_share": 0.7}, r"measures\.green_building_saving_pct: missing"),
        ({"green_building_share": 0.7, "green_building_saving_pct": 130}, r"green_building_saving_pct: 130 is not a percentage 0–100"),
        ({"district_heating_to_heat_pump_share": 1.5}, r"measures\.district_heating_to_heat_pump_share: 1\.5 is outside 0–1"),
        ({"heat_pump_cop": 0.5}, r"measures\.heat_pump_cop: 0\.5 is not a coefficient of performance 1–8"),
        ({"heat_pump_cop": {"value": 3, "low": 4}}, r"measures\.heat_pump_cop: .* low ≤ value ≤ high"),
        ({"rooftop_pv": 0.3}, r"measures\.rooftop_pv: unknown measure; did you mean 'rooftop_pv_share'\?"),
    ],
)  # fmt: skip
def test_bad_measures_are_refused_with_their_key_path(measures, message):
    with pytest.raises(ConfigError, match=message):
        parse_measures(measures)


def test_every_problem_at_once_one_line_each():
    with pytest.raises(ConfigError) as e:
        parse_measures({"rooftop_pv_share": 2, "district_heating_to_heat_pump_share": -1})
    lines = str(e.value).splitlines()
    assert lines[0].startswith("2 problem(s)") and len(lines) == 3


def test_bad_plan_files_stop_the_run_before_loading(tmp_path):
    cfg = load_config(BEIJING_CFG)
    bad = tmp_path / "plan.yaml"
    bad.write_text("measures:\n  rooftop_pv_share: 1.3\n", encoding="utf-8")
    with pytest.raises(
        ConfigError, match=r"(?s)plan\.yaml: .*measures\.rooftop_pv_share: 1\.3 is outside 0–1"
    ):
        run(cfg, tmp_path / "o", scenario=bad)
    assert not (tmp_path / "o").exists()
    bad.write_text("measure:\n  rooftop_pv_share: 0.3\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"measure: unknown key; did you mean 'measures'\?"):
        read_plan_file(bad)
    bad.write_text("changes: nowhere.gpkg\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"changes: file not found: .*nowhere\.gpkg"):
        read_plan_file(bad)
    bad.write_text("measures: [0.3]\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"measures: expected a mapping of measures"):
        read_plan_file(bad)
    bad.write_text("measures: {rooftop_pv_share: 0.3}\n", encoding="utf-8")
    off = cfg.model_copy(update={"carbon": cfg.carbon.model_copy(update={"enabled": False})})
    with pytest.raises(ConfigError, match=r"carbon\.enabled is false"):
        run(off, tmp_path / "o", scenario=bad)


def test_the_measures_yaml_maps_every_land_use_class():
    check_landuse_uses()
