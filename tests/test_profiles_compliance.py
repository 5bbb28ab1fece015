"""Programme profiles as data (schema, packaged files) and compliance of indicator tables against them."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
import yaml

from ditan.spatial.errors import ConfigError
from ditan.spatial.standards.compliance import COLUMNS, evaluate, summarize
from ditan.spatial.standards.profiles import list_profiles, load_profile, parse_profile
from ditan.spatial.standards.registry import _read, indicator, registry

SRC = {"source": "test document", "clause": "table 9"}


def _profile(
    rules: list[dict], *, kinds: dict | None = None, levels: list[dict] | None = None
) -> dict:
    return {
        "id": "fixture",
        "zh": "测试",
        "source": "test document",
        "kinds": kinds or {},
        "rules": [{**SRC, **r} for r in rules],
        "levels": levels or [],
    }


def _table(**cols) -> pd.DataFrame:
    n = len(next(iter(cols.values())))
    return pd.DataFrame(cols, index=pd.Index([f"u{i + 1}" for i in range(n)], name="unit_id"))


def _status(long: pd.DataFrame) -> dict[tuple[str, str], str]:
    return {
        (u, r): s for u, r, s in zip(long["unit_id"], long["rule_id"], long["status"], strict=True)
    }


# ---- registry -------------------------------------------------------------------------------------------------


def test_nonspatial_indicators_come_after_every_spatial_one():
    reg = registry()
    flags = [ind.spatial for ind in reg.values()]
    first_nonspatial = flags.index(False)
    assert all(flags[:first_nonspatial]) and not any(flags[first_nonspatial:])
    assert indicator("transit_mode_share_pct").spatial is False
    assert indicator("transit_mode_share_pct").zh == "公交分担率"
    assert indicator("road_density_km_per_km2").spatial is True


def test_nonspatial_file_does_not_redefine_spatial_ids():
    spatial_ids = {d["id"] for d in _read("indicators.yaml")}
    nonspatial = [d["id"] for d in _read("indicators_nonspatial.yaml")]
    assert len(nonspatial) == len(set(nonspatial))
    assert not spatial_ids & set(nonspatial), (
        "an id is in both files: remove it from indicators_nonspatial.yaml"
    )
    assert all(d.get("spatial") is False for d in _read("indicators_nonspatial.yaml"))


def test_dynamic_indicators_still_come_last():
    from ditan.spatial.standards.registry import Indicator

    extra = Indicator(id="lc_school_pct", zh="学校", en="School")
    assert list(registry([extra]))[-1] == "lc_school_pct"


# ---- packaged profiles ----------------------------------------------------------------------------------------


def test_packaged_profiles_are_listed():
    assert {
        "lowcarbon_pilot_2015",
        "lowcarbon_application",
        "chongqing_carbon_peak",
        "gb50180_life_circle",
    } <= set(list_profiles())


@pytest.mark.parametrize("name", list_profiles())
def test_every_packaged_profile_loads_and_validates(name):
    p = load_profile(name)
    assert p.id == name
    for r in p.rules:
        assert r.source and r.clause and r.zh
        assert set(r.applies_to) <= set(p.kinds)
        assert r.indicator in registry() or r.indicator.startswith("lc_")
    # an item's rules all score
    for item in {r.item for r in p.rules if r.item}:
        assert all(r.points is not None for r in p.rules if r.item == item)


def test_load_profile_from_a_path(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text(
        yaml.safe_dump(
            _profile(
                [
                    {
                        "id": "r",
                        "indicator": "far_ratio",
                        "zh": "容积率",
                        "comparator": "<=",
                        "target": 2,
                        "binding": "guiding",
                    }
                ]
            ),
            allow_unicode=True,
        ),
        encoding="utf-8",
    )
    assert load_profile(path).rules[0].target == 2
    assert load_profile(str(path)).id == "fixture"


def test_unknown_profile_names_the_packaged_ones():
    with pytest.raises(ConfigError, match="not found.*lowcarbon_pilot_2015"):
        load_profile("no_such_profile")


def test_pilot_profile_encodes_the_guide_tables():
    p = load_profile("lowcarbon_pilot_2015")
    assert p.levels == []
    assert set(p.kinds) == {"new", "existing", "rural"}
    far = p.rule("t1_far")
    assert (far.comparator, far.target, far.target_max, far.binding, far.applies_to) == (
        "range",
        1.2,
        3,
        "binding",
        ["new"],
    )
    assert (
        p.rule("t1_ev_charging").binding == "binding"
        and p.rule("t2_ev_charging").binding == "guiding"
    )
    assert p.rule("t1_rainwater").target == 3000 and p.rule("t2_rainwater").target == 1000
    assert p.rule("t1_basic_services").unconfirmed
    promo = [r for r in p.rules if r.indicator == "low_carbon_promotion_present"]
    assert sorted(k for r in promo for k in r.applies_to) == ["existing", "new", "rural"]


# ---- schema errors --------------------------------------------------------------------------------------------

GOOD = {
    "id": "r1",
    "indicator": "far_ratio",
    "zh": "容积率",
    "comparator": ">=",
    "target": 1,
    "binding": "binding",
}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"indicator": "no_such_indicator"}, "unknown indicator 'no_such_indicator'"),
        ({"comparator": "range", "target": 1.2}, "'range' needs both target and target_max"),
        ({"comparator": "range", "target": 3, "target_max": 1}, "above target_max"),
        ({"comparator": "=="}, "comparator"),
        ({"comparator": "present"}, "'present' takes no target"),
        ({"target": None}, "needs a target"),
        ({"target_max": 5}, "target_max is only for comparator 'range'"),
        ({"binding": "mandatory"}, "binding"),
        ({"item": "7"}, "item '7' given without points"),
        ({"colour": "red"}, "unknown key"),
        (
            {"applies_to": ["suburban"]},
            "applies_to \\['suburban'\\], not among the profile's kinds \\['new'\\]",
        ),
    ],
)
def test_schema_errors_are_config_errors(change, message):
    rule = {**GOOD, **change}
    rule = {k: v for k, v in rule.items() if v is not None}
    with pytest.raises(ConfigError, match=message):
        parse_profile(_profile([rule], kinds={"new": "城市新建社区"}))


def test_duplicate_rule_ids_and_unknown_level_requirements():
    with pytest.raises(ConfigError, match="duplicate rule id 'r1'"):
        parse_profile(_profile([GOOD, GOOD]))
    with pytest.raises(ConfigError, match="level 'gold' requires unknown rule"):
        parse_profile(_profile([GOOD], levels=[{"id": "gold", "requires": ["r9"]}]))


def test_every_rule_problem_is_listed_at_once():
    bad = [{**GOOD, "id": "a", "indicator": "nope_1"}, {**GOOD, "id": "b", "indicator": "nope_2"}]
    with pytest.raises(ConfigError, match="2 problem") as err:
        parse_profile(_profile(bad))
    assert "rules.0.indicator" in str(err.value) and "nope_2" in str(err.value)


def test_dynamic_ids_are_accepted():
    rules = [
        {**GOOD, "id": "a", "indicator": "lc_kindergarten_pct"},
        {**GOOD, "id": "b", "indicator": "canteen_count"},
    ]
    assert len(parse_profile(_profile(rules)).rules) == 2


def test_profile_that_is_not_a_mapping(tmp_path):
    path = tmp_path / "list.yaml"
    path.write_text("- a\n- b\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="must hold a mapping"):
        load_profile(path)


# ---- comparators ----------------------------------------------------------------------------------------------

COMPARATORS = _profile(
    [
        {
            "id": "ge",
            "indicator": "road_density_km_per_km2",
            "zh": "路网密度",
            "comparator": ">=",
            "target": 3,
            "binding": "binding",
        },
        {
            "id": "le",
            "indicator": "building_density_pct",
            "zh": "建筑密度",
            "comparator": "<=",
            "target": 30,
            "binding": "guiding",
        },
        {
            "id": "gt",
            "indicator": "green_space_ratio_pct",
            "zh": "绿地率",
            "comparator": ">",
            "target": 8,
            "binding": "guiding",
        },
        {
            "id": "lt",
            "indicator": "lu_industrial_pct",
            "zh": "工业用地",
            "comparator": "<",
            "target": 10,
            "binding": "guiding",
        },
        {
            "id": "range",
            "indicator": "far_ratio",
            "zh": "容积率",
            "comparator": "range",
            "target": 1.2,
            "target_max": 3,
            "binding": "binding",
        },
        {
            "id": "present",
            "indicator": "ev_charging_count",
            "zh": "充电站",
            "comparator": "present",
            "binding": "binding",
        },
        {
            "id": "survey",
            "indicator": "transit_mode_share_pct",
            "zh": "公交分担率",
            "comparator": ">=",
            "target": 60,
            "binding": "binding",
        },
        {
            "id": "absent",
            "indicator": "permeable_surface_pct",
            "zh": "可渗透",
            "comparator": ">=",
            "target": 45,
            "binding": "guiding",
        },
    ]
)


@pytest.fixture
def comparator_table() -> pd.DataFrame:
    # u1 passes everything, u2 fails everything, u3 has NaN everywhere; transit share is given but is a survey indicator
    return _table(
        name=["甲", "乙", "丙"],
        road_density_km_per_km2=[3.0, 2.4, np.nan],  # ≥ 3: the boundary passes
        building_density_pct=[30.0, 30.5, np.nan],  # ≤ 30
        green_space_ratio_pct=[8.1, 8.0, np.nan],  # > 8: the boundary fails
        lu_industrial_pct=[9.9, 10.0, np.nan],  # < 10
        far_ratio=[1.2, 3.2, np.nan],  # 1.2–3 inclusive
        ev_charging_count=[1.0, 0.0, np.nan],  # present
        transit_mode_share_pct=[80.0, 10.0, np.nan],
    )


def test_every_comparator_passes_fails_and_skips_nan(comparator_table):
    long = evaluate(comparator_table, parse_profile(COMPARATORS))
    assert list(long.columns) == COLUMNS
    st = _status(long)
    for rule in ("ge", "le", "gt", "lt", "range", "present"):
        assert (st[("u1", rule)], st[("u2", rule)], st[("u3", rule)]) == (
            "pass",
            "fail",
            "not_assessable",
        ), rule
    for u in ("u1", "u2", "u3"):
        assert st[(u, "survey")] == "not_assessable"  # non-spatial, whatever the column says
        assert st[(u, "absent")] == "not_assessable"  # no column
    row = long.set_index(["unit_id", "rule_id"])
    assert row.loc[("u2", "ge"), "reason"] == "road network density 2.4 km/km² < 3"
    assert row.loc[("u2", "range"), "reason"].endswith("above 1.2–3")
    assert row.loc[("u2", "present"), "reason"].endswith("(none present)")
    assert row.loc[("u1", "survey"), "reason"].startswith("not assessable from spatial data")
    assert "no column permeable_surface_pct" in row.loc[("u1", "absent"), "reason"]
    assert row.loc[("u3", "ge"), "reason"].startswith("no value")
    assert (
        row.loc[("u1", "range"), "target"] == "1.2–3" and row.loc[("u1", "ge"), "target"] == "≥ 3"
    )
    assert row.loc[("u1", "present"), "target"] == "present"
    assert (
        row.loc[("u2", "ge"), "status_zh"] == "未达标"
        and row.loc[("u1", "ge"), "status_zh"] == "达标"
    )
    assert row.loc[("u3", "ge"), "status_zh"] == "无法评估"
    assert (
        row.loc[("u1", "ge"), "binding_zh"] == "约束性"
        and row.loc[("u1", "le"), "binding_zh"] == "引导性"
    )
    assert row.loc[("u2", "ge"), "measured"] == 2.4 and np.isnan(
        row.loc[("u1", "survey"), "measured"]
    )
    assert (
        row.loc[("u1", "ge"), "name"] == "甲"
        and row.loc[("u1", "ge"), "indicator_zh"] == "路网密度"
    )
    # rows are unit-major, rules in profile order
    assert list(long["unit_id"]) == ["u1"] * 8 + ["u2"] * 8 + ["u3"] * 8


def test_summary_counts(comparator_table):
    p = parse_profile(COMPARATORS)
    s = summarize(evaluate(comparator_table, p), p)
    assert s.loc[
        "u1",
        [
            "binding_pass",
            "binding_fail",
            "binding_na",
            "guiding_pass",
            "guiding_fail",
            "guiding_na",
        ],
    ].tolist() == [3, 0, 1, 3, 0, 1]
    assert s.loc["u2", ["binding_pass", "binding_fail", "guiding_fail", "guiding_na"]].tolist() == [
        0,
        3,
        3,
        1,
    ]
    assert s.loc["u3", ["binding_na", "guiding_na"]].tolist() == [4, 4]
    assert np.isnan(s.loc["u1", "points"]) and s.loc["u1", "level"] is None


def test_tolerance_lets_a_rounded_full_coverage_pass():
    p = parse_profile(
        _profile(
            [
                {
                    "id": "full",
                    "indicator": "lc_15min_all_pct",
                    "zh": "全覆盖",
                    "comparator": ">=",
                    "target": 100,
                    "binding": "guiding",
                }
            ]
        )
    )
    st = _status(evaluate(_table(lc_15min_all_pct=[100 - 1e-12, 99.9]), p))
    assert st[("u1", "full")] == "pass" and st[("u2", "full")] == "fail"


def test_unit_id_column_instead_of_index():
    p = parse_profile(COMPARATORS)
    t = pd.DataFrame({"unit_id": [7, 8], "road_density_km_per_km2": [5.0, 1.0]})
    st = _status(evaluate(t, p))
    assert st[(7, "ge")] == "pass" and st[(8, "ge")] == "fail"


# ---- kinds ----------------------------------------------------------------------------------------------------

KINDS = {"new": "城市新建社区", "existing": "城市既有社区"}
KINDED = _profile(
    [
        {
            "id": "new_only",
            "indicator": "road_density_km_per_km2",
            "zh": "路网密度",
            "comparator": ">=",
            "target": 3,
            "binding": "binding",
            "applies_to": ["new"],
        },
        {
            "id": "existing_only",
            "indicator": "green_coverage_pct",
            "zh": "绿化覆盖率",
            "comparator": ">=",
            "target": 5,
            "binding": "guiding",
            "applies_to": ["existing"],
        },
        {
            "id": "all",
            "indicator": "ev_charging_count",
            "zh": "充电站",
            "comparator": "present",
            "binding": "guiding",
        },
    ],
    kinds=KINDS,
)


def test_kinds_per_unit_from_a_series():
    p = parse_profile(KINDED)
    t = _table(
        road_density_km_per_km2=[4.0, 1.0, 1.0],
        green_coverage_pct=[1.0, 9.0, 1.0],
        ev_charging_count=[1, 1, 0],
    )
    kinds = pd.Series(
        {"u3": "城市既有社区", "u1": "new", "u2": "existing"}
    )  # by unit id, any order; Chinese names accepted
    long = evaluate(t, p, kind=kinds)
    assert set(zip(long["unit_id"], long["rule_id"], strict=True)) == {
        ("u1", "new_only"),
        ("u1", "all"),
        ("u2", "existing_only"),
        ("u2", "all"),
        ("u3", "existing_only"),
        ("u3", "all"),
    }
    assert set(long.loc[long["unit_id"] == "u3", "kind"]) == {"existing"}
    st = _status(long)
    assert (
        st[("u1", "new_only")] == "pass"
        and st[("u2", "existing_only")] == "pass"
        and st[("u3", "existing_only")] == "fail"
    )
    # the same from a 'kind' column of the table
    assert _status(evaluate(t.assign(kind=["new", "existing", "existing"]), p)) == st


def test_missing_or_unknown_kind_names_the_units():
    p = parse_profile(KINDED)
    t = _table(road_density_km_per_km2=[4.0, 1.0, 1.0])
    with pytest.raises(
        ConfigError, match=r"u2 \('suburb'\), u3 \(nan\).*new 城市新建社区, existing 城市既有社区"
    ):
        evaluate(t, p, kind=pd.Series({"u1": "new", "u2": "suburb"}))
    with pytest.raises(ConfigError, match="pass kind="):
        evaluate(t, p)
    with pytest.raises(ConfigError, match="unknown kind"):
        evaluate(t, p, kind="rural")


# ---- points and levels ----------------------------------------------------------------------------------------

SCORED = _profile(
    [
        {
            "id": "bike",
            "indicator": "bike_rental_count",
            "zh": "单车",
            "comparator": ">=",
            "target": 1,
            "binding": "guiding",
            "points": 1,
            "item": "11_bike",
        },
        {
            "id": "bus",
            "indicator": "bus_stop_count",
            "zh": "公交",
            "comparator": ">=",
            "target": 1,
            "binding": "guiding",
            "points": 1,
        },
        {
            "id": "greenway",
            "indicator": "greenway_km",
            "zh": "绿道",
            "comparator": ">",
            "target": 0,
            "binding": "guiding",
            "points": 1,
            "item": "23",
        },
        {
            "id": "linked",
            "indicator": "greenway_station_links",
            "zh": "接驳",
            "comparator": ">=",
            "target": 1,
            "binding": "guiding",
            "points": 3,
            "item": "23",
        },
        {
            "id": "plan",
            "indicator": "greenway_plan_present",
            "zh": "规划",
            "comparator": "present",
            "binding": "guiding",
            "points": 0.5,
            "item": "23",
        },
        {
            "id": "road",
            "indicator": "road_density_km_per_km2",
            "zh": "路网",
            "comparator": ">=",
            "target": 3,
            "binding": "binding",
        },
    ],
    levels=[
        {"id": "bronze", "zh": "铜", "min_points": 2},
        {"id": "silver", "zh": "银", "min_points": 4, "requires": ["road"]},
        {"id": "gold", "zh": "金", "min_points": 5},
    ],
)


def test_item_scoring_takes_the_max_within_an_item_and_sums_items():
    p = parse_profile(SCORED)
    t = _table(
        bike_rental_count=[1, 0, 0, np.nan],
        bus_stop_count=[2, 1, 0, np.nan],
        greenway_km=[0.8, 0.3, 0.0, np.nan],
        greenway_station_links=[2, 0, 0, np.nan],
        road_density_km_per_km2=[5.0, 1.0, 9.0, np.nan],
    )
    long = evaluate(t, p)
    pts = long.set_index(["unit_id", "rule_id"])["points"]
    assert pts[("u1", "greenway")] == 1 and pts[("u1", "linked")] == 3 and pts[("u1", "plan")] == 0
    assert np.isnan(pts[("u1", "road")])
    s = summarize(long, p)
    assert s["points"].tolist() == [1 + 1 + 3, 0 + 1 + 1, 0.0, 0.0]  # item 23 scores 3, not 1 + 3
    # every item has an assessable rule but for u4 (all NaN; the plan rule is never assessable)
    assert s["points_possible"].tolist() == [5.0, 5.0, 5.0, 0.0]
    assert s["level"].tolist() == ["gold", "bronze", None, None]
    assert s.loc["u1", "level_zh"] == "金"


def test_level_requirements_must_pass():
    p = parse_profile(SCORED)
    no_gold = copy.deepcopy(SCORED)
    no_gold["levels"] = no_gold["levels"][:2]
    p2 = parse_profile(no_gold)
    t = _table(
        bike_rental_count=[1, 1],
        bus_stop_count=[1, 1],
        greenway_km=[1, 1],
        greenway_station_links=[1, 1],
        road_density_km_per_km2=[5.0, 1.0],
    )
    assert summarize(evaluate(t, p2), p2)["level"].tolist() == [
        "silver",
        "bronze",
    ]  # u2 fails the required road rule
    t["road_density_km_per_km2"] = np.nan
    assert summarize(evaluate(t, p2), p2)["level"].tolist() == [
        "bronze",
        "bronze",
    ]  # not assessable is not met
    assert summarize(evaluate(t, p), p)["level"].tolist() == [
        "gold",
        "gold",
    ]  # gold has no requirement


# ---- the packaged pilot guide, by hand ------------------------------------------------------------------------


def test_pilot_guide_existing_communities_by_hand():
    p = load_profile("lowcarbon_pilot_2015")
    t = _table(
        name=["老城社区", "河畔社区"],
        road_density_km_per_km2=[2.0, 9.0],  # 表1 only: not checked for existing communities
        bike_rental_count=[2, 0],  # ≥ 1 binding
        ev_charging_count=[0, 3],  # present, guiding for existing
        green_coverage_pct=[12.5, 4.9],  # ≥ 5 guiding
        canteen_count=[1, np.nan],  # present binding; NaN: no facility source
        recycling_count=[0, 1],  # present binding
    )
    long = evaluate(t, p, kind="existing")
    expected = {
        "t2_transit_share": ("not_assessable", "not_assessable"),
        "t2_bike_rental": ("pass", "fail"),
        "t2_ev_charging": ("fail", "pass"),
        "t2_rooftop_solar": ("not_assessable", "not_assessable"),
        "t2_rainwater": ("not_assessable", "not_assessable"),
        "t2_green_coverage": ("pass", "fail"),
        "t2_promotion": ("not_assessable", "not_assessable"),
        "t2_canteen": ("pass", "not_assessable"),
        "t2_recycling": ("fail", "pass"),
        # no plan and no inventory in the table: not assessable (binding and guiding)
        "t2_co2_reduction": ("not_assessable", "not_assessable"),
        "t2_renewable_substitution": ("not_assessable", "not_assessable"),
    }
    st = _status(long)
    assert set(long["rule_id"]) == set(expected)
    assert {r: (st[("u1", r)], st[("u2", r)]) for r in expected} == expected
    s = summarize(long, p)
    cols = [
        "binding_pass",
        "binding_fail",
        "binding_na",
        "guiding_pass",
        "guiding_fail",
        "guiding_na",
    ]
    assert s.loc["u1", cols].tolist() == [2, 1, 3, 1, 1, 3]
    assert s.loc["u2", cols].tolist() == [1, 1, 4, 1, 1, 3]
    assert s.loc["u1", "name"] == "老城社区" and s.loc["u1", "level"] is None
    assert long.loc[long["rule_id"] == "t2_green_coverage", "reason"].tolist() == [
        "green coverage 12.5 % ≥ 5",
        "green coverage 4.9 % < 5",
    ]


def test_reason_prints_enough_digits_and_booleans_count_as_present():
    p = parse_profile(
        _profile(
            [
                {
                    "id": "full",
                    "indicator": "lc_15min_all_pct",
                    "zh": "全覆盖",
                    "comparator": ">=",
                    "target": 100,
                    "binding": "guiding",
                },
                {
                    "id": "ev",
                    "indicator": "ev_charging_count",
                    "zh": "充电站",
                    "comparator": "present",
                    "binding": "guiding",
                },
            ]
        )
    )
    long = evaluate(_table(lc_15min_all_pct=[99.95, 100.0], ev_charging_count=[True, False]), p)
    row = long.set_index(["unit_id", "rule_id"])
    assert row.loc[("u1", "full"), "reason"].endswith("99.95 % < 100")
    assert (row.loc[("u1", "ev"), "status"], row.loc[("u2", "ev"), "status"]) == ("pass", "fail")


def test_reasons_in_chinese():
    profile = load_profile("lowcarbon_pilot_2015")
    table = pd.DataFrame(
        {"green_coverage_pct": [3.5, float("nan")], "bike_rental_count": [2.0, 0.0]},
        index=["A", "B"],
    )
    c = evaluate(table, profile, kind="existing").set_index(["unit_id", "indicator"])["reason_zh"]
    assert c[("A", "green_coverage_pct")] == "社区绿化覆盖率 3.5，目标 ≥ 5，未达标"
    assert c[("B", "green_coverage_pct")] == "社区绿化覆盖率：无法评估（该单元无数值）"
    assert c[("A", "bike_rental_count")] == "自行车租赁站点 2，目标 ≥ 1，达标"
    assert c[("A", "transit_mode_share_pct")] == "公交分担率：空间数据无法评估（需调查或现场核查）"
