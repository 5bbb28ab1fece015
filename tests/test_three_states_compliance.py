"""Three states (measured / not assessable with a reason / data gap) in compliance, screening and the parcel precheck.

Every expected value is worked out by hand in the comments: counts of rules, scores, verdict texts.
"""

from __future__ import annotations

import copy
import re

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import box

from ditan.maps.pages import screening_map
from ditan.pipelines.jobs.land_sale_plan import plan_checks
from ditan.pipelines.jobs.parcel_verdict import summarize as verdicts
from ditan.pipelines.jobs.screen_scoring import NO_RESIDENTS, screen
from ditan.spatial.errors import ConfigError
from ditan.spatial.standards.compliance import evaluate, summarize
from ditan.spatial.standards.profiles import load_profile, parse_profile
from ditan.spatial.standards.reasons import CATEGORY_GAP, NO_STATION_SOURCE, reasons_frame
from ditan.spatial.standards.reasons import NO_RESIDENTS as R_NO_RESIDENTS

SRC = {"source": "fixture", "clause": "表1"}
PROFILE = {
    "id": "three", "zh": "三态测试", "source": "fixture", "needs_residents": True,
    "rules": [
        {"id": "b_bus", "indicator": "bus_stop_500m_radius_pct", "zh": "公交覆盖", "comparator": ">=", "target": 90,
         "binding": "binding", **SRC},
        {"id": "b_canteen", "indicator": "canteen_count", "zh": "食堂", "comparator": "present", "binding": "binding", **SRC},
        {"id": "g_lc", "indicator": "lc_15min_all_pct", "zh": "15分钟生活圈", "comparator": ">=", "target": 100,
         "binding": "guiding", **SRC},
        {"id": "g_road", "indicator": "road_density_km_per_km2", "zh": "路网密度", "comparator": ">=", "target": 3,
         "binding": "guiding", **SRC},
    ],
}  # fmt: skip
RESIDENTS = R_NO_RESIDENTS.format(min_m2=100, min_pct=0.5)
CANTEEN_GAP = CATEGORY_GAP.format(name="社区食堂 canteen")


def _units() -> pd.DataFrame:
    """Four units; x = NaN with a recorded reason.

    h1: bus 95 ✓, canteen 1 ✓, lc 100 ✓, road 2 ✗            → B 2/2, G 1/2, 4 of 4 assessed
    h2: bus 80 ✗, canteen x (data gap), lc 60 ✗, road 4 ✓    → B 0/1, G 1/2, 3 of 4 assessed
    h3: bus 92 ✓, canteen x (data gap), lc x (gap), road 5 ✓ → B 1/1, G 1/1, 2 of 4 assessed
    st (a stadium, has_residents False): bus x, lc x (no residents, not gaps), canteen 3 ✓, road 12 ✓ → B 1/1, G 1/1
    """
    return pd.DataFrame(
        {
            "name": ["一", "二", "三", "体育场"],
            "bus_stop_500m_radius_pct": [95.0, 80.0, 92.0, np.nan],
            "canteen_count": [1.0, np.nan, np.nan, 3.0],
            "lc_15min_all_pct": [100.0, 60.0, np.nan, np.nan],
            "road_density_km_per_km2": [2.0, 4.0, 5.0, 12.0],
            "has_residents": [True, True, True, False],
        },
        index=pd.Index(["h1", "h2", "h3", "st"], name="unit_id"),
    )


def _reasons() -> pd.DataFrame:
    return reasons_frame(
        [
            ("h2", "canteen_count", CANTEEN_GAP),
            ("h3", "canteen_count", CANTEEN_GAP),
            ("h3", "lc_15min_all_pct", CATEGORY_GAP.format(name="医院 hospital")),
            ("st", "bus_stop_500m_radius_pct", RESIDENTS),
            ("st", "lc_15min_all_pct", RESIDENTS),
        ]
    )


# --- compliance ------------------------------------------------------------------------------------------------


def test_nan_is_not_assessable_with_the_recorded_reason():
    long = evaluate(_units(), parse_profile(PROFILE), reasons=_reasons()).set_index(
        ["unit_id", "rule_id"]
    )
    row = long.loc[("h2", "b_canteen")]
    assert row["status"] == "not_assessable" and row["status_zh"] == "无法评估"
    assert row["reason"] == "data gap: no 社区食堂 canteen in any source of the study area"
    assert (
        row["reason_zh"] == "食堂：无法评估（数据缺失：研究范围内任何数据源均无社区食堂 canteen）"
    )
    assert bool(row["data_gap"]) is True
    st = long.loc[("st", "b_bus")]
    assert (
        st["status"] == "not_assessable"
        and st["reason"] == RESIDENTS.en
        and bool(st["data_gap"]) is False
    )
    assert st["reason_zh"] == f"公交覆盖：无法评估（{RESIDENTS.zh}）"
    assert not long.loc[("h1", "b_bus"), "data_gap"]  # measured rows are never gaps


def test_no_fail_on_a_nan_indicator_and_generic_reason_without_a_table():
    rng = np.random.default_rng(7)
    t = _units().drop(columns="has_residents")
    for c in (
        "bus_stop_500m_radius_pct",
        "canteen_count",
        "lc_15min_all_pct",
        "road_density_km_per_km2",
    ):
        t[c] = np.where(rng.random(4) < 0.5, np.nan, rng.random(4) * 100)
    for reasons in (_reasons(), None):
        long = evaluate(t, parse_profile(PROFILE), reasons=reasons)
        assert not ((long["status"] != "not_assessable") & long["measured"].isna()).any()
        assert (long.loc[long["measured"].isna(), "status"] == "not_assessable").all()
    long = evaluate(_units(), parse_profile(PROFILE)).set_index(
        ["unit_id", "rule_id"]
    )  # no reasons table: the generic text
    assert (
        long.loc[("h2", "b_canteen"), "reason"].startswith("no value")
        and not long["data_gap"].any()
    )


def test_reasons_match_unit_ids_given_as_numbers():
    t = _units().reset_index(drop=True).rename(index=lambda i: i + 1)  # unit ids 1 … 4 (int)
    r = _reasons().assign(
        unit_id=_reasons()["unit_id"].map({"h1": "1", "h2": "2", "h3": "3", "st": "4"})
    )  # ids as text
    long = evaluate(t, parse_profile(PROFILE), reasons=r).set_index(["unit_id", "rule_id"])
    assert long.loc[(2, "b_canteen"), "data_gap"] and long.loc[
        (2, "b_canteen"), "reason"
    ].startswith("data gap")


def test_summary_counts_data_gaps_apart():
    """binding_gap / guiding_gap by hand (a subset of *_na).

    h1: nothing n/a. h2: canteen (binding, gap) → binding_na 1, binding_gap 1. h3: canteen (binding, gap) and lc
    (guiding, gap) → 1/1 and 1/1. st: bus (binding) and lc (guiding) n/a for no residents → na 1 and 1, gaps 0.
    """
    p = parse_profile(PROFILE)
    s = summarize(evaluate(_units(), p, reasons=_reasons()), p)
    cols = [
        "binding_pass",
        "binding_fail",
        "binding_na",
        "binding_gap",
        "guiding_pass",
        "guiding_fail",
        "guiding_na",
        "guiding_gap",
    ]
    assert s.loc["h1", cols].tolist() == [2, 0, 0, 0, 1, 1, 0, 0]
    assert s.loc["h2", cols].tolist() == [0, 1, 1, 1, 1, 1, 0, 0]
    assert s.loc["h3", cols].tolist() == [1, 0, 1, 1, 1, 0, 1, 1]
    assert s.loc["st", cols].tolist() == [1, 0, 1, 0, 1, 0, 1, 0]


def test_station_source_gap_is_counted_as_a_gap():
    p = parse_profile(PROFILE)
    t = _units().assign(bus_stop_500m_radius_pct=np.nan)
    r = reasons_frame([(u, "bus_stop_500m_radius_pct", NO_STATION_SOURCE) for u in t.index])
    s = summarize(evaluate(t, p, reasons=r), p)
    assert s["binding_gap"].tolist() == [1, 1, 1, 1]  # the bus rule everywhere
    # the canteen NaN of h2 and h3 has no reason row here: not assessable, but not counted as a gap
    assert s["binding_na"].tolist() == [1, 2, 2, 1]


# --- screening -------------------------------------------------------------------------------------------------


def test_a_unit_without_residents_is_listed_apart_not_first():
    """The stadium (no residents, the best values) is listed apart, not ranked first.

    Rules method on the assessable rules: h1 100 × (2·2 + 1) / (2·2 + 2) = 83.3; h2 100 × 1 / (2 + 2) = 25;
    h3 100 × (2 + 1) / (2 + 1) = 100. The stadium would score 100 × (2 + 1) / 3 = 100 but is not ranked.
    """
    scr = screen(_units(), parse_profile(PROFILE), reasons=_reasons())
    t = scr.table
    assert t["unit_id"].tolist() == ["h3", "h1", "h2"]
    assert t["score"].tolist() == pytest.approx([100.0, 250 / 3, 25.0])
    assert t["rules_assessed"].tolist() == ["2/4", "4/4", "3/4"]
    assert (t["not_ranked"] == "").all()
    apart = scr.apart
    assert apart["unit_id"].tolist() == ["st"] and apart["not_ranked"].tolist() == [NO_RESIDENTS]
    assert (
        apart["rank"].isna().all()
        and apart["score"].isna().all()
        and (apart["shortlisted"] == "no").all()
    )
    assert apart["rules_assessed"].tolist() == ["2/4"]
    assert "无居住人口，未参与排序" in NO_RESIDENTS and "not assessed: no residents" in NO_RESIDENTS
    rows = scr.all_rows()
    assert rows["unit_id"].tolist() == ["h3", "h1", "h2", "st"] and rows["rank"].tolist()[:3] == [
        1,
        2,
        3,
    ]


def test_profile_without_residents_ranks_every_unit():
    data = copy.deepcopy(PROFILE)
    data["needs_residents"] = False
    t = screen(_units(), parse_profile(data), reasons=_reasons()).table
    assert set(t["unit_id"]) == {"h1", "h2", "h3", "st"}
    # st and h3 tie at 100 with no binding failure; h3 before st by unit id (both 2 of 4 assessed)
    assert t["unit_id"].tolist() == ["h3", "st", "h1", "h2"]
    assert screen(
        _units().drop(columns="has_residents"), parse_profile(PROFILE)
    ).apart.empty  # no column: nobody apart


def test_ties_prefer_more_rules_assessed():
    """h1' passes all four (100, 4/4) and h3 passes its two (100, 2/4): both 100 with no binding failed → h1' first."""
    t = _units().drop(index="st")
    t.loc["h1", "road_density_km_per_km2"] = 9.0
    assert screen(t, parse_profile(PROFILE), reasons=_reasons()).table["unit_id"].tolist()[:2] == [
        "h1",
        "h3",
    ]


def test_points_rest_on_assessable_items_only():
    """Item A: rule a1 (3 points, bus ≥ 90) or a2 (1 point, road ≥ 3); item B: rule b (2 points, canteen).

    h1: a1 ✓ → 3; b ✓ 2 → 5 of 3 + 2 = 5 → 100
    h2: a1 ✗, a2 ✓ → 1; b n/a → 1 of 3 → 33.3
    h3: a1 ✓ 3; b n/a → 3 of 3 → 100
    h4: bus n/a, a2 ✓ → 1 of max(assessable a2) 1; b ✓ 2 → 3 of 3 → 100 (the unassessable 3-point rule is not possible)
    Ties at 100: no binding rules; rules assessed h1 3/3, h4 2/3, h3 2/3 → h1, then h3, h4 by id.
    """
    data = {
        "id": "pts",
        "zh": "积分",
        "source": "fixture",
        "rules": [
            {
                "id": "a1",
                "indicator": "bus_stop_500m_radius_pct",
                "zh": "公交",
                "comparator": ">=",
                "target": 90,
                "binding": "guiding",
                "points": 3,
                "item": "A",
                **SRC,
            },
            {
                "id": "a2",
                "indicator": "road_density_km_per_km2",
                "zh": "路网",
                "comparator": ">=",
                "target": 3,
                "binding": "guiding",
                "points": 1,
                "item": "A",
                **SRC,
            },
            {
                "id": "b",
                "indicator": "canteen_count",
                "zh": "食堂",
                "comparator": "present",
                "binding": "guiding",
                "points": 2,
                **SRC,
            },
        ],
    }
    t = pd.DataFrame(
        {
            "bus_stop_500m_radius_pct": [95.0, 80.0, 92.0, np.nan],
            "road_density_km_per_km2": [2.0, 4.0, 5.0, 4.0],
            "canteen_count": [1.0, np.nan, np.nan, 1.0],
        },
        index=pd.Index(["h1", "h2", "h3", "h4"], name="unit_id"),
    )
    scr = screen(t, parse_profile(data))
    s = scr.table.set_index("unit_id")
    assert s["points"].to_dict() == {"h1": 5.0, "h2": 1.0, "h3": 3.0, "h4": 3.0}
    assert s["points_possible"].to_dict() == {"h1": 5.0, "h2": 3.0, "h3": 3.0, "h4": 3.0}
    assert s["score"].to_dict() == pytest.approx(
        {"h1": 100.0, "h2": 100 / 3, "h3": 100.0, "h4": 100.0}
    )
    assert scr.table["unit_id"].tolist() == ["h1", "h3", "h4", "h2"]
    assert s["rules_assessed"].to_dict() == {"h1": "3/3", "h2": "2/3", "h3": "2/3", "h4": "2/3"}


def test_weights_drop_the_weight_of_a_missing_value():
    """Weights road 1 (rule ≥ 3 of g_road) and bus 3 (rule ≥ 90 of b_bus), candidates h1, h2, h3 (st apart).

    road: h1 2 fails with the only shortfall 1 → s 0; h2, h3 pass → 1. bus: h1, h3 pass → 1; h2 80 fails, only
    shortfall → 0. h1 = 100 × (0 + 3) / 4 = 75; h2 = 100 × 1 / 4 = 25; h3 = 100 × 4 / 4 = 100.
    With h3's bus NaN: h3 = 100 × 1 / 1 = 100 on road alone (weight 3 dropped, not scored 0).
    """
    p = parse_profile(PROFILE)
    w = {"road_density_km_per_km2": 1, "bus_stop_500m_radius_pct": 3}
    s = screen(_units(), p, method="weights", weights=w).table.set_index("unit_id")["score"]
    assert s.to_dict() == pytest.approx({"h1": 75.0, "h2": 25.0, "h3": 100.0})
    t = _units()
    t.loc["h3", "bus_stop_500m_radius_pct"] = np.nan
    s = screen(t, p, method="weights", weights=w).table.set_index("unit_id")["score"]
    assert s.to_dict() == pytest.approx({"h1": 75.0, "h2": 25.0, "h3": 100.0})


def test_map_popup_says_rules_assessed_and_not_ranked():
    scr = screen(_units(), parse_profile(PROFILE), reasons=_reasons())
    units = gpd.GeoDataFrame(
        geometry=[box(441000 + i * 300, 4428000, 441250 + i * 300, 4428250) for i in range(4)],
        crs="EPSG:4548",
        index=_units().index,
    )
    page = screening_map(
        units, scr.all_rows(), method=scr.method, profile_zh="测试", attribution="x", tiles=False
    )
    page = re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), page)
    assert "规则可评估 Rules assessed" in page and '"2/4"' in page and "4/4" in page
    assert (
        "无居住人口，未参与排序 not assessed: no residents" in page
        and "未参与排序 Not ranked" in page
    )


# --- profiles: class applicability -----------------------------------------------------------------------------


def test_applies_to_classes_is_validated_and_packaged():
    data = copy.deepcopy(PROFILE)
    data["rules"][0]["applies_to_classes"] = ["housing"]
    with pytest.raises(ConfigError, match=r"unknown land-use class.*housing.*residential"):
        parse_profile(data)
    pilot = load_profile("lowcarbon_pilot_2015")
    far = pilot.rule("t1_far")
    assert far.applies_to_classes == ["residential"] and far.applies_to_class("residential")
    assert not far.applies_to_class("public_service") and not far.applies_to_class("commercial")
    assert pilot.rule("t1_green_space").applies_to_class("public_service")  # omitted: every class
    cq = load_profile("chongqing_carbon_peak")
    assert not cq.rule("cq_county_far").applies_to_class(
        "residential"
    )  # [] : an area-wide figure, no parcel
    assert pilot.needs_residents and not cq.needs_residents


# --- precheck: plan ranges by class, and the verdict row ---------------------------------------------------------


def _parcels() -> gpd.GeoDataFrame:
    rows = [
        ("R1", "住宅", "0701", "residential", 2.5),
        ("S1", "小学", "080403", "public_service", 0.9),
        ("R2", "住宅二", "0701", "residential", 3.4),
        ("X1", "未知", "99", None, 2.0),
    ]
    p = gpd.GeoDataFrame(
        {
            "parcel_id": [r[0] for r in rows],
            "name": [r[1] for r in rows],
            "tag": [r[2] for r in rows],
            "lu_class": [r[3] for r in rows],
            "far_plan": [r[4] for r in rows],
        },
        geometry=[box(i * 300, 0, i * 300 + 200, 200) for i in range(len(rows))],
        crs="EPSG:4548",
    )
    p["area_m2"] = p.geometry.area
    p["floor_area_plan_m2"] = p["far_plan"] * p["area_m2"]
    p["green_ratio_pct"], p["height_limit_m"], p["floors_plan"] = 30.0, np.nan, np.nan
    return p


def test_school_parcel_does_not_get_the_community_far_range():
    rows = pd.DataFrame(
        plan_checks(_parcels(), load_profile("lowcarbon_pilot_2015"), "new", "gb2023")
    )
    far = rows[rows["indicator"] == "far_ratio"].set_index("parcel_id")
    assert (
        far.loc["R1", "status"] == "pass" and far.loc["R2", "status"] == "fail"
    )  # 2.5 within, 3.4 above 1.2–3
    assert (
        far.loc["S1", "status"] == "not_applicable" and not far.loc["S1", "counts"]
    )  # a school at 0.9: not held to it
    assert far.loc["S1", "result"] == "不适用 not applicable"
    assert far.loc["S1", "reason"] == (
        "不适用：建设用地综合容积率的目标适用于居住用地地块，本地块为公共管理与公共服务用地 / not applicable: "
        "the target is set for residential parcels, this parcel is public administration and public service"
    )
    assert (
        far.loc["X1", "status"] == "not_assessable"
    )  # unknown class: cannot tell whether the range applies
    green = rows[rows["indicator"] == "green_space_ratio_pct"].set_index("parcel_id")
    assert (green["status"] == "pass").all()  # the 8 % floor holds for every class


def _check(
    pid: str, status: str, binding: str, counts: bool, item: str, target: str = "≥ 1"
) -> dict:
    return {
        "parcel_id": pid,
        "status": status,
        "binding": binding,
        "counts": counts,
        "item": item,
        "reason": f"why {item}",
        "target": target,
        "unit_id": None,
    }


def test_verdict_row_names_the_deciding_checks_and_counts_the_rest():
    """Verdict texts by hand.

    P: binding 3 pass (counted); guiding 2 fail, 10 pass, 1 n/a; a binding unit check short before and not worsened
    (does not count); one not applicable; one reported value without a target (not a check).
    → pass; binding 3/3; the other 2 + 10 + 1 + 1 = 14 checks: 3 fail (2 guiding + the not-worsened unit one), 1 n/a.
    """
    rows = [_check("P", "pass", "binding", True, f"b{i}") for i in range(3)]
    rows += [_check("P", "fail", "guiding", False, f"g{i}") for i in range(2)] + [
        _check("P", "pass", "guiding", False, f"p{i}") for i in range(10)
    ]
    rows += [
        _check("P", "not_assessable", "guiding", False, "na"),
        _check("P", "fail", "binding", False, "unit far"),
        _check("P", "not_applicable", "binding", False, "far"),
        _check("P", "pass", "info", False, "share", target="—"),
    ]
    # Q: one binding check not assessable, nothing fails → not assessable; R: a binding failure → fail
    rows += [
        _check("Q", "pass", "binding", True, "b0"),
        _check("Q", "not_assessable", "binding", True, "bus"),
    ]
    rows += [
        _check("R", "fail", "binding", True, "far"),
        _check("R", "not_assessable", "binding", True, "bus"),
    ]
    parcels = pd.DataFrame(
        {
            "parcel_id": ["P", "Q", "R"],
            "name": ["p", "q", "r"],
            "tag": "0701",
            "lu_class": "residential",
            "area_m2": 1.0,
            "far_plan": 1.0,
        }
    )
    s = verdicts(pd.DataFrame(rows), parcels).set_index("parcel_id")
    assert s.loc["P", "status"] == "pass" and s.loc["P", "result"] == "达标 pass"
    assert s.loc["P", "verdict"] == (
        "达标 pass: 约束性检查 3/3 达标；其余 14 项中 3 项未达标、1 项无法评估；1 项不适用 / "
        "binding checks 3/3 pass; other checks: 3 of 14 fail, 1 not assessable; 1 not applicable"
    )
    assert s.loc[
        "P",
        [
            "binding_checks",
            "binding_pass",
            "binding_fail",
            "other_checks",
            "other_fail",
            "n_not_applicable",
        ],
    ].tolist() == [3, 3, 0, 14, 3, 1]
    assert (
        s.loc["P", "n_checks"] == 17
    )  # not applicable and the value without a target are not checks
    assert s.loc["Q", "status"] == "not_assessable" and s.loc["Q", "verdict"].startswith(
        "无法评估 not assessable: 约束性检查 1/2 达标，1 项无法评估"
    )
    assert (
        "binding checks 1/2 pass, 1 not assessable; other checks: 0 of 0 fail"
        in s.loc["Q", "verdict"]
    )
    assert (
        s.loc["R", "status"] == "fail"
        and "binding checks 0/2 pass, 1 fail, 1 not assessable" in s.loc["R", "verdict"]
    )
    assert s.loc["R", "main_reasons"].startswith("far: why far | [无法评估 n/a] bus: why bus")
