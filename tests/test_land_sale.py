"""Tests of `ditan check-parcels` (ditan.pipelines.jobs.land_sale): a hand-made study area, then the shipped Beijing parcels.

The hand-made area (EPSG:4548, coordinates relative to conftest's X0, Y0):

- units A = (0..1000, 0..1000) and B = (1000..2000, 0..1000), 1 km² each;
- streets y = 500 (x −100..2100, vertex at x = 1000) and x = 1000 (y −100..1100, vertex at y = 500);
- a bus stop at (600, 520), 20 m off the street y = 500; a kindergarten at (300, 470), 30 m off it;
- an existing residential parcel P0 (0..400, 0..400) in A: FAR 1.0 (160,000 m²), green ratio 25 %;
- one 20 × 20 m building of 5 floors in B at (1500..1520, 100..120): 2,000 m².

Parcels for sale (200 × 200 m = 40,000 m² each):

- S1 residential 0701 at (500..700, 550..750) in A: FAR 2.0, green 30 %, height 54 m;
- S2 residential 0701 at (1200..1400, 550..750) in B: FAR 3.5 (above 1.2–3), green 25 %;
- S3 kindergarten 080404 at (1600..1800, 200..400) in B: FAR 1.5, no green ratio (→ its green rule is not assessable).
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
import yaml
from conftest import CRS, box, gdf, line, point

from ditan.pipelines.cli import main
from ditan.pipelines.config.schema import load_config
from ditan.spatial.standards.catalogue import load_catalogue

ROOT = Path(__file__).resolve().parents[1]
BEIJING = ROOT / "pipelines" / "configs" / "beijing_land_sale.yaml"


def _write(folder: Path, name: str, frame: gpd.GeoDataFrame) -> str:
    path = folder / f"{name}.gpkg"
    frame.to_file(path, layer=name, driver="GPKG", engine="pyogrio")
    return str(path)


def _sale(folder: Path, rows: list[dict], name: str = "sale") -> str:
    return _write(folder, name, gdf(rows))


SALE = [
    {
        "pid": "S1",
        "name": "住宅一",
        "code": "0701",
        "far": 2.0,
        "green": 30.0,
        "height": 54.0,
        "geometry": box(500, 550, 700, 750),
    },
    {
        "pid": "S2",
        "name": "住宅二",
        "code": "0701",
        "far": 3.5,
        "green": 25.0,
        "height": 80.0,
        "geometry": box(1200, 550, 1400, 750),
    },
    {
        "pid": "S3",
        "name": "幼儿园",
        "code": "080404",
        "far": 1.5,
        "green": None,
        "height": 15.0,
        "geometry": box(1600, 200, 1800, 400),
    },
]


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    units = gdf(
        [
            {"unit_id": "A", "name": "甲", "geometry": box(0, 0, 1000, 1000)},
            {"unit_id": "B", "name": "乙", "geometry": box(1000, 0, 2000, 1000)},
        ]
    )
    roads = gdf(
        [
            {"highway": "residential", "geometry": line((-100, 500), (1000, 500), (2100, 500))},
            {"highway": "residential", "geometry": line((1000, -100), (1000, 500), (1000, 1100))},
        ]
    )
    stations = gdf([{"kind": "bus_stop", "name": "甲站", "geometry": point(600, 520)}])
    pois = gdf([{"category": "kindergarten", "name": "甲幼", "geometry": point(300, 470)}])
    parcels = gdf([{"code": "0701", "far": 1.0, "green": 25.0, "geometry": box(0, 0, 400, 400)}])
    buildings = gdf([{"building": "yes", "levels": 5, "geometry": box(1500, 100, 1520, 120)}])
    parcel_cols = {
        "code_column": "code",
        "code_system": "gb2023",
        "far_column": "far",
        "green_ratio_column": "green",
    }
    cfg = {
        "name": "tiny",
        "crs": CRS,
        "inputs": {
            "units": {
                "path": _write(tmp_path, "units", units),
                "id_column": "unit_id",
                "name_column": "name",
            },
            "roads": {"path": _write(tmp_path, "roads", roads), "class_column": "highway"},
            "stations": {
                "path": _write(tmp_path, "stations", stations),
                "kind_column": "kind",
                "name_column": "name",
            },
            "pois": {
                "path": _write(tmp_path, "pois", pois),
                "category_column": "category",
                "name_column": "name",
            },
            "parcels": {"path": _write(tmp_path, "parcels", parcels), **parcel_cols},
            "buildings": {
                "path": _write(tmp_path, "buildings", buildings),
                "type_column": "building",
                "floors_column": "levels",
            },
        },
        # the tiny area is known to hold only its kindergarten and its bus stop: every other category and kind is a
        # measured absence (a fail where it is required), not a data gap
        "life_circle": {
            "confirmed_absent": [c for c in load_catalogue().categories if c != "kindergarten"]
        },
        "transit": {"confirmed_absent": ["metro", "bike_rental", "ev_charging"]},
        "map": {"tiles": False},
        "land_sale": {
            "parcels": {
                "path": _sale(tmp_path, SALE),
                **parcel_cols,
                "id_column": "pid",
                "name_column": "name",
                "height_limit_column": "height",
            }
        },
    }
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def _run(config: Path, out: Path, *extra: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    assert main(["check-parcels", str(config), "--out", str(out), *extra]) == 0
    read = {"dtype": {"parcel_id": str, "unit_id": str, "code": str}, "encoding": "utf-8-sig"}
    return pd.read_csv(out / "parcel_check.csv", **read), pd.read_csv(
        out / "parcel_summary.csv", **read
    ).set_index("parcel_id")


def _one(checks: pd.DataFrame, pid: str, indicator: str, unit_id: str | None = None) -> pd.Series:
    sel = (checks["parcel_id"] == pid) & (checks["indicator"] == indicator)
    sel &= (
        checks["unit_id"].isna() if unit_id is None else checks["unit_id"] == unit_id
    )  # no unit: the plan or location row
    rows = checks[sel]
    assert len(rows) == 1, (pid, indicator, rows)
    return rows.iloc[0]


def test_config_reads_land_sale_defaults(tiny):
    cfg = load_config(tiny)
    assert (
        cfg.land_sale.profile == "lowcarbon_pilot_2015"
        and cfg.land_sale.kind == "new"
        and cfg.land_sale.storey_height_m == 3
    )
    assert cfg.land_sale.parcels.path.is_absolute()


def test_tiny_plan_checks(tiny, tmp_path):
    checks, summary = _run(tiny, tmp_path / "out")
    far1, far2, far3 = (_one(checks, p, "far_ratio", None) for p in ("S1", "S2", "S3"))
    assert (far1["status"], far1["measured"]) == ("pass", 2.0)
    assert (far2["status"], far2["measured"]) == ("fail", 3.5)
    assert (
        far2["reason"]
        == "建设用地综合容积率 3.5 超出 1.2–3 / Floor-area ratio (FAR) 3.5 above 1.2–3"
    )
    assert (
        far2["result"] == "未达标 fail"
        and far2["binding"] == "约束性 binding"
        and far2["group"] == "规划指标 plan"
    )
    # the community FAR range 1.2–3 is for residential parcels (profile applies_to_classes): a kindergarten is not held to it
    assert (
        far3["status"] == "not_applicable"
        and far3["measured"] == pytest.approx(1.5)
        and not far3["counts"]
    )
    assert far3["result"] == "不适用 not applicable" and "not applicable" in far3["reason"]
    green3 = _one(checks, "S3", "green_space_ratio_pct")
    assert (
        green3["status"] == "not_assessable" and "no green ratio" in green3["reason"]
    )  # documented: not assessable, not fail
    complete3 = _one(checks, "S3", "plan_complete")
    assert complete3["status"] == "pass" and "绿地率" in complete3["reason"]
    assert _one(checks, "S1", "green_space_ratio_pct")["status"] == "pass"
    assert "S2" in summary.index and summary.at["S2", "status"] == "fail"
    assert "容积率 3.5 超出 1.2–3" in summary.at["S2", "main_reasons"]
    # the verdict row: the binding checks that count decide, the rest are counted apart, not-applicable rules not at all
    assert summary.at["S3", "n_not_applicable"] == 1 and summary.at["S3", "verdict"].endswith(
        "; 1 not applicable"
    )
    for pid, row in summary.iterrows():
        deciding = checks[
            (checks["parcel_id"] == pid) & checks["counts"] & (checks["target"] != "—")
        ]
        assert (
            len(deciding) == row["binding_checks"]
            and (deciding["binding"] == "约束性 binding").all()
        )
        assert row["verdict"].startswith(
            f"{row['result']}: 约束性检查 {row['binding_pass']}/{row['binding_checks']} 达标"
        )
        assert (
            f"binding checks {row['binding_pass']}/{row['binding_checks']} pass" in row["verdict"]
        )
        rest = checks[
            (checks["parcel_id"] == pid)
            & ~checks["counts"]
            & (checks["target"] != "—")
            & (checks["status"] != "not_applicable")
        ]
        assert (
            f"other checks: {(rest['status'] == 'fail').sum()} of {len(rest)} fail"
            in row["verdict"]
        )


def test_tiny_location_checks_by_hand(tiny, tmp_path):
    checks, _ = _run(tiny, tmp_path / "out")
    # S1: the stop (600, 520) lies 30 m below the parcel's bottom edge y = 550 (straight line); walking: edge point
    # (600, 550) → 50 m to the street → 0 m along it → 20 m to the stop = 70 m (the same street edge)
    r = _one(checks, "S1", "bus_stop_500m_radius_pct")
    assert (
        r["measured"] == pytest.approx(30.0)
        and r["status"] == "pass"
        and r["group"] == "区位 location"
    )
    w = _one(checks, "S1", "bus_stop_500m_network_pct")
    assert w["measured"] == pytest.approx(70.0) and w["status"] == "pass"
    # S2: nearest parcel point (1200, 550): √(600² + 30²) straight; walking 50 + 200 + 400 + 20 = 670 m (via the vertex x = 1000)
    assert _one(checks, "S2", "bus_stop_500m_radius_pct")["measured"] == pytest.approx(
        np.hypot(600, 30)
    )
    w2 = _one(checks, "S2", "bus_stop_500m_network_pct")
    assert w2["measured"] == pytest.approx(670.0) and w2["status"] == "fail"
    # life circle at S1: kindergarten (300, 470) from corner (500, 550): 50 + 200 + 30 = 280 m ≤ 300 → reached, 4 of 5 missing
    lc = _one(checks, "S1", "lc_5min_all_pct")
    assert (
        lc["measured"] == 1 and lc["status"] == "fail" and "幼儿园" in lc["reason"].split("；")[0]
    )
    assert lc["binding"] == "引导性 guiding"  # residential parcel, no 5-minute rule in the profile
    assert (
        _one(checks, "S1", "lc_15min_all_pct")["binding"] == "约束性 binding"
    )  # t1_basic_services, residential
    assert _one(checks, "S3", "lc_15min_all_pct")["binding"] == "参考 reported"  # not residential
    # S2's kindergarten: (1200, 550) → 50 + 200 + 700 + 30 = 980 m > 300
    assert _one(checks, "S2", "lc_5min_all_pct")["measured"] == 0


def test_tiny_unit_after_by_hand(tiny, tmp_path):
    checks, summary = _run(tiny, tmp_path / "out")
    # A: P0 160,000 m² (+ S1 40,000 × 2.0 = 80,000) over 1 km²
    far = _one(checks, "S1", "far_ratio", "A")
    assert (far["before"], far["measured"]) == (pytest.approx(0.16), pytest.approx(0.24))
    assert (
        far["status"] == "fail" and not far["counts"]
    )  # short before, the parcel does not worsen it
    green = _one(
        checks, "S1", "green_space_ratio_pct", "A"
    )  # attached green: 25 % × 160,000 (+ 30 % × 40,000)
    assert (green["before"], green["measured"]) == (pytest.approx(4.0), pytest.approx(5.2))
    assert _one(checks, "S1", "lu_residential_pct", "A")["measured"] == pytest.approx(20.0)
    # B: a 2,000 m² building (+ S2 140,000 m² or S3 60,000 m²)
    assert _one(checks, "S2", "far_ratio", "B")["measured"] == pytest.approx(0.142)
    far3 = _one(checks, "S3", "far_ratio", "B")
    assert (far3["before"], far3["measured"]) == (pytest.approx(0.002), pytest.approx(0.062))
    assert (
        not far3["counts"] and "not counted" in far3["reason"]
    )  # a kindergarten is not held to the community FAR range
    ps = _one(checks, "S3", "public_service_pct", "B")  # 40,000 m² of 08 land in 1 km²
    assert (ps["before"], ps["measured"], ps["status"]) == (
        pytest.approx(0.0),
        pytest.approx(4.0),
        "fail",
    )
    assert _one(checks, "S3", "public_service_incl_community_pct", "B")[
        "measured"
    ] == pytest.approx(4.0)
    assert summary.at["S3", "status"] == "pass" and summary.at["S3", "result"] == "达标 pass"
    assert (
        summary.at["S1", "status"] == "fail" and summary.at["S1", "binding_fail"] == 1
    )  # only the 15-minute life circle
    assert summary.at["S1", "units"] == "A" and summary.at["S3", "units"] == "B"


def test_tiny_outputs_and_maps(tiny, tmp_path):
    out = tmp_path / "out"
    _run(tiny, out)
    assert sorted(p.name for p in out.iterdir()) == [
        "manifest.json",
        "parcel_check.csv",
        "parcel_check.xlsx",
        "parcel_summary.csv",
        "parcels",
    ]
    assert (out / "parcel_check.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    assert sorted(p.name for p in (out / "parcels").iterdir()) == ["S1.html", "S2.html", "S3.html"]
    page = (out / "parcels" / "S2.html").read_text(encoding="utf-8")
    assert (
        "<title>地块出让前指标核查 S2 住宅二</title>" in page
        and "未达标 fail" in page
        and "3.5 超出 1.2–3" in page
    )
    from openpyxl import load_workbook

    assert load_workbook(out / "parcel_check.xlsx").sheetnames == ["汇总 summary", "核查 checks"]


def test_parcels_override_incomplete_plan_and_escaping(tiny, tmp_path):
    rows = [
        {
            "pid": "X<1>",
            "name": "<b>坏</b>",
            "code": "99",
            "far": None,
            "green": None,
            "height": None,
            "geometry": box(100, 600, 200, 700),
        }
    ]
    other = _sale(tmp_path, rows, name="other")
    checks, summary = _run(tiny, tmp_path / "out2", "--parcels", other)
    c = _one(checks, "X<1>", "plan_complete")
    assert c["status"] == "fail" and "no FAR or floor area" in c["reason"] and "'99'" in c["reason"]
    assert summary.at["X<1>", "status"] == "fail"
    assert _one(checks, "X<1>", "far_ratio")["status"] == "not_assessable"
    page = (tmp_path / "out2" / "parcels" / "X_1_.html").read_text(encoding="utf-8")
    assert "<b>坏</b>" not in page and "&lt;b&gt;坏&lt;/b&gt;" in page


def test_config_without_land_sale_is_an_error(tmp_path, capsys):
    cfg = ROOT / "pipelines" / "configs" / "beijing_haidian.yaml"
    assert main(["check-parcels", str(cfg), "--out", str(tmp_path / "o")]) == 2
    assert "land_sale" in capsys.readouterr().err


@pytest.mark.slow
def test_beijing_shipped_parcels(tmp_path):
    from ditan.pipelines.assemble.load import load_study_area

    checks, summary = _run(BEIJING, tmp_path / "bj")
    shipped = gpd.read_file(ROOT / "data" / "beijing_haidian_tsinghua" / "parcels_for_sale.gpkg")
    assert shipped.crs.to_epsg() == 4326 and shipped["note"].str.contains("illustrative").all()
    metric = shipped.to_crs(4548)
    bus = load_study_area(load_config(BEIJING)).stations.query("kind == 'bus_stop'").to_crs(4548)
    for row, geom in zip(shipped.itertuples(), metric.geometry, strict=True):
        far = row.far if pd.notna(row.far) else row.floor_area_m2 / geom.area
        r = _one(checks, row.parcel_id, "far_ratio")
        assert r["measured"] == pytest.approx(far, rel=1e-4)
        if row.landuse_code.startswith(
            "0701"
        ):  # the community range 1.2–3 binds residential parcels only
            assert r["status"] == ("pass" if 1.2 <= far <= 3 else "fail")
        else:  # BJ-03 commercial 0901, BJ-04 kindergarten 080404
            assert r["status"] == "not_applicable" and not r["counts"]
        d = shapely.distance(geom, bus.geometry.to_numpy()).min()
        b = _one(checks, row.parcel_id, "bus_stop_500m_radius_pct")
        assert b["measured"] == pytest.approx(d, abs=0.01)
        assert b["status"] == ("pass" if d <= 500 else "fail")
        assert (tmp_path / "bj" / "parcels" / f"{row.parcel_id}.html").is_file()
    assert summary.at["BJ-02", "status"] == "fail"  # FAR 3.6
    assert _one(checks, "BJ-03", "green_space_ratio_pct")["status"] == "not_assessable"


def test_location_checks_on_data_gaps_are_not_assessable(tiny, tmp_path):
    """Without the confirmations, the tiny area's data hold no bike rental and only one kind of facility: data gaps."""
    cfg = yaml.safe_load(tiny.read_text(encoding="utf-8"))
    cfg.pop("life_circle"), cfg.pop("transit")
    path = tiny.parent / "tiny_gaps.yaml"
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True, sort_keys=False), encoding="utf-8")
    checks, _ = _run(path, tmp_path / "out")
    bike = _one(checks, "S1", "bike_rental_500m_radius_pct")
    assert (
        bike["status"] == "not_assessable"
        and "data gap: no bike rental in any source" in bike["reason"]
    )
    bus = _one(
        checks, "S1", "bus_stop_500m_radius_pct"
    )  # the bus stop is there: measured, 30 m away
    assert bus["status"] == "pass" and bus["measured"] == pytest.approx(30.0)
    # the kindergarten is reached (280 m); the other 5-minute categories have no data: the tier cannot be judged, not failed
    lc = _one(checks, "S1", "lc_5min_all_pct")
    assert lc["status"] == "not_assessable" and lc["measured"] == 1 and "data gap" in lc["reason"]
    # S2's kindergarten is 980 m away: a measured miss fails the tier, and the reason names the gaps beside it
    lc2 = _one(checks, "S2", "lc_5min_all_pct")
    assert lc2["status"] == "fail" and "缺 幼儿园" in lc2["reason"] and "data gap" in lc2["reason"]
    stations = checks[checks["indicator"].str.startswith(("bike_rental_", "metro_"))]
    assert len(stations) and not (stations["status"] == "fail").any()
