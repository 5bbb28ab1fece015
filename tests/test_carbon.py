"""碳盘查: every carbon column recomputed by hand from the published factors typed in here (not read from the table).

Fixture (metric CRS, Beijing): unit A holds a residential block 20 × 10 m of 6 floors and an office 10 × 10 m of
4 floors; unit B an industrial shed 20 × 10 m of 1 floor and a building of unknown use ("yes", not residential)
10 × 10 m of 1 floor. Beijing: 寒冷 zone, district heating, grid 0.558 kgCO₂/kWh (2022 provincial).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from conftest import box, gdf
from pydantic import ValidationError

from ditan.pipelines.config.carbon import CarbonOptions
from ditan.spatial.indicators import carbon
from ditan.spatial.indicators.intensity import building_pieces
from ditan.spatial.standards.carbon import nearest_province, resolve_factors

# ---- the published values, typed from the sources (GB/T 51161 表4.2.1 / 表5.2.1, the 2022 grid notice …)
GRID = 0.558  # 北京 2022 provincial, kgCO2/kWh
RES = (
    2700 / 95,
    2100 / 95,
    2700 / 95,
)  # 严寒和寒冷 residential per household ÷ 95 m², (value, low, high)
OFFICE = (65.0, 55.0, 80.0)  # A类 商业办公 constraint, guide; B类 constraint
PUBLIC = OFFICE  # unknown use: the other-public-building intensity
HEAT = (0.25, 0.20, 0.30)  # GJ/m², 寒冷
HEAT_T = 0.11  # tCO2/GJ
KWP = (0.15, 0.10, 0.20)
GHI = (1450.0, 1350.0, 1550.0)  # 北京 ∓ 100
PR = (0.80, 0.75, 0.85)
TREE = (10.3, 6.6, 12.5)  # tCO2/ha/a
SHARE = {"residential": 0.2, "office": 0.3, "industrial": 0.3, "unknown": 0.4}
BEIJING = (116.35, 40.0)


@pytest.fixture
def case():
    units = gdf(
        [
            {"unit_id": "A", "name": "甲", "geometry": box(0, 0, 100, 100)},
            {"unit_id": "B", "name": "乙", "geometry": box(100, 0, 200, 100)},
        ]
    ).set_index("unit_id")
    b = gdf(
        [
            {
                "building": "apartments",
                "floors": 6.0,
                "residential": True,
                "geometry": box(10, 10, 30, 20),
            },
            {
                "building": "office",
                "floors": 4.0,
                "residential": False,
                "geometry": box(50, 50, 60, 60),
            },
            {
                "building": "industrial",
                "floors": 1.0,
                "residential": False,
                "geometry": box(110, 10, 130, 20),
            },
            {
                "building": "yes",
                "floors": 1.0,
                "residential": False,
                "geometry": box(150, 50, 160, 60),
            },
        ]
    )
    b["floors_source"] = "levels"
    return units, b, building_pieces(units, b)


def _run(case, **kw):
    units, b, pieces = case
    f = resolve_factors(BEIJING)
    args = {"population": np.array([50.0, np.nan]), "tree_m2": np.array([2000.0, 0.0])} | kw
    return carbon.carbon_inventory(units, b, pieces, f, **args)


def test_place_and_factors():
    assert nearest_province(*BEIJING)[0] == "北京"
    assert nearest_province(113.3, 23.1)[0] == "广东"  # 广州
    assert nearest_province(121.5, 31.2)[0] == "上海"
    assert nearest_province(151.2, -33.9)[0] is None  # Sydney: outside China
    f = resolve_factors(BEIJING)
    assert f.climate_zone == "寒冷" and f.grid_kg_per_kwh == GRID
    # Chengdu: 四川's own factor; Lhasa: no provincial factor, the 西南 regional one
    assert resolve_factors((104.07, 30.6)).grid_kg_per_kwh == 0.1404
    assert resolve_factors((91.1, 29.6)).grid_kg_per_kwh == 0.2268
    # Hong Kong is outside the notice: no factor, and the reason says what to set
    hk = resolve_factors((114.17, 22.3))
    assert math.isnan(hk.grid_kg_per_kwh) and "carbon.grid_kg_per_kwh" in hk.why_no_grid
    assert hk.heating_gj_per_m2 is None  # 夏热冬暖: no district heating
    assert all(r["source"] for r in f.table())


@pytest.mark.parametrize("b_i, bound", [(0, "value"), (1, "low"), (2, "high")])
def test_hand_computed_columns(case, b_i, bound):
    t = _run(case).table
    s = {"value": "", "low": "_low", "high": "_high"}[bound]
    # unit A: 1200 m² residential + 400 m² office, all heated
    elec_a = 1200 * RES[b_i] / 1000 + 400 * OFFICE[b_i] / 1000  # MWh
    heat_a = 1600 * HEAT[b_i]  # GJ
    energy_a = elec_a + heat_a / 3.6
    co2_a = elec_a * GRID + heat_a * HEAT_T
    # unit B: industrial left out; 100 m² of unknown use at the public intensity, heated
    elec_b = 100 * PUBLIC[b_i] / 1000
    co2_b = elec_b * GRID + 100 * HEAT[b_i] * HEAT_T
    assert t[f"building_energy_mwh_per_year{s}"].to_numpy() == pytest.approx(
        [energy_a, elec_b + 100 * HEAT[b_i] / 3.6]
    )
    assert t[f"building_co2_t_per_year{s}"].to_numpy() == pytest.approx([co2_a, co2_b])
    assert t[f"co2_per_floor_area_kg_per_m2{s}"].to_numpy() == pytest.approx(
        [co2_a * 1000 / 1600, co2_b * 1000 / 100]
    )
    pc = t[f"co2_per_capita_t{s}"].to_numpy()
    assert pc[0] == pytest.approx(co2_a / 50) and np.isnan(pc[1])
    # roofs: 200 m² residential × 0.2 + 100 m² office × 0.3 = 70 m²; B: 200 × 0.3 + 100 × 0.4 = 100 m²
    kwp = np.array([70.0, 100.0]) * KWP[b_i]
    assert t[f"rooftop_pv_kwp{s}"].to_numpy() == pytest.approx(kwp)
    mwh = kwp * GHI[b_i] * PR[b_i] / 1000
    assert t[f"rooftop_pv_mwh_per_year{s}"].to_numpy() == pytest.approx(mwh)
    sink = 0.2 * TREE[b_i]
    assert t[f"carbon_sink_t_per_year{s}"].to_numpy() == pytest.approx([sink, 0.0])


def test_ratios_take_opposite_bounds(case):
    t = _run(case).table
    energy = t["building_energy_mwh_per_year"].to_numpy()
    co2 = t["building_co2_t_per_year"].to_numpy()
    pv = t["rooftop_pv_mwh_per_year"].to_numpy()
    assert t["renewable_substitution_potential_pct"].to_numpy() == pytest.approx(pv / energy * 100)
    assert t["renewable_substitution_potential_pct_low"].iat[0] == pytest.approx(
        t["rooftop_pv_mwh_per_year_low"].iat[0]
        / t["building_energy_mwh_per_year_high"].iat[0]
        * 100
    )
    ratio = t["source_sink_ratio"].to_numpy()
    assert ratio[0] == pytest.approx(co2[0] / (0.2 * TREE[0]))
    assert np.isnan(ratio[1])  # no tree cover in B: undefined, not 0 or infinite
    assert t["source_sink_ratio_low"].iat[0] == pytest.approx(
        t["building_co2_t_per_year_low"].iat[0] / t["carbon_sink_t_per_year_high"].iat[0]
    )
    assert t["carbon_floor_area_covered_pct"].to_numpy() == pytest.approx([100.0, 100 / 3])
    assert t["carbon_use_unknown_pct"].to_numpy() == pytest.approx([0.0, 100 / 3])


def test_inventory_rows_add_up(case):
    res = _run(case)
    inv, t = res.inventory, res.table
    for uid in ("A", "B"):
        rows = inv[(inv["unit_id"] == uid) & inv["sector"].str.startswith("buildings")]
        assert rows["co2_t"].sum() == pytest.approx(t.loc[uid, "building_co2_t_per_year"])
    ind = inv[inv["sector"] == "buildings · industrial"]
    assert (
        len(ind) == 1 and ind["co2_t"].isna().all()
    )  # electricity only (not heated): not estimable
    assert ind["floor_area_m2"].tolist() == [200.0]
    transport = inv[inv["sector"] == "transport"]
    assert transport["co2_t"].isna().all()
    assert transport["note"].str.contains("not assessable").all()
    # roofs of each building: residential 200 m² × 0.2 …
    assert res.roofs["installable_m2"].tolist() == pytest.approx([40.0, 30.0, 60.0, 40.0])


@pytest.mark.parametrize("b_i, bound", [(0, "value"), (1, "low"), (2, "high")])
def test_the_result_keeps_floor_and_energy_by_use(case, b_i, bound):
    """Floor area, electricity and district heat by unit × use, as plan measures read them."""
    res = _run(case)
    use = {u: i for i, u in enumerate(carbon.USES)}
    floor = np.zeros((2, len(carbon.USES)))
    floor[0, [use["residential"], use["office"]]] = [1200.0, 400.0]  # 20×10×6, 10×10×4
    floor[1, [use["industrial"], use["unknown"]]] = [200.0, 100.0]
    assert res.floor_by_use == pytest.approx(floor)
    elec, heat = np.zeros_like(floor), np.zeros_like(floor)
    elec[0, use["residential"]], heat[0, use["residential"]] = 1.2 * RES[b_i], 1200 * HEAT[b_i]
    elec[0, use["office"]], heat[0, use["office"]] = 0.4 * OFFICE[b_i], 400 * HEAT[b_i]
    elec[1, use["unknown"]], heat[1, use["unknown"]] = 0.1 * PUBLIC[b_i], 100 * HEAT[b_i]
    # industry: process energy, not estimable: 0 (left out of the totals)
    assert res.electricity_by_use[bound] == pytest.approx(elec)
    assert res.heat_by_use[bound] == pytest.approx(heat)
    # the CarbonFactors method gives the same for any floor area: 10 m² of each use
    e10, h10 = resolve_factors(BEIJING).energy_of_floor(np.full((1, len(carbon.USES)), 10.0), bound)
    assert e10[0, use["office"]] == pytest.approx(0.01 * OFFICE[b_i])
    assert e10[0, use["industrial"]] == 0.0 and h10[0, use["industrial"]] == 0.0
    assert h10[0, use["storage"]] == 0.0  # not heated by the network
    assert h10[0, use["school"]] == pytest.approx(10 * HEAT[b_i])


def test_overrides_and_other_sectors(case):
    units, b, pieces = case
    f = resolve_factors(
        BEIJING,
        {
            "grid_kg_per_kwh": 0.5,
            "district_heating": False,
            "eui_kwh_per_m2": {"office": 100.0},
            "other_sectors": {"transport": {"t_per_capita_per_year": 1.2, "source": "survey"}},
        },
    )
    t = carbon.carbon_inventory(units, b, pieces, f, population=np.array([50.0, 0.0])).table
    elec_a = 1200 * RES[0] / 1000 + 400 * 100 / 1000
    assert t["building_co2_t_per_year"].iat[0] == pytest.approx(elec_a * 0.5)
    assert t["co2_per_capita_t"].iat[0] == pytest.approx(elec_a * 0.5 / 50 + 1.2)
    assert np.isnan(t["co2_per_capita_t"].iat[1])  # nobody lives in B
    assert t["carbon_sink_t_per_year"].isna().all()  # no vegetation source given: unknown, not 0
    assert any(r["overridden"] and r["unit"] == "kgCO2/kWh" for r in f.table())


def test_no_grid_factor_is_nan_with_reason(case):
    units, b, pieces = case
    hk = resolve_factors((114.17, 22.3))
    res = carbon.carbon_inventory(units, b, pieces, hk, population=np.array([50.0, 10.0]))
    t = res.table
    assert t["building_energy_mwh_per_year"].notna().all()  # energy needs no grid factor
    for c in ("building_co2_t_per_year", "co2_per_capita_t", "co2_per_floor_area_kg_per_m2"):
        assert t[c].isna().all() and t[f"{c}_high"].isna().all()
        assert "carbon.grid_kg_per_kwh" in res.reasons[c][0]


def test_no_buildings(case):
    units, _, _ = case
    f = resolve_factors(BEIJING)
    res = carbon.carbon_inventory(
        units,
        None,
        None,
        f,
        population=np.full(2, np.nan),
        tree_m2=np.array([100.0, 0.0]),
        buildings_missing="no building source",
    )
    assert res.table["rooftop_pv_kwp"].isna().all()
    assert res.reasons["rooftop_pv_kwp"][0] == "no building source"
    assert res.table["carbon_sink_t_per_year"].iat[0] == pytest.approx(0.01 * TREE[0])
    # no floor area known: NaN by use, not 0
    assert np.isnan(res.floor_by_use).all() and np.isnan(res.electricity_by_use["low"]).all()


@pytest.mark.parametrize(
    "section, where",
    [
        ({"province": "北平"}, ("carbon", "province")),
        ({"eui_kwh_per_m2": {"offices": 70}}, ("carbon", "eui_kwh_per_m2", "offices")),
        ({"install_share": {"school": 1.5}}, ("carbon", "install_share", "school")),
        ({"performance_ratio": 1.2}, ("carbon", "performance_ratio")),
        ({"kwp_per_m2": {"value": 0.15, "low": 0.2}}, ("carbon", "kwp_per_m2")),
        ({"climate_zone": "热带"}, ("carbon", "climate_zone")),
    ],
)
def test_config_refuses_bad_values(section, where):
    with pytest.raises(ValidationError) as e:
        CarbonOptions.model_validate(section)
    locs = [tuple(err["loc"]) for err in e.value.errors()]
    assert any(loc[: len(where) - 1] == where[1:] or where[-1] in loc for loc in locs), locs


def test_config_overrides_reach_the_factors():
    o = CarbonOptions.model_validate(
        {"province": "广东", "kwp_per_m2": {"value": 0.18, "low": 0.12, "high": 0.2}}
    ).overrides()
    f = resolve_factors(BEIJING, o)
    assert f.province == "广东" and f.climate_zone == "夏热冬暖" and f.heating_gj_per_m2 is None
    assert (f.kwp_per_m2.value, f.kwp_per_m2.low, f.kwp_per_m2.high) == (0.18, 0.12, 0.2)
    assert f.grid_kg_per_kwh == 0.4403


def test_uses_from_types():
    b = pd.DataFrame(
        {
            "building": ["apartments", "yes", "yes", "School", "学校", "warehouse"],
            "residential": [False, True, False, False, False, False],
        }  # fmt: skip
    )
    assert carbon.building_uses(b).tolist() == [
        "residential", "residential", "unknown", "school", "school", "storage",
    ]  # fmt: skip
    # codes: the uses' positions in USES (residential 0, office 1, school 5, storage 8, unknown 10);
    # a missing type reads as "yes", case and spaces do not count
    b = pd.DataFrame(
        {
            "building": ["apartments", None, np.nan, " SCHOOL ", "Office", "warehouse", "学校"],
            "residential": [False, True, False, False, False, False, True],
        }
    )
    assert carbon.building_use_codes(b).tolist() == [0, 0, 10, 5, 1, 8, 5]
    expect = ["residential", "residential", "unknown", "school", "office", "storage", "school"]
    assert carbon.building_uses(b).tolist() == expect


# ---- through the run's carbon step: the study area's absent layers and the config's overrides


def _step(case, green: dict, *, absent=None, vegetation=None, carbon_cfg=None):
    from ditan.pipelines.compute.carbon_step import carbon_step
    from ditan.pipelines.config.params import CarbonParams
    from ditan.spatial.io.validate import Ledger
    from ditan.spatial.study_area.model import StudyArea

    units, b, pieces = case
    no_layer = dict.fromkeys(("bounds", "roads", "landuse", "facilities", "stations", "catalogue"))
    sa = StudyArea(
        crs=units.crs,
        units=units,
        buildings=b,
        vegetation=units.iloc[:0] if vegetation is None else vegetation,
        ledger=Ledger(),
        absent=absent or {},
        **no_layer,  # not read by the carbon step
    )
    params = CarbonParams(overrides=CarbonOptions.model_validate(carbon_cfg or {}).overrides())
    ledger = Ledger()
    green_part = pd.DataFrame(green, index=units.index)
    out = carbon_step(sa, params, pieces, green_part, np.array([50.0, np.nan]), ledger=ledger)
    return (*out, ledger)


NO_SINK_ZH, NO_SINK_EN = "无土地覆盖栅格、植被或绿地数据：碳汇未知", "sink unknown"


@pytest.mark.parametrize(
    "absent", [{"vegetation": "neither inputs.osm nor inputs.landcover is set"}, {}]
)  # absent from every source; or a layer none of whose features is left in the study area
def test_no_vegetation_source_leaves_the_sink_rows_nan_with_the_reason(case, absent):
    res, _, gaps, lines, ledger = _step(case, {"green_coverage_pct": [0.0, 0.0]}, absent=absent)
    sink = res.inventory[res.inventory["sector"].str.startswith("sink")]
    assert sink["unit_id"].tolist() == ["A", "B"]
    for c in ("co2_t", "co2_t_low", "co2_t_high"):
        assert sink[c].isna().all(), c  # nothing measured the green: not -0.0
    assert (
        sink["note"].str.contains(NO_SINK_ZH).all() and sink["note"].str.contains(NO_SINK_EN).all()
    )
    assert res.table["carbon_sink_t_per_year"].isna().all()
    assert res.table["source_sink_ratio"].isna().all()
    assert NO_SINK_EN in res.reasons["carbon_sink_t_per_year"][0]
    sink_gaps = {c: r for c, r in gaps.items() if c.startswith(("carbon_sink", "source_sink"))}
    if absent:  # the run's evidence names the absent vegetation (the sink columns need it)
        assert not sink_gaps and not [ln for ln in lines if NO_SINK_EN in ln] and not ledger.gaps
    else:  # a layer the evidence may still count (parcels' green ratios): the step names the gap
        assert len(sink_gaps) == 6 and {r.code for r in sink_gaps.values()} == {"carbon_factor"}
        assert [ln for ln in lines if NO_SINK_ZH in ln and NO_SINK_EN in ln]
    # the building rows are measured all the same
    assert res.table["building_co2_t_per_year"].notna().all()


def test_a_vegetation_layer_measures_the_sink_and_its_zero(case):
    veg = gdf([{"geometry": box(0, 0, 50, 40)}])
    res, *_ = _step(case, {"green_coverage_pct": [20.0, 0.0]}, vegetation=veg)
    sink = res.inventory[res.inventory["sector"] == "sink · green land"].set_index("unit_id")
    # A: 20 % of 1 ha = 0.2 ha × 5 tCO2/ha (green land); B: no green, measured: 0
    assert sink["co2_t"].to_numpy() == pytest.approx([-1.0, 0.0])
    assert (sink["note"] == "removal (negative); not subtracted from the building total").all()


def test_config_heat_factor_and_tree_sink_reach_the_inventory(case):
    """carbon.heat_t_per_gj 0.2 (default 0.11), carbon.sink_tree_t_per_ha 8 (6–9; default 10.3)."""
    cfg = {"heat_t_per_gj": 0.2, "sink_tree_t_per_ha": {"value": 8.0, "low": 6.0, "high": 9.0}}
    green = {"tree_cover_pct": [20.0, 0.0], "green_coverage_pct": [20.0, 0.0]}
    res, f, *_ = _step(case, green, carbon_cfg=cfg)
    inv = res.inventory
    heat = inv[inv["carrier"] == "district heat"].set_index(["unit_id", "sector"])
    # district heat: floor area × 0.25 GJ/m² (0.20 low, 0.30 high) × 0.2 tCO2/GJ
    res_a = heat.loc[("A", "buildings · residential")]
    assert res_a["energy_amount"] == pytest.approx(300.0)  # 1200 m² × 0.25
    assert (res_a["co2_t"], res_a["co2_t_low"], res_a["co2_t_high"]) == pytest.approx(
        (60.0, 48.0, 72.0)
    )
    assert heat.loc[("A", "buildings · office"), "co2_t"] == pytest.approx(20.0)  # 400 × 0.25 × 0.2
    assert heat.loc[("B", "buildings · unknown"), "co2_t"] == pytest.approx(5.0)  # 100 × 0.25 × 0.2
    elec_a = 1200 * RES[0] / 1000 + 400 * OFFICE[0] / 1000
    assert res.table["building_co2_t_per_year"].iat[0] == pytest.approx(elec_a * GRID + 80.0)
    # the sink: 0.2 ha of trees in A × 8 t (the low removal takes the high rate)
    sink = inv[inv["sector"] == "sink · tree cover"].set_index("unit_id")
    assert (sink.loc["A", "co2_t"], sink.loc["A", "co2_t_low"], sink.loc["A", "co2_t_high"]) == (
        pytest.approx((-1.6, -1.8, -1.2))
    )
    assert sink.loc["B", "co2_t"] == 0.0  # tree cover measured: none
    assert res.table["carbon_sink_t_per_year"].to_numpy() == pytest.approx([1.6, 0.0])
    assert f.heat_t_per_gj == 0.2


def test_tree_cover_from_a_class_raster(tmp_path, two_units):
    """Tree cover is measured in the green pass, and the sink rests on it.

    Unit A (1 km²) has 30 of 100 pixels of WorldCover 10 and 10 of mangroves (95), 20 of grass (30); unit B
    none. Tree cover = 40 %, the sink 40 ha × 10.3 t.
    """
    from conftest import class_raster

    from ditan.spatial.indicators.green import green_coverage_from_raster

    codes = np.full((10, 20), 50)  # built-up
    a = codes[:, :10].reshape(-1)
    a[:30], a[30:40], a[40:60] = 10, 95, 30
    codes[:, :10] = a.reshape(10, 10)
    class_raster(tmp_path / "lc.tif", codes)
    g = green_coverage_from_raster(two_units, tmp_path / "lc.tif", tree_classes=[10, 95])
    assert g["tree_cover_pct"].to_numpy() == pytest.approx([40.0, 0.0])
    assert g["green_coverage_pct"].to_numpy() == pytest.approx([60.0, 0.0])
    area = two_units.geometry.area.to_numpy()
    res = carbon.carbon_inventory(
        two_units,
        None,
        None,
        resolve_factors(BEIJING),
        population=np.full(2, np.nan),
        tree_m2=g["tree_cover_pct"].to_numpy() / 100 * area,
        buildings_missing="none",
    )
    assert res.table["carbon_sink_t_per_year"].to_numpy() == pytest.approx([40 * 10.3, 0.0])


def test_packaged_tables_are_read_once_and_left_as_read():
    """carbon_factors.yaml, carbon_measures.yaml and the registry's tables: one cached reader."""
    import sys

    from ditan.spatial.standards import packaged_yaml
    from ditan.spatial.standards.carbon import factor_tables
    from ditan.spatial.standards.carbon_measures import measure_tables

    assert factor_tables() is packaged_yaml("carbon_factors.yaml")
    assert measure_tables() is packaged_yaml("carbon_measures.yaml")
    assert factor_tables()["heating"]["factor_t_per_gj"]["value"] == HEAT_T
    reg = sys.modules["ditan.spatial.standards.registry"]
    reg._static.cache_clear()
    ids = reg._static()
    # building the registry keeps the table's bounds flags: built again, the same _low/_high entries
    assert any(d.get("bounds") for d in packaged_yaml("indicators.yaml"))
    reg._static.cache_clear()
    assert list(reg._static()) == list(ids) and "building_co2_t_per_year_low" in ids
