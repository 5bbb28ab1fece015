"""End-to-end run of ``ditan run`` on the embedded Beijing (Tsinghua / Wudaokou) OSM sample.

The pipeline runs once per session (``beijing_run`` in conftest.py); its outputs are checked for
completeness and internal consistency, and two numbers are recomputed independently of ditan:

* the total city-road length inside the units, from map.osm parsed by osmnx (the XML twin of
  the PBF ditan reads), projected with geopandas and clipped with shapely;
* walking distances from residential origins to the nearest facility, by networkx Dijkstra
  over ditan's network with the origins and facilities attached as virtual nodes.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import re
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import openpyxl
import pandas as pd
import pytest
import shapely

from ditan.pipelines.config.schema import load_config
from ditan.pipelines.jobs.run import run
from ditan.spatial.engine.network import access_points, snap_points
from tests.conftest import brute_force_line_km

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "pipelines" / "configs" / "beijing_haidian.yaml"
DATA = ROOT / "data" / "beijing_haidian_tsinghua"
OUTPUTS = (
    "indicators.csv",
    "indicators.xlsx",
    "communities.gpkg",
    "service_areas.gpkg",
    "map.html",
    "data_quality.csv",
    "manifest.json",
    "compliance.csv",
    "compliance_summary.csv",
    "carbon_inventory.csv",
    "carbon_factors.csv",
)  # the config names the 低碳社区试点建设指南 profile; the carbon inventory is on by default
ROAD_CLASSES = ("expressway", "arterial", "collector", "local")
BOM = b"\xef\xbb\xbf"


@pytest.fixture(scope="module")
def cfg():
    return load_config(CONFIG)


@pytest.fixture(scope="module")
def out(beijing_run):
    """The run of the sample (once for the session, conftest.py): read only."""
    return beijing_run


@pytest.fixture(scope="module")
def ind(out):
    return out.result.indicators


def _decode_js(text: str) -> str:
    """Undo the \\uXXXX escapes of JSON embedded in folium's HTML."""
    return re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), text)


# --- 1. every output exists and is well formed --------------------------------------------------


def test_every_output_exists_and_is_not_empty(out):
    assert sorted(out.files) == sorted(OUTPUTS)
    for name in OUTPUTS:
        path = out.out_dir / name
        assert path.is_file(), name
        assert path.stat().st_size > 0, name
    # atomic writes leave no temporary files behind
    assert not [p.name for p in out.out_dir.iterdir() if ".partial" in p.name]


def test_indicators_csv_bom_header_and_units(out):
    raw = (out.out_dir / "indicators.csv").read_bytes()
    assert raw.startswith(BOM)
    rows = list(csv.reader(io.StringIO(raw[len(BOM) :].decode("utf-8"))))
    header, body = rows[0], [r for r in rows[1:] if r]
    assert header == list(out.result.columns)
    assert header[:3] == ["unit_id", "name", "area_km2"]
    assert len(set(header)) == len(header)
    assert len(body) >= 6
    assert all(len(r) == len(header) for r in body)
    ids = [r[0] for r in body]
    assert len(set(ids)) == len(ids)
    assert all(i.strip() for i in ids)
    assert all(r[1].strip() for r in body)
    assert ids == list(out.result.indicators.index)


def test_unit_ids_match_the_input_boundaries(out):
    src = gpd.read_file(DATA / "units.gpkg")
    assert sorted(src["unit_id"].astype(str)) == sorted(out.result.indicators.index)


def test_indicators_xlsx_has_chinese_and_english_header_rows(out):
    wb = openpyxl.load_workbook(out.out_dir / "indicators.xlsx", read_only=True)
    try:
        ws = wb.worksheets[0]
        rows = [list(r) for r in ws.iter_rows(values_only=True)]
    finally:
        wb.close()
    zh, en, data = rows[0], rows[1], rows[2:]
    n_cols = len(out.result.columns)
    assert len(zh) == len(en) == n_cols
    # from spatial/standards/indicators.yaml: unit_id / name / area_km2 / road_density
    assert zh[:3] == ["单元编号", "单元名称", "用地面积"]
    assert en[:3] == ["Unit id", "Unit name", "Land area (km²)"]
    assert "路网密度" in zh and "Road network density (km/km²)" in en
    cjk = re.compile(r"[\u4e00-\u9fff]")
    assert all(isinstance(h, str) and cjk.search(h) for h in zh), [
        h for h in zh if not (isinstance(h, str) and cjk.search(h))
    ]
    assert all(isinstance(h, str) and h and not cjk.search(h) for h in en), en
    assert [r[0] for r in data] == list(out.result.indicators.index)


def test_communities_gpkg(out, cfg):
    import pyogrio

    path = out.out_dir / "communities.gpkg"
    # layer_styles: the QGIS styles table (tests/test_styled_outputs.py)
    # landuse: the land use the shares were computed from, in GB 50137 colours
    assert [name for name, _ in pyogrio.list_layers(path)] == [
        "communities",
        "landuse",
        "layer_styles",
    ]
    areas_file = out.out_dir / "service_areas.gpkg"
    assert [name for name, _ in pyogrio.list_layers(areas_file)] == [
        "service_areas_15min",
        "service_areas_10min",
        "service_areas_5min",
        "service_areas_500m",
        "layer_styles",
    ]
    areas = gpd.read_file(areas_file, layer="service_areas_15min")
    assert set(areas["category"]) == {
        c.id for c in out.study.catalogue.categories.values() if c.tier == "15min"
    }
    assert areas.crs.to_epsg() == 4548 and (areas["distance_m"] == 1000).all()
    # an area reached by no facility is empty; area_km2 is the exact polygon's, the stored one is simplified
    # within life_circle.service_area_simplify_m: its boundary moves by at most that, its area by at most
    # perimeter × tolerance
    tol = cfg.life_circle.service_area_simplify_m
    stored, exact = areas.geometry.area.to_numpy(), areas["area_km2"].to_numpy() * 1e6
    assert ((stored == 0) == (exact == 0)).all()
    assert (np.abs(stored - exact) <= areas.geometry.length.to_numpy() * tol + 1e-6).all()
    g = gpd.read_file(path, layer="communities")
    assert g.crs is not None and g.crs.to_epsg() == 4548
    assert sorted(g["unit_id"]) == sorted(out.result.indicators.index)
    missing = [c for c in out.result.columns if c not in g.columns]
    assert not missing
    assert g.geometry.notna().all() and not g.geometry.is_empty.any()
    # geometry round-trips: area from the file equals area_km2
    area = g.set_index("unit_id").geometry.area / 1e6
    np.testing.assert_allclose(
        area.loc[out.result.indicators.index], out.result.indicators["area_km2"], rtol=1e-9
    )


def test_manifest(out, cfg):
    m = json.loads((out.out_dir / "manifest.json").read_text(encoding="utf-8"))
    assert m["crs"]["epsg"] == 4548
    pbf = DATA / "map.osm.pbf"
    assert m["inputs"][str(pbf.resolve())] == hashlib.sha256(pbf.read_bytes()).hexdigest()
    units = DATA / "units.gpkg"
    assert m["inputs"][str(units.resolve())] == hashlib.sha256(units.read_bytes()).hexdigest()
    for pkg in (
        "python",
        "ditan",
        "geopandas",
        "shapely",
        "pyproj",
        "osmium",
        "networkx",
        "pandas",
        "numpy",
    ):
        assert m["packages"][pkg] and m["packages"][pkg] != "not installed", pkg
    stages = {
        "load",
        "roads",
        "intensity",
        "land use",
        "green coverage",
        "walk network",
        "network distances",
        "life circles and 500 m",
        "carbon",
        "service areas",
        "compliance",
        "map",
        "write",
    }
    assert set(m["timings_s"]) == stages
    assert all(isinstance(v, (int, float)) and v >= 0 for v in m["timings_s"].values())
    assert m["units"] == len(out.result.indicators)
    assert sorted(m["outputs"]) == sorted(OUTPUTS)


def test_map_html_layers_and_attribution(out, ind):
    text = _decode_js((out.out_dir / "map.html").read_text(encoding="utf-8"))
    assert "© OpenStreetMap contributors (ODbL 1.0)" in text
    overlays = text[text.index("overlays") :]
    expected = [
        "分析单元 Analysis units",
        "建筑 Buildings",
        "站点500米范围 Station 500 m radius",
        "公交站 Bus stop",
        "地铁站 Metro",
        "便利店 Convenience store",
    ]
    # every road class with length inside the units gets a layer
    names = {
        "expressway": "快速路 Expressway",
        "arterial": "主干路 Arterial",
        "collector": "次干路 Collector",
        "local": "支路 Local",
    }
    expected += [names[c] for c in ROAD_CLASSES if ind[f"road_density_{c}_km_per_km2"].sum() > 0]
    for name in expected:
        assert f'"{name}"' in overlays, name


# --- 2. indicator values --------------------------------------------------------------------------


def test_percentages_in_range_and_nan_only_where_documented(out, ind):
    cols = out.result.columns
    pct = [c for c, i in cols.items() if i.unit == "%"]
    assert (
        "lu_unknown_pct" in pct and "lc_15min_all_pct" in pct and "bus_stop_500m_network_pct" in pct
    )
    no_origins = (ind["lc_basis"] == "none").to_numpy()
    assert set(ind["lc_basis"]) <= {"floor_area", "land_area", "none"}
    no_floor_area = (ind["floor_area_m2"] == 0).to_numpy()
    # categories with no facility loaded anywhere are data gaps (OSM here maps no elderly home, health station …), and
    # so is every tier's "all" column whose tier holds one
    fac, am = out.study.facilities["category"], out.study.amenities["kind"]
    gap_columns = {f"lc_{c}_pct" for c in out.study.catalogue.categories if not (fac == c).any()}
    assert {
        "lc_elderly_home_pct",
        "lc_elderly_daycare_pct",
    } <= gap_columns  # map.osm has no nursing_home, social_facility or 养老 tag (grep)
    gap_counts = {f"{k}_count" for k in out.study.catalogue.amenities if not (am == k).any()}
    assert gap_columns | gap_counts == set(
        out.result.reasons.loc[out.result.reasons["reason"] == "category_gap", "column"]
    )
    for c in pct:
        v = ind[c].astype(float).to_numpy()
        nan = np.isnan(v)
        if c in (
            "raster_nodata_pct",
            "permeable_surface_pct",
        ):  # no land-cover raster in this config
            assert nan.all(), c
            continue
        if c == "public_service_incl_community_pct":  # OSM cannot tell community-service land apart
            assert nan.all(), c
            continue
        if c.startswith(
            "co2_reduction_rate_pct"
        ):  # a plan's rate: NaN without --scenario plan.yaml
            assert nan.all(), c
            continue
        if (
            c == "park_service_coverage_pct"
        ):  # not assessable without residential land, nor where nobody lives
            assert (
                nan
                == (
                    (ind["residential_land_m2"] == 0) | ~ind["has_residents"].astype(bool)
                ).to_numpy()
            ).all(), c
        if c.startswith("lc_") or "_500m_" in c:
            # NaN where nobody lives (no origins, or has_residents false), or where the category / kind is a data gap
            gap = c in gap_columns or (c.startswith("lc_") and c.endswith("_all_pct"))
            assert (nan == (no_origins | ~ind["has_residents"].to_numpy(dtype=bool) | gap)).all(), c
        elif c == "park_service_coverage_pct":
            pass
        elif c == "housing_low_rise_pct":  # not assessable without housing
            assert (nan == (ind["residential_floor_area_m2"] == 0).to_numpy()).all(), c
        elif c.startswith("floor_area_") and c.endswith("_pct"):
            assert (nan == no_floor_area).all(), c
        else:
            assert not nan.any(), c
        ok = v[~nan]
        assert ((ok >= 0) & (ok <= 100 + 1e-9)).all(), (c, ok[(ok < 0) | (ok > 100 + 1e-9)])


def test_every_nan_has_a_reason_and_no_value_has_one(out, ind):
    """Three states: measured, or NaN with exactly one reason row (data gap or property of the unit)."""
    why = out.result.reasons
    assert not why.duplicated(["unit_id", "column"]).any()
    numeric = [
        c for c in ind.columns if pd.api.types.is_numeric_dtype(ind[c]) and c in out.result.columns
    ]
    nan_cells = {(u, c) for c in numeric for u in ind.index[ind[c].isna()]}
    assert nan_cells == set(zip(why["unit_id"], why["column"], strict=True))
    assert why["reason_zh"].str.len().gt(0).all() and why["reason_en"].str.len().gt(0).all()


def test_numeric_indicators_are_non_negative(out, ind):
    numeric = [c for c in ind.columns if pd.api.types.is_numeric_dtype(ind[c])]
    dens = [c for c in numeric if "density" in c or "per_km2" in c]
    assert len(dens) >= 7
    for c in numeric:
        v = ind[c].astype(float).to_numpy()
        assert (v[~np.isnan(v)] >= 0).all(), c
    for c in dens:
        assert not ind[c].isna().any(), c
    assert (ind["area_km2"] > 0).all()


def test_industrial_residential_ratio_nan_only_without_residential_land(ind):
    nan = ind["industrial_residential_ratio"].isna().to_numpy()
    assert (nan == (ind["lu_residential_pct"] == 0).to_numpy()).all()
    with_res = ind[ind["lu_residential_pct"] > 0]
    np.testing.assert_allclose(
        with_res["industrial_residential_ratio"],
        with_res["lu_industrial_pct"] / with_res["lu_residential_pct"],
        rtol=1e-9,
    )


def test_area_sums_to_union_of_units(ind):
    # independent: the boundary file itself, projected by geopandas
    src = gpd.read_file(DATA / "units.gpkg").to_crs(4548)
    union = shapely.union_all(src.geometry.to_numpy())
    assert ind["area_km2"].sum() == pytest.approx(union.area / 1e6, rel=1e-6)
    per_unit = src.set_index(src["unit_id"].astype(str)).geometry.area / 1e6
    np.testing.assert_allclose(ind["area_km2"], per_unit.loc[ind.index], rtol=1e-9)


def test_land_use_shares_sum_to_100(ind):
    lu = [c for c in ind.columns if c.startswith("lu_") and c.endswith("_pct")]
    assert "lu_unknown_pct" in lu and "lu_residential_pct" in lu and len(lu) >= 9
    total = ind[lu].sum(axis=1)
    assert (total - 100.0).abs().max() <= 0.01, total
    np.testing.assert_allclose(
        ind["green_space_ratio_pct"], ind["lu_park_pct"] + ind["lu_green_pct"]
    )


def test_road_density_is_the_sum_of_the_classes(ind):
    parts = ind[[f"road_density_{c}_km_per_km2" for c in ROAD_CLASSES]].sum(axis=1)
    np.testing.assert_allclose(ind["road_density_km_per_km2"], parts, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(
        ind["road_density_km_per_km2"] * ind["area_km2"],
        ind["road_length_km"],
        rtol=1e-9,
        atol=1e-12,
    )


# --- 3. data-quality ledger -----------------------------------------------------------------------


def test_data_quality_balances(out):
    raw = (out.out_dir / "data_quality.csv").read_bytes()
    assert raw.startswith(BOM)
    q = pd.read_csv(out.out_dir / "data_quality.csv", encoding="utf-8-sig")
    assert len(q) >= 5
    assert {"roads (OSM highway ways)", "buildings (OSM)", "units"} <= set(q["layer"])
    assert (q["features_read"] == q["kept"] + q["repaired"] + q["dropped"]).all(), q
    assert q["balanced"].astype(str).eq("True").all(), q
    units = q.set_index("layer").loc["units"]
    assert units["features_read"] == len(gpd.read_file(DATA / "units.gpkg"))


# --- 4. independent road length ------------------------------------------------------------------


def test_road_length_per_unit_matches_osmnx_brute_force(out, cfg, ind):
    """road_length_naive_km per unit against osmnx's reading of map.osm, allocated by brute force.

    Independent of ditan's reader and clipping: osmnx parses the XML twin of the PBF; every way is
    cut into 0.1 m steps and each step goes to the units its midpoint lies in (within 1 mm), 1/k each.
    """
    import osmnx as ox

    feats = ox.features_from_xml(DATA / "map.osm", tags={"highway": True})
    ways = feats.loc["way"]
    ways = ways[ways["highway"].isin(cfg.roads.include)]
    ways = ways[ways.geom_type == "LineString"]
    assert len(ways) > 50
    brute_km = brute_force_line_km(
        ways.to_crs(4548).geometry.to_numpy(), out.result.units.geometry.to_numpy()
    )
    got = ind["road_length_naive_km"].to_numpy()
    assert got.sum() == pytest.approx(brute_km.sum(), rel=0.005)
    np.testing.assert_allclose(got, brute_km, rtol=0.005, atol=0.002)
    # the divided-road rule only ever removes length
    assert (ind["road_length_km"] <= ind["road_length_naive_km"] + 1e-9).all()
    assert ind["road_length_km"].sum() < 0.9 * got.sum()


def _add_min_edge(g: nx.Graph, a, b, w: float) -> None:
    if not g.has_edge(a, b) or g[a][b]["weight"] > w:
        g.add_edge(a, b, weight=w)


def test_life_circle_and_station_distances_match_networkx(out, cfg):
    res, sa = out.result, out.study
    net = res.network
    snap_max = cfg.life_circle.snap_max_m
    assert res.stats["cutoff_m"] == 1000.0  # the largest tier (15 min)
    # beyond its group's distance ditan reports inf: the category's tier (GB 50180: 300 / 500 / 1000 m), the station radius
    group_cutoff = {c.id: cfg.life_circle.tiers_m[c.tier] for c in sa.catalogue.categories.values()}
    group_cutoff |= dict.fromkeys(("bus_stop", "metro", "bike_rental"), cfg.transit.radius_m)

    base = nx.Graph()
    for a, b, w in zip(net.u.tolist(), net.v.tolist(), net.length_m.tolist(), strict=True):
        _add_min_edge(base, a, b, w)

    # origins: buildings' point_on_surface in building order; the residential ones carry weight
    bld = sa.buildings
    assert len(res.origin_distances) >= len(bld)
    res_idx = np.flatnonzero(bld["residential"].to_numpy())
    assert len(res_idx) >= 3
    o_pts = shapely.point_on_surface(bld.geometry.to_numpy()[res_idx])
    o_snap = snap_points(net, o_pts, max_distance_m=snap_max)

    fac = sa.facilities
    # the targets as ditan defines them: points, and areas' edges every 50 m (the inputs, not the result),
    # then the stations of the 500 m indicators
    f_pts, owner = access_points(fac.geometry.to_numpy(), fac["outline"].to_numpy())
    # a station listed more than once (both platforms) is one station with every listed position (``members``)
    st = sa.stations[sa.stations["kind"].isin(["bus_stop", "metro", "bike_rental"])]
    spots = [
        (p, k)
        for g, m, k in zip(
            st.geometry, st.get("members", [None] * len(st)), st["kind"], strict=True
        )
        for p in (list(m.geoms) if isinstance(m, shapely.MultiPoint) else [g])
    ]
    f_pts = np.concatenate([f_pts, np.array([p for p, _ in spots], dtype=object)])
    f_cat = np.concatenate(
        [fac["category"].to_numpy()[owner], np.array([k for _, k in spots], dtype=object)]
    )
    f_snap_all = snap_points(net, f_pts, max_distance_m=snap_max)
    snapped_cats = pd.Series(f_cat[f_snap_all.ok]).value_counts()
    cats = list(snapped_cats.index)  # every category and station kind with a target on the network
    assert {"bus_stop", "metro"} <= set(cats) and len(cats) >= 10

    checked_finite = {}
    for cat in cats:
        sel = np.flatnonzero((f_cat == cat) & f_snap_all.ok)
        g = base.copy()
        src = ("source",)
        for k in sel:
            e, t, acc = f_snap_all.edge[k], f_snap_all.t[k], f_snap_all.access_m[k]
            L = float(net.length_m[e])
            _add_min_edge(g, src, int(net.u[e]), float(acc + t * L))
            _add_min_edge(g, src, int(net.v[e]), float(acc + (1 - t) * L))
        for j in np.flatnonzero(o_snap.ok):
            e, t, acc = o_snap.edge[j], o_snap.t[j], o_snap.access_m[j]
            L = float(net.length_m[e])
            node = ("origin", int(j))
            _add_min_edge(g, node, int(net.u[e]), float(acc + t * L))
            _add_min_edge(g, node, int(net.v[e]), float(acc + (1 - t) * L))
        dist = nx.single_source_dijkstra_path_length(g, src, weight="weight")
        n_finite = 0
        for j, b in enumerate(res_idx):
            if not o_snap.ok[j]:
                expected = math.inf
            else:
                expected = dist.get(("origin", j), math.inf)
                # a facility on the origin's own edge: the direct walk along the edge
                for k in sel[f_snap_all.edge[sel] == o_snap.edge[j]]:
                    L = float(net.length_m[o_snap.edge[j]])
                    direct = (
                        o_snap.access_m[j]
                        + f_snap_all.access_m[k]
                        + abs(o_snap.t[j] - f_snap_all.t[k]) * L
                    )
                    expected = min(expected, direct)
            got = res.origin_distances.loc[b, cat]
            cutoff = group_cutoff[
                cat
            ]  # each category is searched to its tier's distance, each station kind to the radius
            if expected > cutoff + 0.01:
                assert math.isinf(got), (cat, b, expected, got)
            elif expected < cutoff - 0.01:
                assert got == pytest.approx(expected, abs=0.01), (cat, b)
                n_finite += 1
        checked_finite[cat] = n_finite
    # the comparison is not vacuous: most groups are reached from several origins within their distance
    assert sum(n >= 3 for n in checked_finite.values()) >= 8, checked_finite
    assert checked_finite["bus_stop"] >= 50 and checked_finite["metro"] >= 2, (
        checked_finite
    )  # within 500 m


# --- 6. determinism and 7. run time ----------------------------------------------------------------


def test_second_run_is_byte_identical(out, cfg, tmp_path_factory):
    again = run(cfg, tmp_path_factory.mktemp("again"))
    # every table, the GeoPackage and the map: no timestamps inside (the manifest holds the run time)
    for name in (
        "indicators.csv",
        "data_quality.csv",
        "indicators.xlsx",
        "communities.gpkg",
        "service_areas.gpkg",
        "map.html",
    ):
        assert (again.out_dir / name).read_bytes() == (out.out_dir / name).read_bytes(), name


def test_run_time_under_two_minutes(out):
    total = sum(out.manifest["timings_s"].values())
    assert 0 < total < 120, out.manifest["timings_s"]


# --- 8. compliance with the 城市既有社区 profile -------------------------------------------------------


def test_compliance_table_for_existing_communities(out, ind):
    from ditan.spatial.standards.profiles import load_profile

    c = pd.read_csv(out.out_dir / "compliance.csv", encoding="utf-8-sig")
    profile = load_profile("lowcarbon_pilot_2015")
    rules = [r for r in profile.rules if "existing" in r.applies_to]
    # every unit × every 城市既有社区 rule: the table is complete, including the survey rules
    assert len(c) == len(ind) * len(rules)
    assert set(c["rule_id"]) == {r.id for r in rules}
    assert set(c["status"]) <= {"pass", "fail", "not_assessable"}
    # spot checks against the indicator table, by the rule's own comparator
    green = c[c["indicator"] == "green_coverage_pct"].set_index("unit_id")
    expected = np.where(ind["green_coverage_pct"] >= 5, "pass", "fail")
    assert green.loc[ind.index, "status"].tolist() == expected.tolist()
    bikes = c[c["indicator"] == "bike_rental_count"].set_index("unit_id")
    assert (
        bikes.loc[ind.index, "status"].tolist()
        == np.where(ind["bike_rental_count"] >= 1, "pass", "fail").tolist()
    )
    survey = c[c["indicator"] == "transit_mode_share_pct"]
    assert (survey["status"] == "not_assessable").all() and survey["reason"].str.contains(
        "not assessable from spatial data"
    ).all()
    s = pd.read_csv(out.out_dir / "compliance_summary.csv", encoding="utf-8-sig").set_index(
        "unit_id"
    )
    per_unit = (
        c.groupby(["unit_id", "binding", "status"])
        .size()
        .unstack(["binding", "status"], fill_value=0)
    )
    assert (s.loc[per_unit.index, "binding_pass"] == per_unit.get(("binding", "pass"), 0)).all()
    wb = openpyxl.load_workbook(out.out_dir / "indicators.xlsx", read_only=True)
    try:
        assert {"达标核查 compliance", "达标汇总 compliance summary"} <= set(wb.sheetnames)
    finally:
        wb.close()


# --- three states in every output ------------------------------------------------------------------


def test_not_assessable_sheet_lists_every_nan_with_its_reason(out):
    wb = openpyxl.load_workbook(out.out_dir / "indicators.xlsx", read_only=True)
    try:
        rows = [list(r) for r in wb["无法评估 not_assessable"].iter_rows(values_only=True)]
    finally:
        wb.close()
    head, body = rows[0], rows[1:]
    assert head[:3] == ["单元 unit_id", "名称 name", "指标 column"] and "原因 reason (中文)" in head
    why = out.result.reasons
    assert len(body) == len(why) > 0
    assert {(r[0], r[2]) for r in body} == set(zip(why["unit_id"], why["column"], strict=True))
    gaps = [r for r in body if r[2] == "lc_elderly_home_pct"]
    assert gaps and all(r[head.index("数据缺失 data gap")] == "是 yes" for r in gaps)
    assert all("养老院" in r[head.index("原因 reason (中文)")] for r in gaps)


def test_data_gaps_named_in_data_quality_manifest_and_map(out, ind):
    q = pd.read_csv(out.out_dir / "data_quality.csv", encoding="utf-8-sig").set_index("layer")
    row = q.loc["data gap: life-circle category elderly_home 养老院"]
    assert (
        "confirm none exists (life_circle.confirmed_absent: [elderly_home])" in row["note"]
        and "lc_elderly_home_pct" in row["note"]
    )
    manifest = json.loads((out.out_dir / "manifest.json").read_text(encoding="utf-8"))
    assert any("养老院" in g for g in manifest["data_gaps"]) and manifest[
        "not_assessable_values"
    ] == len(out.result.reasons)
    text = _decode_js((out.out_dir / "map.html").read_text(encoding="utf-8"))
    assert "无法评估：数据缺失" in text  # a NaN in the tooltip carries its reason


def test_compliance_never_fails_on_a_missing_value(out, ind):
    checks = pd.read_csv(out.out_dir / "compliance.csv", encoding="utf-8-sig")
    measured = [
        ind.at[u, c] if c in ind.columns else np.nan
        for u, c in zip(checks["unit_id"], checks["indicator"], strict=True)
    ]
    nan = pd.isna(pd.to_numeric(pd.Series(measured), errors="coerce")).to_numpy()
    assert not (checks["status"].to_numpy()[nan] == "fail").any()
    gap_rules = checks[
        checks["indicator"].isin(["canteen_count", "ev_charging_count", "recycling_count"])
    ]
    assert (
        len(gap_rules)
        and (gap_rules["status"] == "not_assessable").all()
        and gap_rules["data_gap"].all()
    )
