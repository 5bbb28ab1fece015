"""Web-map coordinates declared WGS 84 are caught: the Beijing sample's bus stops, shifted to GCJ-02 / BD-09.

The bus stops are the OSM file's highway=bus_stop nodes read with pyosmium; the shift is prcoords (a
public-domain implementation of the published GCJ-02 and BD-09 formulas, independent of
ditan.spatial.crs.china). Shifted and declared EPSG:4326 the run must stop naming the layer and the crs: to set;
unshifted, or declared gcj02 / bd09, they must load where they are.
"""

from __future__ import annotations

import numpy as np
import osmium
import pandas as pd
import pytest
import shapely
import yaml
from pyproj import Transformer

from ditan.pipelines.assemble.load import load_study_area
from ditan.pipelines.config.schema import parse_config
from ditan.spatial.crs import webmap_offset as W
from ditan.spatial.errors import CRSError
from ditan.spatial.study_area.stations import station_access_points
from tests.conftest import ROOT

prcoords = pytest.importorskip("prcoords")  # the test extra (pyproject.toml)

PBF = ROOT / "data" / "beijing_haidian_tsinghua" / "map.osm.pbf"
BEIJING = ROOT / "pipelines" / "configs" / "beijing_haidian.yaml"
FORWARD = {"gcj02": prcoords.wgs_gcj, "bd09": prcoords.wgs_bd}
NAMES = {"gcj02": "GCJ-02", "bd09": "BD-09"}


@pytest.fixture(scope="module")
def stops() -> pd.DataFrame:
    rows = [
        (o.tags.get("name"), o.location.lon, o.location.lat)
        for o in osmium.FileProcessor(str(PBF), osmium.osm.NODE)
        if o.tags.get("highway") == "bus_stop"
    ]
    return pd.DataFrame(rows, columns=["name", "lon", "lat"])


def _shift(df: pd.DataFrame, system: str) -> pd.DataFrame:
    moved = np.array(
        [FORWARD[system]((lat, lon)) for lon, lat in zip(df["lon"], df["lat"], strict=True)]
    )  # (lat, lon) each
    return df.assign(lon=moved[:, 1], lat=moved[:, 0])


def _config(tmp_path, inputs: dict, osm: bool = True):
    cfg = yaml.safe_load(BEIJING.read_text(encoding="utf-8"))
    cfg["inputs"]["units"]["path"] = str(
        (BEIJING.parent / cfg["inputs"]["units"]["path"]).resolve()
    )
    if osm:
        cfg["inputs"]["osm"]["path"] = str(PBF)
    else:
        cfg["bounds"] = cfg["inputs"].pop("osm")["bounds"]
    cfg["inputs"].update(inputs)
    return parse_config(cfg, base_dir=tmp_path)


def _stations(df: pd.DataFrame, tmp_path, crs: str = "EPSG:4326") -> dict:
    df.to_csv(tmp_path / "bus.csv", index=False)
    return {
        "stations": {
            "path": "bus.csv",
            "x_column": "lon",
            "y_column": "lat",
            "crs": crs,
            "kind": "bus_stop",
            "name_column": "name",
        }
    }


@pytest.mark.parametrize("system", ["gcj02", "bd09"])
def test_web_map_stops_declared_wgs84_stop_the_run(tmp_path, stops, system):
    cfg = _config(tmp_path, _stations(_shift(stops, system), tmp_path))
    with pytest.raises(
        CRSError,
        match=rf"^layer 'stations' \(bus\.csv\): its points sit \d+ m from the roads as declared \(EPSG:4326\) "
        rf"but \d m after the {NAMES[system]} inverse \((6[4-8]) of 68 points then stand on or beside "
        rf"the roads or the OSM stations of the same kind, \d+ as declared\): the file is in "
        rf"{NAMES[system]} .* web-map coordinates \(火星坐标\); set crs: {system} under inputs\.stations$",
    ):
        load_study_area(cfg)


def test_unshifted_stops_load_without_alarm(tmp_path, stops):
    sa = load_study_area(_config(tmp_path, _stations(stops, tmp_path)), crop_to_units=False)
    assert set(sa.stations.loc[sa.stations["kind"] == "bus_stop", "source"]) == {"bus.csv"}


@pytest.mark.parametrize("system", ["gcj02", "bd09"])
def test_declared_web_map_stops_land_on_the_originals(tmp_path, stops, system):
    sa = load_study_area(
        _config(tmp_path, _stations(_shift(stops, system), tmp_path, crs=system)),
        crop_to_units=False,
    )
    bus = sa.stations[sa.stations["kind"] == "bus_stop"]
    x, y = Transformer.from_crs(4326, sa.crs, always_xy=True).transform(
        stops["lon"].to_numpy(), stops["lat"].to_numpy()
    )
    every, _ = station_access_points(bus)  # each kept stop, and every listing merged into one
    _, d = shapely.STRtree(shapely.points(x, y)).query_nearest(every, return_distance=True)
    assert (
        len(every) == len(stops) and d.max() < 1.0
    )  # each is one of the originals, back where it was (< 1 m)


def test_cgcs2000_declared_web_map_stops_are_caught_too(tmp_path, stops):
    with pytest.raises(
        CRSError,
        match=r"\(EPSG:4490\) but \d m after the GCJ-02 inverse .* set crs: gcj02 under inputs\.stations$",
    ):
        load_study_area(
            _config(tmp_path, _stations(_shift(stops, "gcj02"), tmp_path, crs="EPSG:4490"))
        )


@pytest.fixture(scope="module")
def roads_gpkg(tmp_path_factory):
    """The sample's roads as a layer of their own (to compare with the roads alone, no OSM stations)."""
    d = tmp_path_factory.mktemp("roads")
    sa = load_study_area(_config(d, {}), crop_to_units=False)
    sa.roads[["highway", "geometry"]].to_file(d / "roads.gpkg")
    return d / "roads.gpkg"


@pytest.mark.parametrize("system", [None, "gcj02"])
def test_roadside_stops_against_the_roads_alone(tmp_path, stops, roads_gpkg, system):
    # stops 15 m beside where OSM has them (a kerbside stop stands off the road's centre line), no OSM file
    to_m = Transformer.from_crs(4326, 4548, always_xy=True)
    x, y = to_m.transform(stops["lon"].to_numpy(), stops["lat"].to_numpy())
    a = np.random.default_rng(7).uniform(0, 2 * np.pi, len(x))
    lon, lat = to_m.transform(x + 15 * np.cos(a), y + 15 * np.sin(a), direction="INVERSE")
    df = stops.assign(lon=lon, lat=lat)
    inputs = {
        "roads": {"path": str(roads_gpkg), "class_column": "highway"},
        **_stations(df if system is None else _shift(df, system), tmp_path),
    }
    cfg = _config(tmp_path, inputs, osm=False)
    if system is None:
        assert (load_study_area(cfg, crop_to_units=False).stations["kind"] == "bus_stop").sum() > 0
    else:
        with pytest.raises(
            CRSError,
            match=r"sit \d+ m from the roads as declared \(EPSG:4326\) but \d+ m after the GCJ-02 inverse "
            r"\(\d+ of 68 points then stand on or beside the roads, \d+ as declared\)",
        ):
            load_study_area(cfg)


def test_web_map_pois_declared_wgs84_stop_the_run(tmp_path):
    sa = load_study_area(_config(tmp_path, {}), crop_to_units=False)
    fac = sa.facilities.drop_duplicates("osm_id").to_crs(4326)
    df = pd.DataFrame(
        {"lon": fac.geometry.x, "lat": fac.geometry.y, "cat": fac["category"], "name": fac["name"]}
    )
    pois = {
        "path": "poi.csv",
        "x_column": "lon",
        "y_column": "lat",
        "crs": "EPSG:4326",
        "category_column": "cat",
        "name_column": "name",
    }
    _shift(df, "gcj02").to_csv(tmp_path / "poi.csv", index=False)
    with pytest.raises(
        CRSError,
        match=r"^layer 'pois' \(poi\.csv\): .* the OSM facilities of the same category as declared .*"
        r"set crs: gcj02 under inputs\.pois$",
    ):
        load_study_area(_config(tmp_path, {"pois": pois}))
    df.to_csv(tmp_path / "poi.csv", index=False)  # unshifted: no alarm
    assert len(load_study_area(_config(tmp_path, {"pois": pois})).facilities) > 0


def test_random_points_raise_no_alarm(roads_gpkg):
    # points strewn at random over the sample: they stand at the roads no better in one reading than another
    import geopandas as gpd

    roads = gpd.read_file(roads_gpkg)
    ref = [W.Reference("the roads", roads.geometry.to_numpy(), points_of=W.ROADSIDE_KINDS)]
    w, s, e, n = roads.to_crs(4326).total_bounds
    for seed in range(40):
        rng = np.random.default_rng(seed)
        k = int(rng.integers(5, 60))
        pts = gpd.GeoDataFrame(
            geometry=gpd.points_from_xy(rng.uniform(w, e, k), rng.uniform(s, n, k)), crs=4326
        )
        assert W.find_offset(pts, roads.crs, ref, np.full(k, "bus_stop", dtype=object)) is None, (
            seed
        )


def test_points_outside_china_and_other_crs_are_not_judged(stops):
    import geopandas as gpd

    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(stops["lon"], stops["lat"]), crs=4326)
    assert W.in_scope(pts) and W.in_scope(pts.set_crs(4490, allow_override=True))
    assert not W.in_scope(pts.to_crs(4548)) and not W.in_scope(
        pts.set_crs(4610, allow_override=True)
    )  # metres; Xian 1980
    converted = pts.copy()
    converted.attrs["source_crs"] = "gcj02"
    assert not W.in_scope(converted)  # already read as GCJ-02
    far = gpd.GeoDataFrame(
        geometry=gpd.points_from_xy(stops["lon"] - 110, stops["lat"]), crs=4326
    )  # 6° E: no GCJ-02 there
    assert (
        W.find_offset(
            far, pts.to_crs(4548).crs, [W.Reference("x", pts.to_crs(4548).geometry.to_numpy())]
        )
        is None
    )
