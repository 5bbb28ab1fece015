"""Pilot screening (试点遴选, `ditan screen`): scores, ranking, shortlist and reasons by hand; the Beijing sample end to end."""

from __future__ import annotations

import copy
import csv
import math
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import openpyxl
import pandas as pd
import pytest
from shapely.geometry import box

from ditan.maps.pages import screening_map
from ditan.pipelines.cli import main
from ditan.pipelines.config.schema import parse_config
from ditan.pipelines.jobs.screen import OUTPUTS, profile_ref
from ditan.pipelines.jobs.screen_scoring import HEADERS, reason_zh, screen
from ditan.spatial.errors import ConfigError
from ditan.spatial.standards.profiles import load_profile, parse_profile

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "pipelines" / "configs" / "beijing_haidian.yaml"
PBF = ROOT / "data" / "beijing_haidian_tsinghua" / "map.osm.pbf"
SRC = {"source": "fixture", "clause": "表1"}
PROFILE = {
    "id": "fixture", "zh": "测试方案", "source": "fixture",
    "rules": [
        {"id": "b_road", "indicator": "road_density_km_per_km2", "zh": "路网密度", "comparator": ">=", "target": 3, "binding": "binding", **SRC},
        {"id": "b_far", "indicator": "far_ratio", "zh": "容积率", "comparator": "range", "target": 1.2, "target_max": 3,
         "binding": "binding", **SRC},
        {"id": "g_green", "indicator": "green_coverage_pct", "zh": "绿化覆盖率", "comparator": ">=", "target": 5, "binding": "guiding", **SRC},
        {"id": "g_bike", "indicator": "bike_rental_count", "zh": "自行车租赁站点", "comparator": "present", "binding": "guiding", **SRC},
        {"id": "b_transit", "indicator": "transit_mode_share_pct", "zh": "公交分担率", "comparator": ">=", "target": 60,
         "binding": "binding", **SRC},
    ],
}  # fmt: skip


def _table() -> pd.DataFrame:
    """Four candidates, scored by hand below (transit share is never assessable).

    u1: road 2 ✗, FAR 2.5 ✓, green 10 ✓, bike 0 ✗ → B 1/2, G 1/2 → 100 × (2 + 1) / (4 + 2) = 50, 1 binding failed
    u2: road 3.5 ✓, FAR 0.8 ✗, green 6 ✓, bike 0 ✗ → B 1/2, G 1/2 → 50, 1 binding failed
    u3: road NaN, FAR 1.5 ✓, green 1 ✗, bike 0 ✗ → B 1/1, G 0/2 → 100 × 2 / (2 + 2) = 50, 0 binding failed
    u4: road 4.5 ✓, FAR 1.8 ✓, green 3.6 ✗, bike 2 ✓ → B 2/2, G 1/2 → 100 × 5 / 6 = 83.33
    """
    return pd.DataFrame(
        {
            "name": ["一号", "二号", "三号", "四号"],
            "road_density_km_per_km2": [2.0, 3.5, np.nan, 4.5],
            "far_ratio": [2.5, 0.8, 1.5, 1.8],
            "green_coverage_pct": [10.0, 6.0, 1.0, 3.6],
            "bike_rental_count": [0, 0, 0, 2],
        },
        index=pd.Index(["u1", "u2", "u3", "u4"], name="unit_id"),
    )


def _decode(text: str) -> str:
    """The strings the browser sees: undo the \\uXXXX escapes of folium's JSON embedding."""
    return re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), text)


def _row(scr, uid: str) -> pd.Series:
    return scr.table.set_index("unit_id").loc[uid]


# --- rules method --------------------------------------------------------------------------


def test_rules_scores_and_ranking_by_hand():
    scr = screen(_table(), parse_profile(PROFILE))
    t = scr.table
    assert scr.method == "rules"  # the fixture scores no items
    assert list(t.columns) == list(HEADERS)
    # u3 ties u1 and u2 at 50 but fails no binding rule; u1 before u2 by unit id
    assert t["unit_id"].tolist() == ["u4", "u3", "u1", "u2"]
    assert t["rank"].tolist() == [1, 2, 3, 4]
    assert t["score"].tolist() == pytest.approx([500 / 6, 50.0, 50.0, 50.0])
    assert t[
        ["binding_met", "binding_assessable", "guiding_met", "guiding_assessable"]
    ].to_numpy().tolist() == [[2, 2, 1, 2], [1, 1, 0, 2], [1, 2, 1, 2], [1, 2, 1, 2]]
    assert t["binding_met_pct"].tolist() == pytest.approx([100.0, 100.0, 50.0, 50.0])
    assert set(t["method"]) == {"rules"}
    assert t["points"].isna().all() and (t["level"] == "").all()
    assert t["shortlisted"].tolist() == ["yes"] * 4  # top 10 by default


def test_reasons_text_exact():
    u4 = _row(screen(_table(), parse_profile(PROFILE)), "u4")
    assert (
        u4["reasons_met"]
        == "路网密度 4.5 km/km² ≥ 3 km/km²；容积率 1.8 ∈ 1.2–3；自行车租赁站点 2 (有)"
    )
    assert u4["reasons_missed"] == "绿化覆盖率 3.6 % < 5 %"
    assert u4["not_assessable"] == "公交分担率"
    u2 = _row(screen(_table(), parse_profile(PROFILE)), "u2")
    assert u2["reasons_missed"] == "容积率 0.8 < 1.2；自行车租赁站点 0 (无)"  # binding rules first
    assert (
        _row(screen(_table(), parse_profile(PROFILE)), "u3")["not_assessable"]
        == "路网密度；公交分担率"
    )


def test_reason_text_comparators():
    p = parse_profile(PROFILE)
    far = p.rule("b_far")
    assert reason_zh(far, "ratio", 3.5, False) == "容积率 3.5 > 3"
    rule = p.rule("b_road").model_copy(update={"comparator": "<"})
    assert reason_zh(rule, "km/km²", 4.0, False) == "路网密度 4 km/km² ≥ 3 km/km²"
    assert reason_zh(p.rule("g_bike"), "yes/no", 1.0, True) == "自行车租赁站点 有"


def test_shortlist_respects_top_and_min_binding_pct():
    p = parse_profile(PROFILE)
    t = screen(_table(), p, top=2).table
    assert t.loc[t["shortlisted"] == "yes", "unit_id"].tolist() == ["u4", "u3"]
    t = screen(_table(), p, top=3, min_binding_pct=60).table
    assert t.loc[t["shortlisted"] == "yes", "unit_id"].tolist() == [
        "u4",
        "u3",
    ]  # u1, u2 meet 50 % of their binding rules
    t = screen(_table(), p, top=3, min_binding_pct=50).table
    assert t.loc[t["shortlisted"] == "yes", "unit_id"].tolist() == ["u4", "u3", "u1"]
    t = screen(_table(), p, top=1, min_binding_pct=50).table
    assert t["shortlisted"].tolist() == ["yes", "no", "no", "no"]
    # a candidate with no assessable binding rule never meets a minimum share
    only_road = screen(_table().assign(far_ratio=np.nan), p, min_binding_pct=0).table.set_index(
        "unit_id"
    )
    assert (
        only_road.loc["u3", "binding_assessable"] == 0
        and only_road.loc["u3", "shortlisted"] == "no"
    )


def test_kinds_follow_the_profile():
    data = copy.deepcopy(PROFILE)
    data["kinds"] = {"new": "城市新建社区", "existing": "城市既有社区"}
    data["rules"][0]["applies_to"] = ["new"]  # the road rule only for new communities
    t = screen(_table(), parse_profile(data), kind="existing").table.set_index("unit_id")
    assert (
        t.loc["u1", "binding_assessable"] == 1 and "路网密度" not in t.loc["u1", "reasons_missed"]
    )
    assert set(t["kind"]) == {"existing"}
    with pytest.raises(ConfigError, match="kind"):
        screen(_table(), parse_profile(data), kind="rural")


# --- points method -------------------------------------------------------------------------


def test_points_method_with_the_application_profile():
    """Points of the lowcarbon_application items by hand: max points per item, summed over the items.

    Items: 11_bike 1, 11_bus 1, 19 max(EV 3.5, e-bike 2.5), 22 native plants 3, 23 max(plan 0.5, greenway 1,
    linked 3); e-bike, native plants and the plan are never assessable.

    a: bike ✓ 1, bus ✗, EV ✓ 3.5, greenway ✓ and linked ✓ → max(1, 3) = 3 → 7.5 of 1 + 1 + 3.5 + 3 = 8.5
    b: bike ✗, bus ✓ 1, EV ✗, greenway ✓ 1, linked ✗ → 2 of 8.5
    c: bike and bus NaN, EV ✓ 3.5, no greenway → 3.5 of 3.5 + 3 = 6.5
    Score = 100 × points / points possible (the assessable items only): a 88.2, c 53.8, b 23.5.
    """
    table = pd.DataFrame(
        {
            "name": ["a", "b", "c"],
            "bike_rental_500m_radius_pct": [95.0, 50.0, np.nan],
            "bus_stop_500m_radius_pct": [80.0, 92.0, np.nan],
            "ev_charging_count": [2, 0, 1],
            "greenway_km": [0.5, 1.2, 0.0],
            "greenway_station_links": [2, 0, 0],
        },
        index=pd.Index(["a", "b", "c"], name="unit_id"),
    )
    scr = screen(table, load_profile("lowcarbon_application"))
    t = scr.table
    assert scr.method == "points"
    assert t["unit_id"].tolist() == ["a", "c", "b"]
    assert t["score"].tolist() == pytest.approx([100 * 7.5 / 8.5, 100 * 3.5 / 6.5, 100 * 2 / 8.5])
    assert t["points"].tolist() == pytest.approx([7.5, 3.5, 2.0])
    assert t["points_possible"].tolist() == pytest.approx([8.5, 6.5, 8.5])
    assert (t["binding_assessable"] == 0).all()  # the application profile has guiding items only
    with pytest.raises(ConfigError, match="scores no items"):
        screen(_table(), parse_profile(PROFILE), method="points")


# --- weights method ------------------------------------------------------------------------


def test_weights_method_by_hand():
    """Green coverage (rule ≥ 5, weight 3) and building density (no rule, lower is better, weight 1).

    green: w1 6 met → 1; shortfalls w2 5 − 4 = 1, w3 5 − 1 = 4 → w2 1 − 1/4 = 0.75 (= (4 − 1) / (5 − 1)), w3 0
    building density: min 30, max 50, lower → w1 (50 − 30)/20 = 1, w2 0, w3 (50 − 40)/20 = 0.5
    score = 100 × (3·s_green + s_bd) / 4 → w1 100, w2 56.25, w3 12.5
    """
    table = pd.DataFrame(
        {
            "name": ["w1", "w2", "w3"],
            "green_coverage_pct": [6.0, 4.0, 1.0],
            "building_density_pct": [30.0, 50.0, 40.0],
        },
        index=pd.Index(["w1", "w2", "w3"], name="unit_id"),
    )
    scr = screen(
        table,
        parse_profile(PROFILE),
        method="weights",
        weights={"green_coverage_pct": 3, "building_density_pct": 1},
        direction={"building_density_pct": "lower"},
    )
    assert scr.table["unit_id"].tolist() == ["w1", "w2", "w3"]
    assert scr.table["score"].tolist() == pytest.approx([100.0, 56.25, 12.5])
    higher = screen(
        table, parse_profile(PROFILE), method="weights", weights={"building_density_pct": 1}
    ).table
    assert higher.set_index("unit_id")["score"].to_dict() == pytest.approx(
        {"w1": 0.0, "w2": 100.0, "w3": 50.0}
    )
    nan = screen(
        table.assign(green_coverage_pct=[6.0, np.nan, 1.0]),
        parse_profile(PROFILE),
        method="weights",
        weights={"green_coverage_pct": 1},
    ).table.set_index("unit_id")
    # a missing value adds neither score nor weight: w2 has no weighted indicator with a value → no score, ranked last
    assert nan.loc[["w1", "w3"], "score"].tolist() == pytest.approx([100.0, 0.0]) and np.isnan(
        nan.loc["w2", "score"]
    )
    assert nan.loc["w2", "rank"] == 3
    with pytest.raises(ConfigError, match="lu_nothing"):
        screen(table, parse_profile(PROFILE), method="weights", weights={"lu_nothing": 1})


# --- levels --------------------------------------------------------------------------------


def test_levels_column():
    """A profile with levels fills the level columns.

    Points per rule: road 2, FAR 2, green 2, bike 1. u4 5 with road ✓ → 近零碳; u1 4 without road → 低碳;
    u2 4 with road → 近零碳; u3 2 → 低碳. 零碳 needs 6 points and FAR ✓.
    """
    data = copy.deepcopy(PROFILE)
    for rule, pts in zip(data["rules"], [2, 2, 2, 1], strict=False):
        rule["points"] = pts
    data["levels"] = [
        {"id": "low", "zh": "低碳", "min_points": 2},
        {"id": "near_zero", "zh": "近零碳", "min_points": 4, "requires": ["b_road"]},
        {"id": "zero", "zh": "零碳", "min_points": 6, "requires": ["b_road", "b_far"]},
    ]
    t = screen(_table(), parse_profile(data)).table.set_index("unit_id")
    assert t["points"].to_dict() == {"u1": 4.0, "u2": 4.0, "u3": 2.0, "u4": 5.0}
    assert t["level"].to_dict() == {"u1": "low", "u2": "near_zero", "u3": "low", "u4": "near_zero"}
    assert t["level_zh"].to_dict() == {"u1": "低碳", "u2": "近零碳", "u3": "低碳", "u4": "近零碳"}
    assert list(t.index) == [
        "u4",
        "u1",
        "u2",
        "u3",
    ]  # u1 and u2: 4 points, one binding rule failed each → by id


# --- map escaping --------------------------------------------------------------------------


def test_map_escapes_data_text_and_outlines_the_shortlist():
    payload = "<img src=x onerror=alert(1)>"
    table = _table().assign(name=[payload, "二号", "三号", "四号"])
    scr = screen(table, parse_profile(PROFILE), top=1)
    units = gpd.GeoDataFrame(
        {"name": table["name"]},
        geometry=[box(441000 + i * 300, 4428000, 441250 + i * 300, 4428250) for i in range(4)],
        crs="EPSG:4548",
        index=table.index,
    )
    page = _decode(
        screening_map(
            units,
            scr.table,
            method=scr.method,
            profile_zh=scr.profile.zh,
            attribution="© <b>OSM</b>",
            tiles=False,
        )
    )
    assert payload not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "<b>OSM</b>" not in page and "&lt;b&gt;OSM&lt;/b&gt;" in page
    assert "入围 Shortlisted" in page and "#d7191c" in page


def test_profile_reference_resolution(tmp_path):
    assert profile_ref("lowcarbon_application", tmp_path) == "lowcarbon_application"
    assert profile_ref("mine/p.yaml", tmp_path) == (tmp_path / "mine" / "p.yaml").resolve()
    assert profile_ref(str(tmp_path / "p.yaml"), ROOT) == tmp_path / "p.yaml"


# --- config --------------------------------------------------------------------------------


def _cfg(screening: dict) -> dict:
    return {"name": "t", "inputs": {"osm": {"path": str(PBF)}}, "screening": screening}


def test_config_screening_keys(tmp_path):
    cfg = parse_config(
        _cfg(
            {
                "method": "weights",
                "weights": {"green_coverage_pct": 2},
                "direction": {"green_coverage_pct": "higher"},
                "top": 5,
                "min_binding_pct": 50,
            }
        ),
        base_dir=tmp_path,
    )
    assert cfg.screening.top == 5 and cfg.screening.weights == {"green_coverage_pct": 2.0}
    assert parse_config(_cfg({}), base_dir=tmp_path).screening.method is None
    for bad, words in [
        ({"topp": 3}, "did you mean 'top'"),
        ({"method": "weights"}, "needs weights"),
        ({"weights": {"far_ratio": 0}}, "greater than 0"),
        ({"top": 0}, "screening.top"),
        ({"min_binding_pct": 120}, "min_binding_pct"),
        ({"direction": {"far_ratio": "lower"}}, "without a weight"),
    ]:
        with pytest.raises(ConfigError, match=words.replace("(", r"\(")):
            parse_config(_cfg(bad), base_dir=tmp_path)


def test_cli_bad_options_exit_2(tmp_path, capsys):
    assert main(["screen", str(CONFIG), "--top", "0", "--out", str(tmp_path / "a")]) == 2
    assert (
        main(["screen", str(CONFIG), "--profile", "no_such_profile", "--out", str(tmp_path / "b")])
        == 2
    )
    assert "no_such_profile" in capsys.readouterr().err
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


# --- Beijing end to end --------------------------------------------------------------------


@pytest.mark.slow
def test_beijing_screen_end_to_end(tmp_path, capsys):
    out = tmp_path / "screening"
    assert main(["screen", str(CONFIG), "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(OUTPUTS)
    assert (out / "screening.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    every = pd.read_csv(
        out / "screening.csv",
        encoding="utf-8-sig",
        dtype={"unit_id": str},
        keep_default_na=False,
        na_values=[""],
    )
    shipped = gpd.read_file(ROOT / "data" / "beijing_haidian_tsinghua" / "units.gpkg")
    assert sorted(every["unit_id"]) == sorted(shipped["unit_id"])  # every unit of the sample, once
    assert set(every["method"]) == {"rules"}
    # the pilot guide needs residents: units without any are listed after the ranking, rank and score empty
    apart = every[every["rank"].isna()]
    t = every[every["rank"].notna()].reset_index(drop=True)
    assert (
        apart["not_ranked"] == "无居住人口，未参与排序 not assessed: no residents"
    ).all() and apart["score"].isna().all()
    assert every["rank"].notna().tolist() == [True] * len(t) + [False] * len(
        apart
    )  # ranked first, then the units apart
    assert t["rank"].tolist() == list(range(1, len(t) + 1))
    scores = t["score"].to_numpy(dtype=float)
    assert all(a >= b for a, b in zip(scores[:-1], scores[1:], strict=True))  # sorted by score
    n_short = min(10, int(t["score"].notna().sum()))
    assert (t["shortlisted"] == "yes").sum() == n_short and (
        t["shortlisted"].iloc[:n_short] == "yes"
    ).all()
    comp = pd.read_csv(out / "compliance.csv", encoding="utf-8-sig", dtype={"unit_id": str})
    top = t.iloc[0]
    rows = comp[comp["unit_id"] == top["unit_id"]]
    for status, column in (("pass", "reasons_met"), ("fail", "reasons_missed")):
        texts = [] if pd.isna(top[column]) else top[column].split("；")
        zh = rows.loc[rows["status"] == status, "zh"].tolist()
        assert len(texts) == len(zh) and sorted(zh) == sorted(
            next(z for z in zh if s.startswith(z + " ")) for s in texts
        )
        for s in texts:  # the measured value in the reason is the compliance row's
            z = next(z for z in zh if s.startswith(z + " "))
            measured = rows.loc[(rows["zh"] == z) & (rows["status"] == status), "measured"].iloc[0]
            assert math.isclose(
                float(s[len(z) + 1 :].split(" ")[0].replace(",", "")),
                measured,
                rel_tol=5e-3,
                abs_tol=5e-3,
            )
    na = rows.loc[rows["status"] == "not_assessable", "zh"].tolist()
    assert sorted(str(top["not_assessable"]).split("；")) == sorted(na)
    b = rows[rows["binding"] == "binding"]
    assert top["binding_met"] == (b["status"] == "pass").sum()
    assert top["binding_assessable"] == (b["status"] != "not_assessable").sum()
    assert top["rules_assessed"] == f"{(rows['status'] != 'not_assessable').sum()}/{len(rows)}"
    per_unit = comp.groupby("unit_id")["status"].agg(
        lambda s: f"{(s != 'not_assessable').sum()}/{len(s)}"
    )
    assert every.set_index("unit_id")["rules_assessed"].to_dict() == per_unit.to_dict()
    assert not (
        (comp["status"] != "not_assessable") & comp["measured"].isna()
    ).any()  # never a fail on a NaN
    wb = openpyxl.load_workbook(out / "screening.xlsx", read_only=True)
    assert wb.sheetnames == ["遴选 screening"] + ["未参与排序 not ranked"] * (len(apart) > 0) + [
        "合规 compliance",
        "说明 method",
    ]
    head = list(wb["遴选 screening"].iter_rows(min_row=1, max_row=3, values_only=True))
    assert head[0][:4] == ("排名", "单元编号", "单元名称", "试点类型") and head[1][:2] == (
        "Rank",
        "Unit id",
    )
    assert head[2][1] == top["unit_id"]
    assert wb["合规 compliance"].max_row == len(comp) + 1
    wb.close()
    page = _decode((out / "screening_map.html").read_text(encoding="utf-8"))
    assert "入围 Shortlisted" in page and "排名 Rank" in page
    printed = capsys.readouterr()
    assert str(out) in printed.out
    with open(out / "screening.csv", encoding="utf-8-sig", newline="") as f:
        assert next(csv.reader(f))[:3] == ["rank", "unit_id", "name"]
