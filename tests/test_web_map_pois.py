"""Web-map POI exports (高德 Amap, 百度 Baidu) as data: category_system / kind_system amap and baidu.

The fixtures are made here from the Beijing sample: every life-circle facility and every bus stop and
metro station OSM gives (their true WGS 84 positions) is written out

- as an Amap export (name, address, adname, type, typecode, lon, lat) in GCJ-02, the types written by hand
  per category below (with ``|`` rows where one feature is two things, a school listed twice, typecodes
  left empty or damaged by a spreadsheet, restaurants and shops the catalogue has no category for);
- as a Baidu export (name, address, tag, lon, lat) in BD-09;
- as the same POIs in WGS 84 with ditan's category ids, as a planner would list them (one row per category).

GCJ-02 and BD-09 are computed by the published forward formulas written here, independently of
ditan.spatial.crs.china (GCJ-02 as in tests/test_reduced_inputs.py). The expected ditan categories of each
provider type are written by hand (AMAP, BAIDU), not read from poi_systems.yaml. A run on a provider file
and a run on the WGS 84 file must give the same facilities (to < 1 cm: the inverse converges to 1e-9°) and
the same indicators (every numeric column, to 1e-9).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from pyproj import Transformer

from ditan.pipelines.assemble.load import load_study_area
from ditan.pipelines.config.schema import parse_config
from ditan.pipelines.jobs.run import run
from ditan.spatial.errors import ConfigError, LayerError
from ditan.spatial.standards.catalogue import load_catalogue
from ditan.spatial.standards.poi_systems import load_poi_system, match_types
from tests.test_reduced_inputs import _gcj02_forward

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data" / "beijing_haidian_tsinghua"
CONFIG = ROOT / "pipelines" / "configs" / "beijing_haidian.yaml"

# OSM category → (Amap type, typecode, the ditan categories it names: worked out from the provider's meaning)
AMAP = {
    "convenience_store": (
        "购物服务;便民商店/便利店;便民商店/便利店",
        "060200",
        {"convenience_store"},
    ),
    "small_park": ("风景名胜;公园广场;公园", "110101", {"small_park"}),
    "large_park": ("风景名胜;公园广场;公园", "110101", {"small_park"}),  # a point has no area
    "sports_centre": (
        "体育休闲服务;运动场所;综合体育馆",
        "080101",
        {"sports_centre"},
    ),  # via 中类 0801
    "culture_centre": ("科教文化服务;图书馆;图书馆", "", {"culture_centre"}),  # no code: the path
    "community_service": ("商务住宅;住宅区;社区中心", "120304", {"community_service"}),
    "market": ("购物服务;综合市场;农副产品市场", "060703", {"market"}),
    "middle_school": ("科教文化服务;学校;中学", "141202", {"middle_school"}),
    "hospital": ("医疗保健服务;综合医院;三级甲等医院", "090101", {"hospital"}),  # via 中类 0901
    "primary_school": (
        "科教文化服务;学校;小学|科教文化服务;学校;小学",
        "141203|141203",
        {"primary_school"},
    ),
    "kindergarten": ("科教文化服务;学校;幼儿园", "141204", {"kindergarten"}),
    "playground": (
        "体育休闲服务;运动场所;户外健身场所",
        "",
        {"playground"},
    ),  # 小类 over 中类 运动场所
}
# a supermarket (OSM: market and convenience store) is one Amap type naming both
AMAP_SUPERMARKET = (
    "购物服务;超级市场;超市",
    "60400",
    {"market", "convenience_store"},
)  # code lost its 0
BAIDU = {
    "convenience_store": ("购物;便利店", {"convenience_store"}),
    "small_park": ("旅游景点;公园", {"small_park"}),
    "large_park": ("旅游景点;公园", {"small_park"}),
    "sports_centre": ("运动健身;体育场馆", {"sports_centre"}),
    "culture_centre": ("教育培训;图书馆", {"culture_centre"}),
    "community_service": ("政府机构;居民委员会", {"community_service"}),
    "market": ("购物;市场", {"market"}),
    "middle_school": ("教育培训;中学", {"middle_school"}),
    "hospital": ("医疗;综合医院", {"hospital"}),
    "primary_school": ("教育培训;小学", {"primary_school"}),
    "kindergarten": ("教育培训;幼儿园", {"kindergarten"}),
    "playground": ("休闲娱乐;游乐园", set()),  # no Baidu type for it: dropped, counted
}
BAIDU_SUPERMARKET = ("购物;超市", {"market", "convenience_store"})
AMAP_STATION = {
    "bus_stop": ("交通设施服务;公交车站;普通公交站", "150702"),
    "metro": ("交通设施服务;地铁站;地铁站", "150500"),
}
BAIDU_STATION = {"bus_stop": "交通设施;公交车站", "metro": "交通设施;地铁站"}
# restaurants and shops: no life-circle category, no station kind (13 distinct types, 16 rows)
UNMAPPED = (
    ["餐饮服务;中餐厅;中餐厅"] * 3
    + ["餐饮服务;快餐厅;快餐厅"] * 2
    + [
        "餐饮服务;咖啡厅;咖啡厅",
        "餐饮服务;中餐厅;北京菜",
        "餐饮服务;快餐厅;肯德基",
        "购物服务;家电电子卖场;数码电子",
        "购物服务;专卖店;专营店",
        "生活服务;美容美发店;美容美发店",
        "生活服务;洗衣店;洗衣店",
        "住宿服务;宾馆酒店;宾馆酒店",
        "金融保险服务;银行;中国银行",
        "公司企业;公司;网络科技",
        "商务住宅;楼宇;商务写字楼",
    ]
)

TO_WGS = Transformer.from_crs("EPSG:4548", 4326, always_xy=True)


def _bd09_forward(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """GCJ-02 → BD-09, Baidu's published shift (x_pi = π·3000/180), written independently of ditan."""
    x_pi = math.pi * 3000.0 / 180.0
    z = np.sqrt(lon * lon + lat * lat) + 0.00002 * np.sin(lat * x_pi)
    theta = np.arctan2(lat, lon) + 0.000003 * np.cos(lon * x_pi)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


@pytest.fixture(scope="module")
def sample() -> dict:
    data = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    data["inputs"]["osm"]["path"] = str(DATA / "map.osm.pbf")
    data["inputs"]["units"]["path"] = str(DATA / "units.gpkg")
    data.pop("compliance", None)
    return data


@pytest.fixture(scope="module")
def osm_pois(sample) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The sample's facilities (one row per OSM feature: its categories) and bus / metro stations, WGS 84."""
    sa = load_study_area(parse_config({**sample, "name": "osm"}, base_dir=ROOT))
    f = sa.facilities
    lon, lat = TO_WGS.transform(f.geometry.x.to_numpy(), f.geometry.y.to_numpy())
    fac = pd.DataFrame(
        {"osm_id": f["osm_id"].astype(str), "category": f["category"], "lon": lon, "lat": lat}
    )
    fac = fac.groupby("osm_id", sort=True).agg(
        categories=("category", lambda s: frozenset(s)), lon=("lon", "first"), lat=("lat", "first")
    )
    s = sa.stations[sa.stations["kind"].isin(["bus_stop", "metro"])]
    lon, lat = TO_WGS.transform(s.geometry.x.to_numpy(), s.geometry.y.to_numpy())
    st = pd.DataFrame({"kind": s["kind"].to_numpy(), "lon": lon, "lat": lat})
    assert len(fac) > 40 and {"bus_stop", "metro"} <= set(st["kind"])
    return fac.reset_index(), st.reset_index(drop=True)


def _provider_rows(fac: pd.DataFrame, provider: str) -> tuple[list[dict], list[dict]]:
    """(provider rows, the same POIs as ditan rows: one per expected category), positions WGS 84."""
    rows, wgs = [], []
    for i, r in fac.iterrows():
        cats = set(r["categories"])
        parts = []  # (type, code, expected ids)
        if {"market", "convenience_store"} <= cats:
            sm = (
                AMAP_SUPERMARKET
                if provider == "amap"
                else (BAIDU_SUPERMARKET[0], "", BAIDU_SUPERMARKET[1])
            )
            parts.append(sm)
            cats -= {"market", "convenience_store"}
        for c in sorted(cats):
            parts.append(AMAP[c] if provider == "amap" else (BAIDU[c][0], "", BAIDU[c][1]))
        name = f"POI {i}"
        rows.append(
            {
                "name": name,
                "address": "海淀区",
                "adname": "海淀区",
                "type": "|".join(p[0] for p in parts),
                "typecode": "|".join(p[1] for p in parts) if any(p[1] for p in parts) else "",
                "lon": r["lon"],
                "lat": r["lat"],
            }
        )
        expected = set().union(*(p[2] for p in parts))
        wgs += [
            {"name": name, "category": c, "lon": r["lon"], "lat": r["lat"]}
            for c in sorted(expected)
        ]
    return rows, wgs


def _write(work: Path, provider: str, fac: pd.DataFrame, st: pd.DataFrame) -> dict[str, Path]:
    """The provider's export (web-map coordinates) and the WGS 84 POIs and stations with ditan ids."""
    rows, wgs = _provider_rows(fac, provider)
    for j, s in st.iterrows():
        if provider == "amap":
            t, code = AMAP_STATION[s["kind"]]
        else:
            t, code = BAIDU_STATION[s["kind"]], ""
        rows.append({"name": f"站 {j}", "address": "海淀区", "adname": "海淀区", "type": t,
                     "typecode": code, "lon": s["lon"], "lat": s["lat"]})  # fmt: skip
    lon0, lat0 = float(fac["lon"].iloc[0]), float(fac["lat"].iloc[0])
    for k, t in enumerate(UNMAPPED):
        rows.append({"name": f"店 {k}", "address": "海淀区", "adname": "海淀区", "type": t,
                     "typecode": "050100", "lon": lon0 + 1e-4 * k, "lat": lat0})  # fmt: skip
    web = pd.DataFrame(rows)
    lon, lat = _gcj02_forward(web["lon"].to_numpy(), web["lat"].to_numpy())
    if provider == "baidu":
        lon, lat = _bd09_forward(lon, lat)
        web = web.drop(columns=["typecode"]).rename(columns={"type": "tag"})
    web = web.assign(lon=lon, lat=lat)
    out = {
        "web": work / f"{provider}.csv",
        "pois": work / f"{provider}_wgs84_pois.csv",
        "stations": work / f"{provider}_wgs84_stations.csv",
    }
    web.to_csv(out["web"], index=False)
    pd.DataFrame(wgs).to_csv(out["pois"], index=False)
    st.assign(name=[f"站 {j}" for j in range(len(st))]).to_csv(out["stations"], index=False)
    return out


def _layers(files: dict[str, Path], provider: str, **pois_extra) -> dict:
    column = "type" if provider == "amap" else "tag"
    xy = {"x_column": "lon", "y_column": "lat", "name_column": "name"}
    return {
        "pois": {"path": str(files["web"]), **xy, "category_column": column,
                 "category_system": provider, **pois_extra},
        "stations": {"path": str(files["web"]), **xy, "kind_column": column, "kind_system": provider},
    }  # fmt: skip


def _wgs_layers(files: dict[str, Path]) -> dict:
    xy = {"x_column": "lon", "y_column": "lat", "name_column": "name", "crs": "EPSG:4326"}
    return {
        "pois": {"path": str(files["pois"]), **xy, "category_column": "category"},
        "stations": {"path": str(files["stations"]), **xy, "kind_column": "kind"},
    }


def _cfg(sample: dict, name: str, layers: dict, **sections):
    data = {**sample, "name": name, "inputs": {**sample["inputs"], **layers}, **sections}
    return parse_config(data, base_dir=ROOT)


def _dropped(quality: pd.DataFrame, layer: str) -> str:
    return str(quality.set_index("layer").loc[layer, "dropped_why"])


@pytest.fixture(scope="module")
def amap(tmp_path_factory, sample, osm_pois) -> dict:
    work = tmp_path_factory.mktemp("amap")
    files = _write(work, "amap", *osm_pois)
    web = run(_cfg(sample, "amap", _layers(files, "amap")), work / "out_amap")
    wgs = run(_cfg(sample, "amap_wgs", _wgs_layers(files)), work / "out_wgs")
    return {"files": files, "web": web, "wgs": wgs}


@pytest.fixture(scope="module")
def baidu(tmp_path_factory, sample, osm_pois) -> dict:
    work = tmp_path_factory.mktemp("baidu")
    files = _write(work, "baidu", *osm_pois)
    web = run(_cfg(sample, "baidu", _layers(files, "baidu")), work / "out_baidu")
    wgs = run(_cfg(sample, "baidu_wgs", _wgs_layers(files)), work / "out_wgs")
    return {"files": files, "web": web, "wgs": wgs}


def _same_points(a, b, column: str) -> None:
    """The same rows (by name and category / kind) at the same place, to < 1 cm."""
    ka = a.assign(x=a.geometry.x, y=a.geometry.y).sort_values(["name", column], kind="stable")
    kb = b.assign(x=b.geometry.x, y=b.geometry.y).sort_values(["name", column], kind="stable")
    assert ka[["name", column]].to_numpy().tolist() == kb[["name", column]].to_numpy().tolist()
    d = np.hypot(ka["x"].to_numpy() - kb["x"].to_numpy(), ka["y"].to_numpy() - kb["y"].to_numpy())
    assert d.max() < 0.01


def _same_indicators(a, b) -> None:
    ia, ib = a.result.indicators, b.result.indicators
    assert list(ia.columns) == list(ib.columns) and ia.index.tolist() == ib.index.tolist()
    num = [c for c in ia.columns if pd.api.types.is_numeric_dtype(ia[c])]
    lc = [c for c in num if c.startswith("lc_")]
    near = [c for c in num if c.startswith(("bus_stop_", "metro_"))]
    assert lc and near  # the life-circle and station proximity columns are among those compared
    pd.testing.assert_frame_equal(ia[num], ib[num], check_exact=False, rtol=0, atol=1e-9)
    assert ia[lc].notna().any().any() and ia[near].notna().any().any()


@pytest.mark.slow
@pytest.mark.parametrize("provider", ["amap", "baidu"])
def test_web_map_export_measures_as_the_same_pois_in_wgs84(provider, request):
    r = request.getfixturevalue(provider)
    web, wgs = r["web"], r["wgs"]
    _same_points(web.study.facilities, wgs.study.facilities, "category")
    _same_points(web.study.stations, wgs.study.stations, "kind")
    _same_indicators(web, wgs)
    # the provider's coordinate system was taken, and said so
    system = {"amap": "GCJ-02", "baidu": "BD-09"}[provider]
    note = web.quality.set_index("layer").loc["life-circle facilities", "note"]
    assert f"coordinates taken as {system}" in note
    assert f"the provider's (category_system: {provider}); converted to WGS 84" in note
    st_note = web.quality.set_index("layer").loc["stations", "note"]
    assert f"the provider's (kind_system: {provider})" in st_note


@pytest.mark.slow
def test_multi_type_rows_count_once_per_category(amap, osm_pois):
    fac = osm_pois[0]
    got = amap["web"].study.facilities.groupby("name")["category"].apply(sorted)
    # the school listed twice in one row is one primary school
    school = fac.index[fac["categories"].map(lambda c: "primary_school" in c)]
    assert [got[f"POI {i}"] for i in school] == [["primary_school"]] * len(school)
    # a supermarket (one Amap type) is a market and a convenience store: one facility of each
    both = fac.index[fac["categories"].map(lambda c: {"market", "convenience_store"} <= c)]
    assert len(both) and all(got[f"POI {i}"] == ["convenience_store", "market"] for i in both)
    n_expected = sum(len(_provider_rows(fac.loc[[i]], "amap")[1]) for i in fac.index)
    assert len(amap["web"].study.facilities) == n_expected


@pytest.mark.slow
def test_unmapped_types_are_counted_with_their_most_frequent_values(amap, osm_pois):
    q = amap["web"].quality
    n_st = len(osm_pois[1])
    why = _dropped(q, "life-circle facilities")
    assert (
        f"types naming station kinds, not life-circle categories (read them with a stations layer, kind_system: amap): {n_st}"
        in why
    )
    # 16 rows of 13 types: the 10 most frequent named (3, 2, then the singles in text order), then the rest
    singles = sorted(set(UNMAPPED) - {"餐饮服务;中餐厅;中餐厅", "餐饮服务;快餐厅;快餐厅"})
    listed = ", ".join(f"'{t}' 1" for t in singles[:8])
    assert (
        "types naming no life-circle category or amenity in the amap table (spatial/standards/poi_systems.yaml; "
        "category_system: amap); most frequent: '餐饮服务;中餐厅;中餐厅' 3, '餐饮服务;快餐厅;快餐厅' 2, "
        f"{listed}, … and 3 other types: 16"
    ) in why
    st_why = _dropped(q, "stations")
    n_fac = len(osm_pois[0])
    assert (
        f"types naming life-circle categories, not station kinds (read them as pois, category_system: amap): {n_fac}"
        in st_why
    )
    assert (
        "types naming no station kind in the amap table" in st_why
        and "… and 3 other types: 16" in st_why
    )
    rec = q.set_index("layer").loc["life-circle facilities"]
    assert rec["features_read"] == n_fac + n_st + 16 and rec["kept"] == n_fac and rec["balanced"]


def test_match_types_codes_paths_and_pipes():
    """Each case worked out from the rules: code first (exact, else 中类, else 大类), else the longest path prefix."""
    types = pd.Series(
        [
            "科教文化服务;学校;小学",  # 0: path
            "购物服务;便民商店/便利店;便民商店/便利店|购物服务;超级市场;超市",  # 1: two parts, three ids
            "餐饮服务;中餐厅;中餐厅",  # 2: nothing
            "医疗保健服务;综合医院;卫生院",  # 3: 中类 path covers its 小类
            "科教文化服务;学校;学校",  # 4: the 中类 学校 itself: no category
            "x|科教文化服务;学校;中学",  # 5: the code of part 1 (141202) and a junk part 0
            " 交通设施服务 ; 公交车站 ; 普通公交站 ",  # 6: spaces around segments
            "体育休闲服务;运动场所;综合体育馆",  # 7: 中类 code 080100 via 080101
        ]
    )
    codes = pd.Series(["", "060200|060400", "050100", "", "", "|141202", "150702", "80101"])
    got = match_types(types, "amap", codes=codes)
    pairs = sorted(map(tuple, got[["row", "category"]].to_numpy().tolist()))
    assert pairs == [
        (0, "primary_school"),
        (1, "convenience_store"),
        (1, "market"),
        (3, "hospital"),
        (5, "middle_school"),
        (6, "bus_stop"),
        (7, "sports_centre"),
    ]
    # the code wins over the path: a 小学 path with a 中学 code is a middle school
    got = match_types(pd.Series(["科教文化服务;学校;小学"]), "amap", codes=pd.Series(["141202"]))
    assert got["category"].tolist() == ["middle_school"]
    # ids: only those kept (a POI layer keeps no station kinds)
    got = match_types(types, "amap", codes=codes, ids=["bus_stop"])
    assert got["row"].tolist() == [6]
    baidu = match_types(
        pd.Series(["教育培训;小学", "交通设施;公交车站|交通设施;地铁站", "美食;中餐厅"]), "baidu"
    )
    assert sorted(map(tuple, baidu.to_numpy().tolist())) == [
        (0, "primary_school"),
        (1, "bus_stop"),
        (1, "metro"),
    ]


def test_every_table_id_is_a_catalogue_id():
    cat = load_catalogue()
    ids = {*cat.categories, *cat.amenities, *cat.stations}
    for name in ("amap", "baidu"):
        t = load_poi_system(name)
        assert set(t.paths["category"]) <= ids, name
        assert t.crs == {"amap": "gcj02", "baidu": "bd09"}[name]
    assert load_poi_system("amap").codes["code"].str.fullmatch(r"\d{6}").all()


def _small_amap(tmp_path: Path, crs_wgs: bool = False) -> tuple[Path, np.ndarray, np.ndarray]:
    """Three POIs near Tsinghua: WGS 84 positions, written in GCJ-02 (or left in WGS 84)."""
    lon = np.array([116.3201, 116.3215, 116.3230])
    lat = np.array([40.0001, 40.0010, 40.0022])
    g_lon, g_lat = (lon, lat) if crs_wgs else _gcj02_forward(lon, lat)
    pd.DataFrame(
        {
            "name": ["甲小学", "乙幼儿园", "丙"],
            "type": [
                "科教文化服务;学校;小学",
                "科教文化服务;学校;幼儿园",
                "科教文化服务;学校;学校",
            ],
            "typecode": ["141203", "141204", "141200"],
            "lon": g_lon,
            "lat": g_lat,
        }
    ).to_csv(tmp_path / "poi.csv", index=False)
    return tmp_path / "poi.csv", lon, lat


def _facilities(tmp_path: Path, pois: dict, life_circle: dict | None = None):
    data = {
        "name": "t",
        "crs": "EPSG:4548",
        "bounds": [116.3084, 39.9905, 116.3320, 40.0123],
        "inputs": {"pois": {"x_column": "lon", "y_column": "lat", **pois}},
    }
    if life_circle:
        data["life_circle"] = life_circle
    sa = load_study_area(parse_config(data, base_dir=tmp_path), derive_missing_units=False)
    return sa.facilities, sa.ledger.to_frame().set_index("layer").loc["life-circle facilities"]


def test_explicit_crs_wins_over_the_providers(tmp_path):
    path, lon, lat = _small_amap(
        tmp_path, crs_wgs=True
    )  # an Amap export someone converted to WGS 84
    got, rec = _facilities(tmp_path, {"path": str(path), "category_column": "type",
                                      "category_system": "amap", "crs": "EPSG:4326"})  # fmt: skip
    x, y = Transformer.from_crs(4326, "EPSG:4548", always_xy=True).transform(lon[:2], lat[:2])
    assert np.allclose(got.geometry.x, x, atol=1e-6) and np.allclose(got.geometry.y, y, atol=1e-6)
    assert "taken as" not in rec["note"] and "GCJ-02" not in rec["note"]
    # the default: the same numbers taken as GCJ-02 land ~ 500 m away
    got, rec = _facilities(
        tmp_path, {"path": str(path), "category_column": "type", "category_system": "amap"}
    )
    assert np.hypot(got.geometry.x.to_numpy() - x, got.geometry.y.to_numpy() - y).min() > 100
    assert "coordinates taken as GCJ-02" in rec["note"]


def test_projected_file_is_not_taken_as_web_map_degrees(tmp_path):
    import geopandas as gpd
    from shapely.geometry import Point

    gpd.GeoDataFrame(
        {"type": ["科教文化服务;学校;小学"]}, geometry=[Point(446000, 4428000)], crs="EPSG:4548"
    ).to_file(tmp_path / "poi.gpkg")
    with pytest.raises(
        LayerError, match=r"category_system: amap takes coordinates as GCJ-02.*Set crs: EPSG:4548"
    ):
        _facilities(tmp_path, {"path": str(tmp_path / "poi.gpkg"), "category_column": "type",
                               "category_system": "amap", "x_column": None, "y_column": None})  # fmt: skip


def test_extra_categories_refuse_an_existing_id(tmp_path):
    data = {
        "name": "t",
        "life_circle": {
            "extra_categories": [
                {"id": "primary_school", "tier": "5min", "zh": "小学", "en": "Primary school"}
            ]
        },
    }
    with pytest.raises(
        ConfigError,
        match=r"life_circle\.extra_categories\.0\.id.*already a category.*extend_categories",
    ):
        parse_config(data, base_dir=tmp_path)
    data["life_circle"] = {"extend_categories": [{"id": "primry_school", "aliases": ["x"]}]}
    with pytest.raises(
        ConfigError, match=r"life_circle\.extend_categories\.0\.id.*did you mean 'primary_school'"
    ):
        parse_config(data, base_dir=tmp_path)


def test_extend_categories_adds_a_provider_type_to_a_category(tmp_path):
    path, lon, lat = _small_amap(tmp_path)
    pois = {"path": str(path), "category_column": "type", "category_system": "amap"}
    got, rec = _facilities(tmp_path, pois)
    assert sorted(got["category"]) == ["kindergarten", "primary_school"]
    assert "'科教文化服务;学校;学校' 1" in rec["dropped_why"]
    # 学校 (a school of no stated level) counted as a primary school, by the run's choice
    ext = {"extend_categories": [{"id": "primary_school", "aliases": ["科教文化服务;学校;学校"]}]}
    got, rec = _facilities(tmp_path, pois, ext)
    assert sorted(got["category"]) == ["kindergarten", "primary_school", "primary_school"]
    assert rec["dropped"] == 0
    cat = load_catalogue(
        extend_categories=[{"id": "bus_stop", "aliases": ["公交"], "match": [{"bus": "yes"}]}]
    )
    base = load_catalogue()
    assert cat.stations["bus_stop"].aliases == (*base.stations["bus_stop"].aliases, "公交")
    assert (
        cat.stations["bus_stop"].match[-1] == {"bus": "yes"} and cat.categories == base.categories
    )
