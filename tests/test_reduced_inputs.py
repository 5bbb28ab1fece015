"""Acceptance suite: ditan on reduced inputs built from the Beijing sample (Tsinghua / Wudaokou).

Each input is the real sample with one thing taken away or changed: no buildings; no land use, raster or
vegetation; a unit beyond the data; a category with no facility (and the same confirmed absent); a
stations layer of bus stops only; the same stops in GCJ-02; Chinese road classes; swapped bounds; a
400 m radius; custom tier ids; a CLCD-coded raster; an OSM file with only roads. Each run is checked
for the three states of its values — measured, NaN not assessable, NaN data gap — and against an
expectation computed here without ditan's code path:

* map.osm (the XML twin of the sample's PBF) is read with xml.etree: roads, buildings, bus stops and
  metro stations come from that reading, not from ditan's OSM reader;
* what each column rests on is read from ``needs:`` in spatial/standards/indicators.yaml with yaml;
* road lengths are a brute-force clip (tests.conftest.brute_force_line_km), raster shares exact shapely
  areas of pixel squares, 400 m coverage a scipy cKDTree over the stops, GCJ-02 a forward transform
  written out here.

Every run with a compliance profile is checked: no rule fails on a NaN value, and a rule whose value
rests on absent data is not assessable with data_gap true. The units carry a pilot kind (alternately
new and existing) so that both tables of 低碳社区试点建设指南 are checked.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import shapely
import yaml
from pyproj import Transformer
from rasterio.transform import from_origin
from scipy.spatial import cKDTree

from ditan.pipelines.config.schema import load_config, parse_config
from ditan.pipelines.jobs.run import run
from ditan.spatial.errors import ConfigError, DitanError, LayerError
from tests.conftest import brute_force_line_km

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data" / "beijing_haidian_tsinghua"
CONFIG = ROOT / "pipelines" / "configs" / "beijing_haidian.yaml"
OSM_XML = DATA / "map.osm"
METRIC = "EPSG:4548"  # CGCS2000 3° Gauss–Krüger, CM 117°E: the sample's metric CRS
TO_METRIC = Transformer.from_crs(4326, METRIC, always_xy=True)
ROAD_COLUMNS = ["road_length_km", "road_length_naive_km", "road_density_km_per_km2", "road_density_expressway_km_per_km2",
                "road_density_arterial_km_per_km2", "road_density_collector_km_per_km2", "road_density_local_km_per_km2",
                "intersection_count", "intersection_count_raw", "intersection_density_per_km2"]  # fmt: skip
# the city road classes of GB/T 51328 as OSM highway values (README: road_density_* columns), and their Chinese names
CHINESE_CLASS = {"motorway": "快速路", "motorway_link": "快速路", "trunk": "快速路", "trunk_link": "快速路", "primary": "主干路",
                 "primary_link": "主干路", "secondary": "次干路", "secondary_link": "次干路", "tertiary": "支路",
                 "tertiary_link": "支路", "residential": "支路", "unclassified": "支路", "living_street": "支路"}  # fmt: skip
CITY_ROADS = tuple(CHINESE_CLASS)


# ─────────────────────────────────────────────────────────────── an independent reading of map.osm
def _tags(e: ET.Element) -> dict[str, str]:
    return {t.get("k"): t.get("v") for t in e.findall("tag")}


class OsmXml:
    """map.osm read with xml.etree: node coordinates, and every element with its tags."""

    def __init__(self, path: Path):
        self.root = ET.parse(path).getroot()
        self.nodes = {
            n.get("id"): (float(n.get("lon")), float(n.get("lat"))) for n in self.root.iter("node")
        }

    def ways(self, want) -> list[tuple[ET.Element, dict, list[tuple[float, float]]]]:
        out = []
        for w in self.root.iter("way"):
            t = _tags(w)
            if want(t):
                refs = [nd.get("ref") for nd in w.findall("nd")]
                out.append((w, t, [self.nodes[r] for r in refs if r in self.nodes]))
        return out

    def tagged_nodes(self, want) -> list[tuple[dict, float, float]]:
        return [
            (t, *self.nodes[n.get("id")]) for n in self.root.iter("node") if want(t := _tags(n))
        ]

    def write(self, path: Path, keep, *, only_nodes_of_kept_ways: bool = False) -> Path:
        """A copy of the file with the ways and relations ``keep(tags)`` accepts (nodes: all, or those of the kept ways, untagged)."""
        out = ET.Element("osm", self.root.attrib)
        out.append(self.root.find("bounds"))
        ways = [w for w in self.root.iter("way") if keep(_tags(w))]
        used = {nd.get("ref") for w in ways for nd in w.findall("nd")}
        for n in self.root.iter("node"):
            if not only_nodes_of_kept_ways:
                out.append(n)
            elif n.get("id") in used:
                out.append(
                    ET.Element("node", n.attrib)
                )  # the node without its tags (no stop, no crossing)
        out.extend(ways)
        if not only_nodes_of_kept_ways:
            out.extend(r for r in self.root.iter("relation") if keep(_tags(r)))
        ET.ElementTree(out).write(path, encoding="utf-8", xml_declaration=True)
        return path


def _is_road(t: dict) -> bool:
    return "highway" in t


def _is_building(t: dict) -> bool:
    return t.get("building", "no") != "no"


def _is_metro(t: dict) -> bool:
    """The metro rules of spatial/standards/life_circle.yaml (stations: metro: match), written out."""
    return (
        t.get("railway") == "subway_entrance"
        or (t.get("railway") == "station" and "subway" in (t.get("station"), t.get("subway")))
        or (t.get("public_transport") == "station" and t.get("subway") == "yes")
    )


def _metric(lonlat: list[tuple[float, float]] | np.ndarray) -> np.ndarray:
    a = np.asarray(lonlat, dtype=float).reshape(-1, 2)
    return np.column_stack(TO_METRIC.transform(a[:, 0], a[:, 1]))


def _gcj02_forward(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """WGS 84 → GCJ-02, the published algorithm (Krasovsky ellipsoid), written independently of ditan.spatial.crs.china."""
    a, ee = 6378245.0, 0.00669342162296594323
    x, y = lon - 105.0, lat - 35.0
    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
    dlat += (20.0 * np.sin(6.0 * x * math.pi) + 20.0 * np.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    dlat += (20.0 * np.sin(y * math.pi) + 40.0 * np.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
    dlat += (160.0 * np.sin(y / 12.0 * math.pi) + 320.0 * np.sin(y * math.pi / 30.0)) * 2.0 / 3.0
    dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
    dlon += (20.0 * np.sin(6.0 * x * math.pi) + 20.0 * np.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    dlon += (20.0 * np.sin(x * math.pi) + 40.0 * np.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
    dlon += (150.0 * np.sin(x / 12.0 * math.pi) + 300.0 * np.sin(x / 30.0 * math.pi)) * 2.0 / 3.0
    rad = lat / 180.0 * math.pi
    magic = 1.0 - ee * np.sin(rad) ** 2
    dlat = dlat * 180.0 / ((a * (1.0 - ee)) / (magic * np.sqrt(magic)) * math.pi)
    dlon = dlon * 180.0 / (a / np.sqrt(magic) * np.cos(rad) * math.pi)
    return lon + dlon, lat + dlat


def _needs() -> dict[str, set[str]]:
    """Column → what it rests on, read straight from spatial/standards/indicators.yaml."""
    rows = yaml.safe_load(
        (ROOT / "spatial" / "standards" / "indicators.yaml").read_text(encoding="utf-8")
    )
    return {r["id"]: set(r.get("needs", [])) for r in rows}


NEEDS = _needs()


def _dedup_count(xy: np.ndarray, names: list, units: gpd.GeoDataFrame) -> np.ndarray:
    """Stations per unit, each counted once.

    Points of one kind within 50 m (or of one name within 150 m) are one station, transitively, placed at its first
    point; a station within 0.5 m of k unit edges counts 1/k (README: the rules).
    """
    n = len(xy)
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(n):
        for j in range(i + 1, n):
            d = float(np.hypot(*(xy[i] - xy[j])))
            if d <= 50.0 or (names[i] and names[i] == names[j] and d <= 150.0):
                parent[max(find(i), find(j))] = min(find(i), find(j))
    first = sorted({find(i) for i in range(n)})
    out = np.zeros(len(units))
    for i in first:
        p = shapely.Point(xy[i])
        on_edge = [k for k, g in enumerate(units.geometry) if g.boundary.distance(p) <= 0.5]
        if on_edge:
            out[on_edge] += 1.0 / len(on_edge)
        else:
            out[[k for k, g in enumerate(units.geometry) if g.contains(p)]] += 1.0
    return out


# ─────────────────────────────────────────────────────────────── the reduced inputs, written once
@pytest.fixture(scope="module")
def osm() -> OsmXml:
    return OsmXml(OSM_XML)


@pytest.fixture(scope="module")
def units_metric() -> gpd.GeoDataFrame:
    u = gpd.read_file(DATA / "units.gpkg")
    return u.assign(unit_id=u["unit_id"].astype(str)).set_index("unit_id").to_crs(METRIC)


@pytest.fixture(scope="module")
def work(tmp_path_factory, osm, units_metric) -> Path:
    """Every reduced input of the suite, in one folder."""
    d = tmp_path_factory.mktemp("reduced")
    u = gpd.read_file(DATA / "units.gpkg")
    u["kind"] = np.where(
        np.arange(len(u)) % 2 == 0, "new", "existing"
    )  # both tables of the guide get checked
    u.to_file(d / "units.gpkg", driver="GPKG")
    # a 500 m square 5 km east of the sample's data (the OSM export ends at 116.332°E)
    east = shapely.box(*units_metric.total_bounds).bounds[2] + 5000.0
    y0 = units_metric.total_bounds[1] + 1000.0
    far = gpd.GeoDataFrame(
        {"unit_id": ["FAR"], "name": ["数据范围外 beyond the data"], "kind": ["new"]},
        geometry=[shapely.box(east, y0, east + 500, y0 + 500)],
        crs=METRIC,
    ).to_crs(4326)
    pd.concat([u, far], ignore_index=True).to_file(d / "units_far.gpkg", driver="GPKG")
    # OSM files: without buildings; with only roads
    osm.write(d / "no_buildings.osm", lambda t: not _is_building(t))
    osm.write(d / "only_roads.osm", _is_road, only_nodes_of_kept_ways=True)
    # layers: roads (OSM classes, and Chinese classes) and buildings, from the XML
    roads = [
        (t["highway"], t.get("name"), shapely.LineString(c))
        for _, t, c in osm.ways(_is_road)
        if len(c) >= 2
    ]
    r = gpd.GeoDataFrame(
        {"hw": [x[0] for x in roads], "nm": [x[1] for x in roads]},
        geometry=[x[2] for x in roads],
        crs=4326,
    )
    r.to_file(d / "roads.gpkg", driver="GPKG")
    r.assign(hw=r["hw"].map(CHINESE_CLASS).fillna(r["hw"])).to_file(
        d / "roads_cn.gpkg", driver="GPKG"
    )
    blds = [
        (t["building"], t.get("building:levels"), t.get("height"), shapely.Polygon(c))
        for _, t, c in osm.ways(_is_building)
        if len(c) >= 4 and c[0] == c[-1]
    ]
    gpd.GeoDataFrame(
        {"use": [b[0] for b in blds], "fl": [b[1] for b in blds], "h": [b[2] for b in blds]},
        geometry=[b[3] for b in blds],
        crs=4326,
    ).to_file(d / "buildings.gpkg", driver="GPKG")
    # bus stops (highway=bus_stop nodes) as CSV: as they are, and shifted to GCJ-02 as Amap would list them
    stops = osm.tagged_nodes(lambda t: t.get("highway") == "bus_stop")
    bus = pd.DataFrame(
        {
            "lon": [s[1] for s in stops],
            "lat": [s[2] for s in stops],
            "name": [s[0].get("name", "") for s in stops],
        }
    )
    bus.to_csv(d / "bus.csv", index=False)
    g_lon, g_lat = _gcj02_forward(bus["lon"].to_numpy(), bus["lat"].to_numpy())
    bus.assign(lon=g_lon, lat=g_lat).to_csv(d / "bus_gcj02.csv", index=False)
    # the catalogue with its tiers renamed near / mid / far at 300 / 600 / 1200 m
    cat = yaml.safe_load(
        (ROOT / "spatial" / "standards" / "life_circle.yaml").read_text(encoding="utf-8")
    )
    rename = {"5min": "near", "10min": "mid", "15min": "far"}
    cat["tiers"] = {
        rename[k]: {**v, "distance_m": {"5min": 300, "10min": 600, "15min": 1200}[k]}
        for k, v in cat["tiers"].items()
    }
    for c in cat["categories"]:
        c["tier"] = rename[c["tier"]]
    (d / "tiers.yaml").write_text(
        yaml.safe_dump(cat, allow_unicode=True, sort_keys=False), encoding="utf-8"
    )
    _clcd_raster(d / "clcd.tif", units_metric)
    return d


PIXEL_M = 30.0


def _clcd_raster(path: Path, units: gpd.GeoDataFrame) -> None:
    """CLCD codes 1–9 (fixed random draw) on a 30 m grid over the units and 300 m around, in the metric CRS."""
    x0, y0, x1, y1 = units.total_bounds
    x0, y0 = math.floor(x0 / PIXEL_M) * PIXEL_M - 300, math.floor(y0 / PIXEL_M) * PIXEL_M - 300
    x1, y1 = math.ceil(x1 / PIXEL_M) * PIXEL_M + 300, math.ceil(y1 / PIXEL_M) * PIXEL_M + 300
    w, h = int(round((x1 - x0) / PIXEL_M)), int(round((y1 - y0) / PIXEL_M))
    codes = np.random.default_rng(2015).integers(1, 10, size=(h, w)).astype("uint8")
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=w,
        height=h,
        count=1,
        dtype="uint8",
        crs=METRIC,
        transform=from_origin(x0, y1, PIXEL_M, PIXEL_M),
        nodata=0,
    ) as dst:
        dst.write(codes, 1)


def _base(work: Path, **changes) -> dict:
    """The sample's config (PBF, bounds, units with a kind column, profile lowcarbon_pilot_2015), changed as given."""
    data = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    data["inputs"]["osm"]["path"] = str(DATA / "map.osm.pbf")
    data["inputs"]["units"] = {
        "path": str(work / "units.gpkg"),
        "id_column": "unit_id",
        "name_column": "name",
        "kind_column": "kind",
    }
    data["compliance"] = {"profile": "lowcarbon_pilot_2015"}
    data.update(changes)  # whole sections: inputs=…, transit=…
    return data


def _run(work: Path, data: dict, name: str):
    cfg = parse_config({**data, "name": name}, base_dir=work)
    return run(cfg, work / f"out_{name}")


def _xml(work: Path, name: str) -> dict:
    return {"path": str(work / name)}  # the XML carries its <bounds>


def _layers(work: Path, roads: str) -> dict:
    """Roads and buildings as layers, nothing else: no OSM, no land use, no raster, no POIs, no stations."""
    return {
        "units": {
            "path": str(work / "units.gpkg"),
            "id_column": "unit_id",
            "name_column": "name",
            "kind_column": "kind",
        },
        "roads": {"path": str(work / roads), "class_column": "hw", "name_column": "nm"},
        "buildings": {
            "path": str(work / "buildings.gpkg"),
            "type_column": "use",
            "floors_column": "fl",
            "height_column": "h",
        },
    }


BUS = {
    "path": "bus.csv",
    "x_column": "lon",
    "y_column": "lat",
    "crs": "EPSG:4326",
    "kind": "bus_stop",
    "name_column": "name",
}


@pytest.fixture(scope="module")
def base(work):
    return _run(work, _base(work), "base")


@pytest.fixture(scope="module")
def no_buildings(work):
    data = _base(work)
    data["inputs"]["osm"] = _xml(work, "no_buildings.osm")
    return _run(work, data, "no_buildings")


@pytest.fixture(scope="module")
def layers(work):
    return _run(work, _base(work, inputs=_layers(work, "roads.gpkg")), "layers")


@pytest.fixture(scope="module")
def outside(work):
    data = _base(work)
    data["inputs"]["units"]["path"] = str(work / "units_far.gpkg")
    return _run(work, data, "outside")


@pytest.fixture(scope="module")
def confirmed(work):
    data = _base(work)
    data["life_circle"]["confirmed_absent"] = ["elderly_home"]
    return _run(work, data, "confirmed")


@pytest.fixture(scope="module")
def bus_only(work):
    """The OSM file plus a stations layer of bus stops only, at a 400 m radius."""
    data = _base(work, transit={"radius_m": 400})
    data["inputs"]["stations"] = [BUS]
    return _run(work, data, "bus_only")


@pytest.fixture(scope="module")
def custom_tiers(work):
    data = _base(work)
    data["life_circle"] = {"catalogue": str(work / "tiers.yaml"), "snap_max_m": 100}
    data["map"] = {"color_by": "lc_far_score_pct"}
    return _run(work, data, "custom_tiers")


@pytest.fixture(scope="module")
def clcd(work):
    data = _base(work)
    data["inputs"]["landcover"] = {
        "path": str(work / "clcd.tif"),
        "vegetation_classes": [2, 3, 4],
        "impervious_classes": [8],
    }
    return _run(work, data, "clcd")


@pytest.fixture(scope="module")
def only_roads(work):
    data = _base(work)
    data["inputs"]["osm"] = _xml(work, "only_roads.osm")
    return _run(work, data, "only_roads")


def _reason(out, unit, column) -> pd.Series:
    r = out.result.reasons
    hit = r[(r["unit_id"] == unit) & (r["column"] == column)]
    assert len(hit) == 1, (unit, column, hit)
    return hit.iloc[0]


def _all_reasons(out, columns: list[str]) -> pd.DataFrame:
    r = out.result.reasons
    return r[r["column"].isin(columns)]


def _nan_with(out, columns: list[str], code: str, units=None) -> None:
    """Every listed column NaN for every (listed) unit, with reason ``code`` and data_gap true."""
    ind = out.result.indicators
    units = list(ind.index) if units is None else list(units)
    for c in columns:
        assert ind.loc[units, c].isna().all(), (c, ind.loc[units, c])
    r = _all_reasons(out, columns).set_index(["unit_id", "column"])
    for u in units:
        for c in columns:
            assert r.loc[(u, c), "reason"] == code, (u, c, r.loc[(u, c)].to_dict())
            assert bool(r.loc[(u, c), "data_gap"]), (u, c)


def _columns_needing(out, *layers: str) -> list[str]:
    return [c for c in out.result.indicators.columns if NEEDS.get(c, set()) & set(layers)]


# ─────────────────────────────────────────────────────────────── no buildings
def test_no_buildings_building_columns_are_data_gaps(no_buildings):
    ind = no_buildings.result.indicators
    cols = _columns_needing(no_buildings, "buildings", "floor_area")
    assert {
        "far_ratio",
        "building_density_pct",
        "floor_area_m2",
        "footprint_area_m2",
        "far_buildings_ratio",
        "residential_floor_area_m2",
        "max_floors",
    } <= set(cols)
    _nan_with(no_buildings, cols, "no_layer")
    assert (ind["far_source"] == "none").all()
    why = _reason(no_buildings, ind.index[0], "far_ratio")
    assert "building" in why["reason_en"] and "建筑" in why["reason_zh"]


def test_no_buildings_roads_still_measured_and_equal_a_plain_clip(
    no_buildings, base, osm, units_metric
):
    ind = no_buildings.result.indicators
    assert (
        set(ROAD_COLUMNS) <= set(_columns_needing(no_buildings, "roads"))
        and not ind[ROAD_COLUMNS].isna().any().any()
    )
    ways = [
        shapely.LineString(_metric(c))
        for _, t, c in osm.ways(_is_road)
        if t["highway"] in CITY_ROADS and len(c) >= 2
    ]
    brute = brute_force_line_km(
        np.array(ways, dtype=object), units_metric.loc[ind.index].geometry.to_numpy()
    )
    np.testing.assert_allclose(
        ind["road_length_naive_km"].to_numpy(), brute, rtol=0.005, atol=0.002
    )
    # and unchanged from the full run: buildings take no part in road density
    pd.testing.assert_frame_equal(
        ind[ROAD_COLUMNS], base.result.indicators[ROAD_COLUMNS], rtol=1e-9
    )


def test_no_buildings_far_rule_not_assessable_never_fail(no_buildings):
    c = pd.read_csv(no_buildings.out_dir / "compliance.csv", encoding="utf-8-sig")
    far = c[c["indicator"] == "far_ratio"]
    kinds = gpd.read_file(no_buildings.out_dir.parent / "units.gpkg")["kind"]
    assert len(far) == int((kinds == "new").sum()) > 0  # 表1 容积率 applies to new communities
    assert (far["status"] == "not_assessable").all() and far["data_gap"].astype(bool).all()
    assert far["reason"].str.contains("building").all()


def test_no_buildings_data_quality_names_the_gap(no_buildings):
    q = pd.read_csv(no_buildings.out_dir / "data_quality.csv", encoding="utf-8-sig")
    gaps = q[q["layer"].str.startswith("data gap:")]
    row = gaps[gaps["layer"].str.contains("buildings")]
    assert len(row) == 1, gaps["layer"].tolist()
    note = row["note"].iloc[0]
    assert "inputs.buildings" in note
    # the row lists every column the gap leaves NaN: those whose reason is this layer's no_layer
    listed = set(note.rsplit("(NaN: ", 1)[1].rstrip(")").split(", "))
    r = no_buildings.result.reasons
    left_nan = set(
        r.loc[(r["reason"] == "no_layer") & r["reason_en"].str.startswith("no building"), "column"]
    )
    assert {"far_ratio", "floor_area_m2", "building_density_pct"} <= left_nan
    assert left_nan <= listed, (
        f"NaN for want of buildings but not named in data_quality.csv: {sorted(left_nan - listed)}"
    )


# ─────────────────────────────────────────────────────────────── no land use; no raster and no vegetation
def test_no_land_use_columns_are_data_gaps(layers):
    ind = layers.result.indicators
    cols = _columns_needing(layers, "landuse")
    assert {
        "lu_residential_pct",
        "lu_unknown_pct",
        "green_space_ratio_pct",
        "public_service_pct",
        "industrial_residential_ratio",
        "park_service_coverage_pct",
    } <= set(cols)
    _nan_with(layers, cols, "no_layer")
    assert (ind["lu_code_system"] == "none").all() and (ind["green_space_source"] == "none").all()


def test_no_raster_and_no_vegetation(layers):
    ind = layers.result.indicators
    _nan_with(
        layers, ["green_coverage_pct", "permeable_surface_pct", "raster_nodata_pct"], "no_layer"
    )
    assert (ind["green_coverage_source"] == "none").all()
    # the buildings and roads given are measured: FAR from the footprints, road density from the roads
    assert ind["far_ratio"].notna().all() and ind["road_density_km_per_km2"].notna().all()


def test_no_land_use_run_measures_roads_as_a_plain_clip(layers, work, units_metric):
    r = gpd.read_file(work / "roads.gpkg").to_crs(METRIC)
    r = r[r["hw"].isin(CITY_ROADS)]
    ind = layers.result.indicators
    brute = brute_force_line_km(
        r.geometry.to_numpy(), units_metric.loc[ind.index].geometry.to_numpy()
    )
    np.testing.assert_allclose(
        ind["road_length_naive_km"].to_numpy(), brute, rtol=0.005, atol=0.002
    )


# ─────────────────────────────────────────────────────────────── Chinese road classes
def test_chinese_road_classes_give_the_same_road_columns(layers, work):
    assert (ROOT / "spatial" / "standards" / "road_classes.yaml").is_file()
    cn = gpd.read_file(work / "roads_cn.gpkg")
    assert {"快速路", "主干路", "次干路", "支路"} <= set(cn["hw"])
    out = _run(work, _base(work, inputs=_layers(work, "roads_cn.gpkg")), "roads_cn")
    pd.testing.assert_frame_equal(
        out.result.indicators[ROAD_COLUMNS], layers.result.indicators[ROAD_COLUMNS], rtol=1e-9
    )
    assert out.result.indicators["road_density_km_per_km2"].gt(0).any()
    _check_compliance(out, absent={"landuse", "vegetation", "raster", "facilities", "stations"})


# ─────────────────────────────────────────────────────────────── a unit beyond the data
def test_unit_outside_the_data(outside, base):
    ind, ref = outside.result.indicators, base.result.indicators
    cols = _columns_needing(outside, "roads", "buildings", "floor_area", "landuse")
    assert {
        "road_density_km_per_km2",
        "far_ratio",
        "building_density_pct",
        "lu_residential_pct",
    } <= set(cols)
    _nan_with(outside, cols, "outside_layer", units=["FAR"])
    # the other units are as in the normal run, value for value and reason for reason
    pd.testing.assert_frame_equal(ind.drop(index="FAR"), ref, check_dtype=False)
    mine = outside.result.reasons
    key = ["unit_id", "column"]
    pd.testing.assert_frame_equal(
        mine[mine["unit_id"] != "FAR"].sort_values(key).reset_index(drop=True),
        base.result.reasons.sort_values(key).reset_index(drop=True),
    )
    q = pd.read_csv(outside.out_dir / "data_quality.csv", encoding="utf-8-sig")
    assert q["layer"].str.contains("units outside the road data").any()


# ─────────────────────────────────────────────────────────────── a category with no facility
def _catalogue_15min() -> list[str]:
    cat = yaml.safe_load(
        (ROOT / "spatial" / "standards" / "life_circle.yaml").read_text(encoding="utf-8")
    )
    return [c["id"] for c in cat["categories"] if c["tier"] == "15min"]


def test_map_osm_has_no_elderly_home(osm):
    """The premise, from the XML: no amenity=nursing_home and no social_facility (life_circle.yaml elderly_home)."""
    for e in osm.root:
        t = _tags(e)
        assert t.get("amenity") != "nursing_home" and "social_facility" not in t


def test_category_with_no_facility_is_a_gap_and_the_score_is_the_mean_of_the_rest(base):
    ind = base.result.indicators
    _nan_with(base, ["lc_elderly_home_pct"], "category_gap")
    _nan_with(base, ["lc_15min_all_pct"], "tier_gap")
    fifteen = _catalogue_15min()
    assert "elderly_home" in fifteen
    others = [f"lc_{c}_pct" for c in fifteen if c != "elderly_home"]
    res = ind[ind["has_residents"].astype(bool)]
    assert len(res) >= 3 and res[others].notna().all().all()
    np.testing.assert_allclose(res["lc_15min_score_pct"], res[others].mean(axis=1), rtol=1e-9)
    assert (ind["lc_15min_assessed_count"] == len(fifteen) - 1).all()
    assert (ind["lc_15min_categories_count"] == len(fifteen)).all()
    q = pd.read_csv(base.out_dir / "data_quality.csv", encoding="utf-8-sig")
    assert q["layer"].str.contains("elderly_home").any()


def test_confirmed_absent_category_is_a_measured_zero(confirmed, base):
    ind, ref = confirmed.result.indicators, base.result.indicators
    res = ind["has_residents"].astype(bool)
    assert (ind.loc[res, "lc_elderly_home_pct"] == 0.0).all()
    # nobody reaches an elderly home, so nobody has every 15-minute category: a measured 0, not a gap
    assert (ind.loc[res, "lc_15min_all_pct"] == 0.0).all()
    fifteen = _catalogue_15min()
    assert (ind["lc_15min_assessed_count"] == len(fifteen)).all()
    # the score over 6 categories, one of them 0 for everyone: 5/6 of the score over the other 5
    np.testing.assert_allclose(
        ind.loc[res, "lc_15min_score_pct"], ref.loc[res, "lc_15min_score_pct"] * 5 / 6, rtol=1e-9
    )
    r = _all_reasons(confirmed, ["lc_elderly_home_pct"])
    assert set(r["reason"]) <= {"no_residents"} and set(r["unit_id"]) == set(ind.index[~res])


# ─────────────────────────────────────────────────────────────── a stations layer of bus stops only; radius 400
def test_bus_only_layer_keeps_metro_from_osm(bus_only, base, osm, units_metric):
    ind = bus_only.result.indicators
    metro = osm.tagged_nodes(_is_metro)
    xy = _metric([(m[1], m[2]) for m in metro])
    expected = _dedup_count(xy, [m[0].get("name") for m in metro], units_metric.loc[ind.index])
    assert expected.sum() >= 3
    np.testing.assert_allclose(ind["metro_station_count"].to_numpy(), expected)
    for c in ("metro_station_count", "metro_500m_radius_pct", "metro_500m_network_pct"):
        pd.testing.assert_series_equal(ind[c], base.result.indicators[c])
    assert not _all_reasons(bus_only, ["metro_station_count"])["reason"].eq("station_gap").any()
    st = bus_only.study.stations
    assert set(st.loc[st["kind"] == "bus_stop", "source"]) == {"bus.csv"} and set(
        st.loc[st["kind"] == "metro", "source"]
    ) == {"OSM"}


def test_bus_only_layer_counts_its_stops(bus_only, work, units_metric):
    bus = pd.read_csv(work / "bus.csv", keep_default_na=False)
    ind = bus_only.result.indicators
    expected = _dedup_count(
        _metric(bus[["lon", "lat"]].to_numpy()), bus["name"].tolist(), units_metric.loc[ind.index]
    )
    np.testing.assert_allclose(ind["bus_stop_count"].to_numpy(), expected)


def _radius_share(out, stops_xy: np.ndarray, radius_m: float) -> pd.Series:
    """Share of residential floor area within ``radius_m`` straight line of a stop.

    The run's own origins and weights; the distances from scipy's cKDTree over every stop position given.
    """
    from ditan.spatial.engine.origins import residential_origins
    from ditan.spatial.indicators import intensity, landuse

    sa = out.study
    pieces = intensity.building_pieces(sa.units, sa.buildings)
    origins = residential_origins(sa.units, sa.buildings, pieces, landuse.landuse_faces(sa.landuse))
    d, _ = cKDTree(stops_xy).query(shapely.get_coordinates(origins.points))
    w = origins.weights
    covered = d[w["origin"].to_numpy()] <= radius_m
    tot = np.bincount(w["unit"], weights=w["weight"], minlength=len(sa.units))
    hit = np.bincount(w["unit"], weights=w["weight"] * covered, minlength=len(sa.units))
    with np.errstate(invalid="ignore", divide="ignore"):
        return pd.Series(np.where(tot > 0, hit / tot * 100.0, np.nan), index=sa.units.index)


def test_radius_400_is_measured_and_500_kept_for_the_profile(bus_only, work):
    ind = bus_only.result.indicators
    for kind in ("bus_stop", "metro", "bike_rental"):
        for method in ("radius", "network"):
            assert (
                f"{kind}_400m_{method}_pct" in ind and f"{kind}_500m_{method}_pct" in ind
            )  # t3_bus_access names 500 m
    # every stop position of the layer counts: stops merged into one station (a platform each side of the road) are counted
    # once but reached wherever they were listed (spatial/station_layers.py), on the network and in a straight line alike
    bus = pd.read_csv(work / "bus.csv", keep_default_na=False)
    xy = _metric(bus[["lon", "lat"]].to_numpy())
    res = ind["has_residents"].astype(bool).to_numpy()
    for r in (400, 500):
        want = _radius_share(bus_only, xy, r)
        np.testing.assert_allclose(
            ind[f"bus_stop_{r}m_radius_pct"].to_numpy()[res],
            want.to_numpy()[res],
            rtol=1e-9,
            atol=1e-9,
        )
        assert ind[f"bus_stop_{r}m_radius_pct"][~res].isna().all()
    assert (
        ind["bus_stop_400m_radius_pct"][res] <= ind["bus_stop_500m_radius_pct"][res] + 1e-9
    ).all()


# ─────────────────────────────────────────────────────────────── GCJ-02 stops
def test_gcj02_transform_agrees_with_ditans():
    from ditan.spatial.crs.china import wgs84_to_gcj02

    lon, lat = np.array([116.3084, 116.332, 116.32]), np.array([39.9905, 40.0123, 40.0])
    np.testing.assert_allclose(
        np.column_stack(_gcj02_forward(lon, lat)),
        np.column_stack(wgs84_to_gcj02(lon, lat)),
        atol=1e-10,
    )


def test_gcj02_stops_declared_wgs84_stop_the_run(work):
    data = _base(work, transit={"radius_m": 400})
    data["inputs"]["stations"] = [BUS | {"path": "bus_gcj02.csv"}]
    with pytest.raises(
        DitanError, match=r"bus_gcj02\.csv.*GCJ-02.*set crs: gcj02 under inputs\.stations"
    ):
        _run(work, data, "gcj_wrong")


def test_gcj02_stops_declared_gcj02_match_the_true_stops(work, bus_only):
    data = _base(work, transit={"radius_m": 400})
    data["inputs"]["stations"] = [BUS | {"path": "bus_gcj02.csv", "crs": "gcj02"}]
    out = _run(work, data, "gcj_declared")
    cols = [c for c in out.result.indicators if c.startswith("bus_stop_")]
    assert len(cols) == 5
    pd.testing.assert_frame_equal(
        out.result.indicators[cols], bus_only.result.indicators[cols], atol=1e-6
    )
    q = pd.read_csv(out.out_dir / "data_quality.csv", encoding="utf-8-sig").set_index("layer")
    assert "GCJ-02" in q.loc["stations", "note"]
    _check_compliance(out, absent={"raster"})


# ─────────────────────────────────────────────────────────────── swapped bounds
@pytest.mark.parametrize("where", ["inputs.osm.bounds", "bounds"])
def test_swapped_bounds_are_refused_with_the_order_to_write(tmp_path, work, where):
    data = _base(work)
    swapped = [39.9905, 116.3084, 40.0123, 116.3320]  # [south, west, north, east]
    if where == "bounds":
        data["bounds"] = swapped
    else:
        data["inputs"]["osm"]["bounds"] = swapped
    path = tmp_path / "swapped.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    key = re.escape(where)
    with pytest.raises(
        ConfigError,
        match=key
        + r":.*look like \[south, west, north, east\].*write \[116\.3084, 39\.9905, 116\.332, 40\.0123\]",
    ):
        load_config(path)


# ─────────────────────────────────────────────────────────────── custom tier ids
def test_custom_tier_ids_name_the_columns(custom_tiers, base):
    ind, ref = custom_tiers.result.indicators, base.result.indicators
    for t in ("near", "mid", "far"):
        for c in (
            f"lc_{t}_all_pct",
            f"lc_{t}_score_pct",
            f"lc_{t}_assessed_count",
            f"lc_{t}_categories_count",
        ):
            assert c in ind, c
    assert not [c for c in ind if c.startswith(("lc_5min", "lc_10min", "lc_15min"))]
    cat = yaml.safe_load(
        (ROOT / "spatial" / "standards" / "life_circle.yaml").read_text(encoding="utf-8")
    )
    res = ref["has_residents"].astype(bool)
    wider = 0
    for c in cat["categories"]:
        col = f"lc_{c['id']}_pct"
        a, b = ind.loc[res, col], ref.loc[res, col]
        if c["tier"] == "5min":  # 300 m both ways: the same shares
            pd.testing.assert_series_equal(a, b)
        elif b.notna().all():  # 600 m ≥ 500 m, 1200 m ≥ 1000 m
            assert (a >= b - 1e-9).all(), (col, a, b)
            wider += int((a > b + 1e-9).sum())
        else:
            assert a.isna().all()  # a data gap stays a gap
    assert wider > 0  # the longer distances reached somebody more
    # the tier gaps follow the tiers: every tier of the sample holds a category with no facility
    assert (
        ind["lc_far_all_pct"].isna().all()
        and (ind["lc_far_assessed_count"] == ref["lc_15min_assessed_count"]).all()
    )


# ─────────────────────────────────────────────────────────────── a CLCD-coded raster
def test_clcd_raster_read_with_worldcover_classes_stops_naming_the_codes(work):
    data = _base(work)
    data["inputs"]["landcover"] = {"path": str(work / "clcd.tif")}
    with pytest.raises(
        LayerError, match=r"clcd\.tif.*codes 1, 2, 3, 4, 5, 6, 7, 8, 9.*vegetation_classes"
    ):
        _run(work, data, "clcd_worldcover")


def test_clcd_raster_with_its_classes_equals_exact_pixel_areas(clcd, work, units_metric):
    ind = clcd.result.indicators
    with rasterio.open(work / "clcd.tif") as src:
        codes, t = src.read(1), src.transform
    rows, cols = np.indices(codes.shape)
    x0, y1 = t.c + cols.ravel() * t.a, t.f + rows.ravel() * t.e
    pixels = shapely.box(x0, y1 + t.e, x0 + t.a, y1)
    code = codes.ravel()
    tree = shapely.STRtree(pixels)
    for uid in ind.index:
        g = units_metric.geometry[uid]
        hit = tree.query(g, predicate="intersects")
        area = shapely.area(shapely.intersection(pixels[hit], g))
        green = area[np.isin(code[hit], [2, 3, 4])].sum() / area.sum() * 100.0
        sealed = area[code[hit] == 8].sum() / area.sum() * 100.0
        assert ind.at[uid, "green_coverage_pct"] == pytest.approx(green, rel=1e-6), uid
        assert ind.at[uid, "permeable_surface_pct"] == pytest.approx(100.0 - sealed, rel=1e-6), uid
    assert (ind["green_coverage_source"] == "raster").all() and (
        ind["raster_nodata_pct"].abs() < 1e-9
    ).all()


# ─────────────────────────────────────────────────────────────── an OSM file with only roads
def test_osm_with_only_roads(only_roads, base, work):
    root = ET.parse(work / "only_roads.osm").getroot()
    assert {e.tag for e in root} == {"bounds", "node", "way"} and all(
        _is_road(_tags(w)) for w in root.iter("way")
    )
    ind = only_roads.result.indicators
    _nan_with(
        only_roads, _columns_needing(only_roads, "buildings", "floor_area", "landuse"), "no_layer"
    )
    pd.testing.assert_frame_equal(
        ind[ROAD_COLUMNS], base.result.indicators[ROAD_COLUMNS], rtol=1e-9
    )
    # no POI and no station in the file: every category and station kind is a data gap, never a measured 0
    lc = [c for c in ind if c.startswith("lc_") and c.endswith("_pct")]
    assert ind[lc].isna().all().all() and ind["bus_stop_count"].isna().all()
    assert _all_reasons(only_roads, lc + ["bus_stop_count"])["data_gap"].all()


# ─────────────────────────────────────────────────────────────── compliance on all of these inputs
def _check_compliance(out, absent: set[str], gap_columns: set[str] = frozenset()) -> None:
    """No 'fail' on a NaN value, and a NaN value not assessable with the reasons table's data gap.

    A value resting on an absent layer (``absent``, by construction of the run) or in ``gap_columns`` is a data gap.
    """
    c = pd.read_csv(out.out_dir / "compliance.csv", encoding="utf-8-sig", dtype={"unit_id": str})
    ind = out.result.indicators
    assert len(c) > 0 and set(c["status"]) <= {"pass", "fail", "not_assessable"}
    spatial = c[c["indicator"].isin(ind.columns)]
    assert len(spatial) > 0
    value = np.array(
        [ind.at[u, i] for u, i in zip(spatial["unit_id"], spatial["indicator"], strict=True)],
        dtype=float,
    )
    nan = np.isnan(value)
    assert not (spatial["status"].eq("fail").to_numpy() & nan).any(), spatial[
        spatial["status"].eq("fail").to_numpy() & nan
    ]
    assert spatial.loc[nan, "status"].eq("not_assessable").all()
    assert not spatial.loc[~nan, "status"].eq("not_assessable").any()
    why = out.result.reasons.set_index(["unit_id", "column"])["data_gap"]
    na = spatial[nan]
    for u, i, gap in zip(na["unit_id"], na["indicator"], na["data_gap"].astype(bool), strict=True):
        assert gap == bool(why.loc[(u, i)]), (u, i)
        if NEEDS.get(i, set()) & absent or i in gap_columns:
            assert gap, (u, i, "rests on absent data")


RUNS = {  # fixture → the layers it lacks by construction, and columns known to be data gaps
    "base": ({"raster"}, {"lc_15min_all_pct"}),
    "no_buildings": ({"buildings", "floor_area", "raster"}, {"lc_15min_all_pct"}),
    "layers": ({"landuse", "vegetation", "raster", "facilities", "stations"}, set()),
    "outside": ({"raster"}, {"lc_15min_all_pct"}),
    "confirmed": ({"raster"}, set()),
    "bus_only": ({"raster"}, {"lc_15min_all_pct"}),
    "custom_tiers": ({"raster"}, {"lc_far_all_pct"}),
    "clcd": (set(), {"lc_15min_all_pct"}),
    "only_roads": (
        {"buildings", "floor_area", "landuse", "vegetation", "raster"},
        {"lc_15min_all_pct", "ev_charging_count"},
    ),
}


@pytest.mark.parametrize("name", list(RUNS))
def test_compliance_never_fails_on_absent_data(request, name):
    out = request.getfixturevalue(name)
    absent, gaps = RUNS[name]
    _check_compliance(out, absent, gaps)
    if (
        name == "outside"
    ):  # the unit beyond the data: its road density rule is a data gap, not a fail
        c = pd.read_csv(
            out.out_dir / "compliance.csv", encoding="utf-8-sig", dtype={"unit_id": str}
        )
        road = c[(c["unit_id"] == "FAR") & (c["indicator"] == "road_density_km_per_km2")]
        assert (
            len(road) == 1
            and road["status"].iloc[0] == "not_assessable"
            and bool(road["data_gap"].iloc[0])
        )
