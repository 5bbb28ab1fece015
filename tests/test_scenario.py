"""What-if scenarios (`ditan run --scenario FILE`): every expected number is computed by hand or independently.

The small study area: unit A = 1 km × 1 km, one street along y = 500, two apartment blocks north of it
(homes at their centres, 25 m off the street), a primary school, and one bike-rental station.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import openpyxl
import pandas as pd
import pytest
import shapely
import yaml

from ditan.pipelines.assemble.load import load_study_area
from ditan.pipelines.compute.indicators import compute
from ditan.pipelines.config.params import params_from_config
from ditan.pipelines.config.schema import parse_config
from ditan.pipelines.jobs.run import CARBON_OUTPUTS, OUTPUTS, SCENARIO_OUTPUTS, run
from ditan.pipelines.jobs.scenario import read_scenario
from ditan.pipelines.jobs.scenario_apply import apply_scenario
from ditan.pipelines.jobs.scenario_compare import compare, compare_wide
from ditan.spatial.engine.network import snap_points
from ditan.spatial.errors import ConfigError
from ditan.spatial.indicators.intensity import building_pieces
from ditan.spatial.standards.catalogue import load_catalogue
from tests.conftest import CRS, box, gdf, line, point

ROOT = Path(__file__).resolve().parents[1]
_SCRIPT = Path(sys.executable).with_name("ditan")
DITAN = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "ditan.pipelines.cli"]
#: floor areas of the two homes: 40 m × 30 m × 6 floors at x 100–140, 40 m × 30 m × 3 floors at x 500–540
FA1, FA2 = 40 * 30 * 6, 40 * 30 * 3
HOME1, HOME2 = (120, 525), (520, 525)


def _config(tmp: Path, **inputs) -> dict:
    gdf([{"unit_id": "A", "geometry": box(0, 0, 1000, 1000)}]).to_file(tmp / "units.gpkg")
    gdf([{"hw": "residential", "geometry": line((0, 500), (1000, 500))}]).to_file(
        tmp / "roads.gpkg"
    )
    gdf(
        [
            {"use": "apartments", "fl": 6, "geometry": box(100, 510, 140, 540)},
            {"use": "apartments", "fl": 3, "geometry": box(500, 510, 540, 540)},
        ]
    ).to_file(tmp / "buildings.gpkg")
    gdf([{"cat": "primary_school", "geometry": point(400, 505)}]).to_file(tmp / "pois.gpkg")
    gdf([{"kind": "自行车租赁点", "geometry": point(600, 505)}]).to_file(tmp / "stations.gpkg")
    data = {
        "name": "scenario_small",
        "inputs": {
            "units": {"path": "units.gpkg", "id_column": "unit_id"},
            "roads": {"path": "roads.gpkg", "class_column": "hw"},
            "buildings": {"path": "buildings.gpkg", "type_column": "use", "floors_column": "fl"},
            "pois": {"path": "pois.gpkg", "category_column": "cat"},
            "stations": {"path": "stations.gpkg", "kind_column": "kind"},
            **inputs,
        },
        # the small area is known to hold only its school and its bike station: every other category and kind is
        # a measured 0, not a data gap
        "life_circle": {
            "confirmed_absent": [c for c in load_catalogue().categories if c != "primary_school"]
        },
        "transit": {"confirmed_absent": ["bus_stop", "metro", "ev_charging"]},
        "map": {"tiles": False},
    }
    (tmp / "small.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return data


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("small")
    cfg = parse_config(_config(tmp), base_dir=tmp)
    sa = load_study_area(cfg)
    return tmp, cfg, sa, compute(sa, params_from_config(cfg))


def _scenario(path: Path, rows: list[dict], crs: str = CRS) -> Path:
    gpd.GeoDataFrame(rows, geometry="geometry", crs=CRS).to_crs(crs).to_file(path)
    return path


def _apply(small, rows, name="s.gpkg", crs=CRS):
    tmp, cfg, sa, base = small
    sc = read_scenario(_scenario(tmp / name, rows, crs), sa)
    scen = compute(apply_scenario(sa, sc), params_from_config(cfg))
    long = compare(base, scen)
    return sc, scen, long.set_index("indicator")


def test_adding_a_kindergarten_150_m_along_the_street(small):
    _, _, sa, base = small
    n_fac = len(sa.facilities)
    sc, scen, long = _apply(
        small,
        [{"action": "add", "layer": "facility", "category": "幼儿园", "geometry": point(270, 505)}],
    )
    assert len(sa.facilities) == n_fac  # the base is not modified
    # access legs + along-street metres: home 1 25 + 150 + 5 = 180 m, home 2 25 + 250 + 5 = 280 m, both ≤ 300 m
    assert scen.origin_distances["kindergarten"].iloc[:2].tolist() == pytest.approx([180.0, 280.0])
    assert math.isinf(base.origin_distances["kindergarten"].iloc[0])
    k = long.loc["lc_kindergarten_pct"]
    assert (k["base"], k["scenario"], k["change"], k["changed"]) == (
        0.0,
        pytest.approx(100.0),
        pytest.approx(100.0),
        True,
    )
    assert k["zh"] == "幼儿园/托育5分钟生活圈覆盖率" and k["unit"] == "%" and k["unit_id"] == "A"
    assert "方案新增 幼儿园/托育" in set(apply_scenario(sa, sc).facilities["name"])
    # only the kindergarten and the 5-minute score (one more of the tier's categories reached: 100 % of the homes reach
    # 1 of the 5; no all-5-minute tier: the other 5-minute categories are still missing) changed
    assert sorted(long.index[long["changed"]]) == ["lc_5min_score_pct", "lc_kindergarten_pct"]
    n5 = sum(c.tier == "5min" for c in load_catalogue().categories.values())
    assert long.loc["lc_5min_score_pct", "change"] == pytest.approx(100.0 / n5)


def test_compare_is_one_row_per_unit_and_numeric_indicator_in_registry_order(small):
    _, _, _, base = small
    same = compare(base, base)
    numeric = [
        c
        for c in base.columns
        if c in base.indicators and pd.api.types.is_numeric_dtype(base.indicators[c])
    ]
    assert list(same.columns) == [
        "unit_id",
        "name",
        "indicator",
        "zh",
        "en",
        "unit",
        "base",
        "scenario",
        "change",
        "changed",
    ]
    assert (
        same["indicator"].tolist() == numeric
        and "far_source" not in numeric
        and "lc_basis" not in numeric
    )
    assert not same["changed"].any() and same["changed"].dtype == bool
    assert compare_wide(same).shape[1] == 0 and compare_wide(same, changed_only=False).shape[
        1
    ] == 3 * len(numeric)


def test_adding_a_bus_stop(small):
    _, scen, long = _apply(
        small,
        [{"action": "add", "layer": "station", "kind": "bus_stop", "geometry": point(10, 505)}],
    )
    # straight line: home 1 √(110² + 20²) = 111.8 m, home 2 √(510² + 20²) = 510.4 m > 500 m
    assert math.hypot(510, 20) > 500 > math.hypot(110, 20)
    share = FA1 / (FA1 + FA2) * 100.0
    r = long.loc["bus_stop_500m_radius_pct"]
    assert (r["base"], r["scenario"], r["change"]) == (
        0.0,
        pytest.approx(share),
        pytest.approx(share),
    )
    # on the network: 25 + 110 + 5 = 140 m, and 25 + 510 + 5 = 540 m, beyond the 500 m radius the search stops at (inf)
    assert scen.origin_distances["bus_stop"].iloc[:2].tolist() == pytest.approx([140.0, math.inf])
    assert long.loc["bus_stop_500m_network_pct", "scenario"] == pytest.approx(share)
    c = long.loc["bus_stop_count"]
    assert (c["base"], c["scenario"], c["change"]) == (0.0, 1.0, 1.0)


def test_removing_the_only_bike_rental_station_by_nearest_match(small):
    sc, scen, long = _apply(
        small, [{"action": "remove", "layer": "station", "geometry": point(610, 510)}]
    )  # 11.2 m from it
    assert sc.changes[0].matched.endswith("(11.2 m) [bike_rental]")
    rad, net = long.loc["bike_rental_500m_radius_pct"], long.loc["bike_rental_500m_network_pct"]
    # before: home 1 √(480² + 20²) = 480.4 m straight but 25 + 480 + 5 = 510 m walking; home 2 80.0 m / 110 m
    assert rad["base"] == pytest.approx(100.0) and net["base"] == pytest.approx(
        FA2 / (FA1 + FA2) * 100.0
    )
    assert rad["scenario"] == 0.0 and net["scenario"] == 0.0
    assert long.loc["bike_rental_count", "change"] == -1.0


def test_adding_a_parcel_with_a_far_drawn_in_wgs84(small):
    rows = [
        {
            "action": "add",
            "layer": "parcel",
            "code": "B1",
            "code_system": "gb50137",
            "far": 2.0,
            "geometry": box(700, 0, 1000, 400),
        }
    ]
    _, scen, long = _apply(small, rows, name="p.geojson", crs="EPSG:4326")
    f = long.loc["far_ratio"]
    # buildings: 7,200 + 3,600 m² on 1 km²; the parcel (clear of both buildings): 2.0 × 300 m × 400 m = 240,000 m²
    assert f["base"] == pytest.approx((FA1 + FA2) / 1e6)
    assert f["scenario"] == pytest.approx((FA1 + FA2 + 2.0 * 300 * 400) / 1e6, rel=1e-6)
    assert f["change"] == pytest.approx(2.0 * 300 * 400 / 1e6, rel=1e-6)
    assert small[3].indicators.loc["A", "far_source"] == "buildings"
    assert scen.indicators.loc["A", "far_source"] == "parcels+buildings"
    assert long.loc["lu_commercial_pct", "scenario"] == pytest.approx(12.0, rel=1e-6)


def test_a_parcel_layer_loses_a_parcel_by_id(tmp_path):
    gdf(
        [
            {"pid": "P1", "code": "R2", "far": 1.5, "geometry": box(0, 600, 500, 1000)},
            {"pid": "P2", "code": "G1", "far": None, "geometry": box(500, 0, 1000, 200)},
        ]
    ).to_file(tmp_path / "parcels.gpkg")
    data = _config(
        tmp_path,
        parcels={
            "path": "parcels.gpkg",
            "code_column": "code",
            "code_system": "gb50137",
            "id_column": "pid",
            "far_column": "far",
        },
    )
    cfg = parse_config(data, base_dir=tmp_path)
    sa = load_study_area(cfg)
    base = compute(sa, params_from_config(cfg))
    sc = read_scenario(
        _scenario(
            tmp_path / "s.gpkg",
            [{"action": "remove", "layer": "parcel", "target_id": "P1", "geometry": None}],
        ),
        sa,
    )
    new = apply_scenario(sa, sc)
    assert new.parcels["parcel_id"].tolist() == ["P2"] and new.landuse["tag"].tolist() == ["G1"]
    assert sa.parcels["parcel_id"].tolist() == ["P1", "P2"]
    long = compare(base, compute(new, params_from_config(cfg))).set_index("indicator")
    assert long.loc["far_ratio", "base"] == pytest.approx(
        (1.5 * 500 * 400 + FA1 + FA2) / 1e6
    )  # the homes stand outside P1
    assert long.loc["far_ratio", "scenario"] == pytest.approx((FA1 + FA2) / 1e6)
    assert long.loc["lu_residential_pct", "change"] == pytest.approx(-20.0)


def test_every_bad_row_is_reported_at_once(small):
    tmp, cfg, sa, _ = small
    rows = [
        {
            "action": "move",
            "layer": "facility",
            "category": "kindergarten",
            "geometry": point(300, 505),
        },
        {"action": "add", "layer": "tree", "category": "kindergarten", "geometry": point(300, 505)},
        {
            "action": "add",
            "layer": "facility",
            "category": "swimming pool",
            "geometry": point(300, 505),
        },
        {
            "action": "remove",
            "layer": "station",
            "kind": "bike_rental",
            "geometry": point(900, 505),
        },
        {"action": "add", "layer": "facility", "category": "kindergarten", "geometry": None},
        {
            "action": "add",
            "layer": "facility",
            "category": "kindergarten",
            "geometry": point(300, 505),
        },
    ]  # fine
    with pytest.raises(ConfigError) as err:
        read_scenario(_scenario(tmp / "bad.gpkg", rows), sa)
    msg = str(err.value)
    assert "5 problem(s) in scenario bad.gpkg" in msg
    assert "row 1: unknown action 'move'; use add or remove" in msg
    assert "row 2: unknown layer 'tree'; use facility, station or parcel" in msg
    assert (
        "row 3: unknown category 'swimming pool'; use a catalogue id, Chinese name or alias" in msg
    )
    assert (
        "row 4: no station (bike_rental) within 20 m of the row's geometry (the nearest is 300 m away)"
        in msg
    )
    assert "row 5: no geometry; draw a point" in msg
    assert "row 6" not in msg
    blind = dataclasses.replace(sa, has_station_source=False)
    with pytest.raises(
        ConfigError,
        match=r"row 1: the study area has no station source.*name inputs.stations or inputs.osm",
    ):
        read_scenario(
            _scenario(
                tmp / "blind.gpkg",
                [{"action": "add", "layer": "station", "kind": "metro", "geometry": point(9, 9)}],
            ),
            blind,
        )


def test_a_csv_scenario_and_a_remove_by_an_id_the_layer_lacks(small):
    tmp, cfg, sa, _ = small
    csv = tmp / "s.csv"
    csv.write_text(
        "action,layer,kind,target_id,x,y\nremove,station,bike_rental,123,,\n", encoding="utf-8"
    )
    with pytest.raises(
        ConfigError, match=r"row 1: target_id given but the station layer has no ids \(osm_id\)"
    ):
        read_scenario(csv, sa)
    x, y = gpd.GeoSeries([point(270, 505)], crs=CRS).to_crs(4326).iloc[0].coords[0]
    csv.write_text(
        f"action,layer,category,name,lon,lat\n新增,设施,托儿所,新托儿所,{x!r},{y!r}\n",
        encoding="utf-8",
    )
    sc = read_scenario(csv, sa)
    assert sc.changes[0].values == ("kindergarten",) and sc.changes[0].name == "新托儿所"
    assert shapely.distance(sc.changes[0].geometry, point(270, 505)) < 1e-3


def test_run_writes_the_comparison_next_to_the_outputs(small, tmp_path):
    tmp, cfg, _, _ = small
    scen = _scenario(
        tmp / "k.gpkg",
        [
            {
                "action": "add",
                "layer": "facility",
                "category": "kindergarten",
                "geometry": point(270, 505),
            }
        ],
    )
    out = run(cfg, tmp_path / "out", scenario=scen)
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == sorted(OUTPUTS + SCENARIO_OUTPUTS + CARBON_OUTPUTS)
    raw = (tmp_path / "out" / "scenario_comparison.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    table = pd.read_csv(tmp_path / "out" / "scenario_comparison.csv", encoding="utf-8-sig")
    assert table.loc[table["changed"], "indicator"].tolist() == [
        "lc_kindergarten_pct",
        "lc_5min_score_pct",
    ]
    own = pd.read_csv(tmp_path / "out" / "scenario_indicators.csv", encoding="utf-8-sig").set_index(
        "unit_id"
    )
    assert (
        own.loc["A", "lc_kindergarten_pct"] == 100.0 and own.loc["A", "far_source"] == "buildings"
    )
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["scenario"]["file"] == str(scen) and manifest["scenario"]["changes"] == {
        "add facility": 1
    }
    assert (
        manifest["scenario"]["sha256"] == out.manifest["scenario"]["sha256"]
        and len(manifest["scenario"]["sha256"]) == 64
    )
    assert set(SCENARIO_OUTPUTS) <= set(manifest["output_sha256"])
    wb = openpyxl.load_workbook(tmp_path / "out" / "scenario.xlsx")
    ws = wb["方案对比 comparison"]
    assert [c.value for c in ws[1]] == [
        "单元",
        "名称",
        "幼儿园/托育5分钟生活圈覆盖率 基准",
        "幼儿园/托育5分钟生活圈覆盖率 方案",
        "幼儿园/托育5分钟生活圈覆盖率 变化",
        "5分钟生活圈设施完备度 基准",
        "5分钟生活圈设施完备度 方案",
        "5分钟生活圈设施完备度 变化",
    ]
    assert [c.value for c in ws[2]][2:5] == [
        f"Kindergarten or childcare within 300 m (%) {w}" for w in ("base", "scenario", "change")
    ]
    n5 = sum(c.tier == "5min" for c in load_catalogue().categories.values())
    assert [c.value for c in ws[3]][:5] == ["A", "单元 A", 0, 100, 100]
    assert [c.value for c in ws[3]][5:] == pytest.approx([0, 100 / n5, 100 / n5], abs=1e-3)
    assert wb["全部指标 all indicators"].max_row == 2 + len(table)
    run(
        cfg, tmp_path / "out"
    )  # a run without the scenario replaces the folder, scenario files and all
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(OUTPUTS + CARBON_OUTPUTS)


def _ditan(*args: object, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "500", "NO_COLOR": "1", "PYTHONIOENCODING": "utf-8"}
    return subprocess.run(
        [*DITAN, *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=env,
        timeout=300,
    )


def test_cli_run_with_a_scenario(small, tmp_path):
    tmp = small[0]
    scen = _scenario(
        tmp / "cli.gpkg",
        [{"action": "add", "layer": "station", "kind": "公交站", "geometry": point(10, 505)}],
    )
    res = _ditan(
        "run", tmp / "small.yaml", "--scenario", scen, "--out", tmp_path / "o", "-q", cwd=tmp_path
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip().endswith("o")
    assert (
        "scenario_comparison.csv" in res.stderr.replace("\n", "")
        and "3 indicator values changed in 1 units" in res.stderr
    )
    assert {p.name for p in (tmp_path / "o").iterdir()} == set(
        OUTPUTS + SCENARIO_OUTPUTS + CARBON_OUTPUTS
    )
    bad = _scenario(
        tmp / "clibad.gpkg",
        [{"action": "add", "layer": "station", "kind": "tram", "geometry": point(10, 505)}],
    )
    res = _ditan(
        "run", tmp / "small.yaml", "--scenario", bad, "--out", tmp_path / "o2", "-q", cwd=tmp_path
    )
    assert (
        res.returncode == 2
        and "row 1: unknown kind 'tram'" in res.stderr
        and "Traceback" not in res.stderr
    )
    assert not (tmp_path / "o2").exists()


# --- Beijing ------------------------------------------------------------------------------

#: the new kindergarten: on the street north of the uncovered homes of U003 (清华大学（学堂路、成府路）), EPSG:4548
NEW_KG = (441672.0, 4429325.0)


def _network_distances_from(
    net, source: shapely.Point, origins: np.ndarray, snap_max: float
) -> np.ndarray:
    """Walking metres from ``source`` to each origin by networkx Dijkstra (virtual nodes at the snaps)."""
    g = nx.Graph()
    for a, b, w in zip(net.u.tolist(), net.v.tolist(), net.length_m.tolist(), strict=True):
        if not g.has_edge(a, b) or g[a][b]["weight"] > w:
            g.add_edge(a, b, weight=w)
    f = snap_points(net, np.array([source]), max_distance_m=snap_max)
    o = snap_points(net, origins, max_distance_m=snap_max)
    assert f.ok[0]
    e, L = f.edge[0], float(net.length_m[f.edge[0]])
    g.add_edge("src", int(net.u[e]), weight=float(f.access_m[0] + f.t[0] * L))
    g.add_edge("src", int(net.v[e]), weight=float(f.access_m[0] + (1 - f.t[0]) * L))
    dist = nx.single_source_dijkstra_path_length(g, "src", weight="weight")
    out = np.full(len(origins), np.inf)
    for j in np.flatnonzero(o.ok):
        e, L, acc = o.edge[j], float(net.length_m[o.edge[j]]), o.access_m[j]
        d = min(
            dist.get(int(net.u[e]), np.inf) + acc + o.t[j] * L,
            dist.get(int(net.v[e]), np.inf) + acc + (1 - o.t[j]) * L,
        )
        if e == f.edge[0]:  # on the same edge: the direct walk along it
            d = min(d, acc + f.access_m[0] + abs(o.t[j] - f.t[0]) * L)
        out[j] = d
    return out


@pytest.mark.slow
def test_a_new_kindergarten_in_beijing_matches_networkx(beijing, tmp_path):
    cfg, sa, base = beijing  # the session's (conftest.py): apply_scenario leaves sa as it is
    new_pt = shapely.Point(NEW_KG)
    path = tmp_path / "kg.geojson"
    gpd.GeoDataFrame(
        [{"action": "add", "layer": "facility", "category": "kindergarten", "name": "新幼儿园"}],
        geometry=[new_pt],
        crs=sa.crs,
    ).to_crs(4326).to_file(path)
    scen = compute(apply_scenario(sa, read_scenario(path, sa)), params_from_config(cfg))
    long = compare(base, scen).set_index(["unit_id", "indicator"])

    # independently of ditan's distances: each origin (a residential building's point_on_surface) is covered when it
    # was before (ditan's base distance) or lies within 300 m of the new one by networkx; the weights are the
    # residential floor area of each building on each unit (ditan's building pieces: overlapping buildings counted once)
    res = np.flatnonzero(sa.buildings["residential"].to_numpy())
    origins = shapely.point_on_surface(sa.buildings.geometry.to_numpy()[res])
    d_new = _network_distances_from(base.network, new_pt, origins, cfg.life_circle.snap_max_m)
    before = base.origin_distances["kindergarten"].to_numpy()[res] <= 300
    covered = before | (d_new <= 300)
    pieces = building_pieces(sa.units, sa.buildings)
    pieces = pieces[np.isin(pieces["building"].to_numpy(), res)]
    pos = np.searchsorted(res, pieces["building"].to_numpy())
    checked = {}
    for u, uid in enumerate(sa.units.index):
        mine = (pieces["unit"] == u).to_numpy()
        fa = pieces["floor_area_m2"].to_numpy()[mine]
        if fa.sum() <= 0:
            continue
        assert fa.sum() == pytest.approx(
            base.indicators.loc[uid, "residential_floor_area_m2"], rel=1e-9
        )
        row = long.loc[(uid, "lc_kindergarten_pct")]
        if not base.indicators.loc[
            uid, "has_residents"
        ]:  # homes on land mapped as something else: not assessed
            assert np.isnan(row["base"]) and np.isnan(row["scenario"]), uid
            continue
        expected = fa[covered[pos[mine]]].sum() / fa.sum() * 100.0
        assert row["scenario"] == pytest.approx(expected, abs=1e-6), uid
        assert row["change"] == pytest.approx(
            expected - fa[before[pos[mine]]].sum() / fa.sum() * 100.0, abs=1e-6
        ), uid
        checked[uid] = (row["base"], row["scenario"], expected)
    u003 = checked["U003"]
    assert u003[1] > u003[0]  # the values themselves are checked against networkx above
    # U003 and its neighbour U005 (清华大学（中关村北大街、清华南路）) gain
    assert sum(s > b_ for b_, s, _ in checked.values()) == 2
    print("Beijing U003 lc_kindergarten_pct:", u003, "U005:", checked.get("U005"))

    # removing the sample's only kindergarten by its OSM id leaves no unit covered
    kg = sa.facilities[sa.facilities["category"] == "kindergarten"]
    assert len(kg) == 1
    path = tmp_path / "rm.csv"
    path.write_text(
        f"action,layer,target_id,x,y\nremove,facility,{kg['osm_id'].iloc[0]},,\n", encoding="utf-8"
    )
    gone = compute(apply_scenario(sa, read_scenario(path, sa)), params_from_config(cfg))
    assert gone.indicators["lc_kindergarten_pct"].fillna(0).max() == 0.0
