"""Several stations layers: each replaces OSM only for the kinds it supplies, and every station counts once.

Expectations are worked out apart from ditan: the OSM stations from the file's tags with pyosmium, the
duplicates with a plain union–find over every pair (same kind within 50 m, or same kind and name within
150 m), distances by pyproj in EPSG:4548; the small cases by hand.
"""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import osmium
import pandas as pd
import pytest
import shapely
import yaml
from pyproj import Transformer

from ditan.pipelines.assemble.load import load_study_area
from ditan.pipelines.cli import main
from ditan.pipelines.config.schema import parse_config
from ditan.spatial.errors import ConfigError
from ditan.spatial.study_area.stations import (
    merge_duplicates,
    station_access_points,
    station_name_key,
)
from tests.conftest import CRS, ROOT, at, box, gdf, line, point

PBF = ROOT / "data" / "beijing_haidian_tsinghua" / "map.osm.pbf"
BEIJING = ROOT / "pipelines" / "configs" / "beijing_haidian.yaml"
MERGED = "merged: same station from two sources or listed once per line (same kind within 50 m, or same kind and name within 150 m)"


def _is_metro(t) -> bool:  # OSM's metro tags, as the catalogue's metro entry lists them
    station = t.get("railway") == "station" and (
        t.get("station") == "subway" or t.get("subway") == "yes"
    )
    return (
        t.get("railway") == "subway_entrance"
        or station
        or (t.get("public_transport") == "station" and t.get("subway") == "yes")
    )


def _osm_nodes(pred) -> pd.DataFrame:
    rows = [
        (o.id, o.tags.get("name"), o.location.lon, o.location.lat)
        for o in osmium.FileProcessor(str(PBF), osmium.osm.NODE)
        if pred(o.tags)
    ]
    return pd.DataFrame(rows, columns=["id", "name", "lon", "lat"])


def _count_once(lon, lat, names) -> int:
    """Stations left when rows within 50 m, or of one name within 150 m, are one (plain union–find, EPSG:4548)."""
    x, y = Transformer.from_crs(4326, 4548, always_xy=True).transform(
        np.asarray(lon), np.asarray(lat)
    )
    parent = list(range(len(x)))

    def root(i):
        while parent[i] != i:
            i = parent[i]
        return i

    for i in range(len(x)):
        for j in range(i + 1, len(x)):
            d = math.hypot(x[i] - x[j], y[i] - y[j])
            same_name = isinstance(names[i], str) and names[i] == names[j]
            if d <= 50 or (same_name and d <= 150):
                parent[root(i)] = root(j)
    return len({root(i) for i in range(len(x))})


def _beijing(tmp_path, stations) -> dict:
    cfg = yaml.safe_load(BEIJING.read_text(encoding="utf-8"))
    for key in ("osm", "units"):
        cfg["inputs"][key]["path"] = str((BEIJING.parent / cfg["inputs"][key]["path"]).resolve())
    cfg["inputs"]["stations"] = stations
    return parse_config(cfg, base_dir=tmp_path)


def test_bus_only_layer_keeps_osm_metro(tmp_path):
    bus = _osm_nodes(lambda t: t.get("highway") == "bus_stop")
    bus.to_csv(tmp_path / "bus.csv", index=False)
    layer = {
        "path": "bus.csv",
        "x_column": "lon",
        "y_column": "lat",
        "crs": "EPSG:4326",
        "kind": "bus_stop",
        "name_column": "name",
    }
    sa = load_study_area(_beijing(tmp_path, layer), crop_to_units=False)
    st = sa.stations
    metro = _osm_nodes(_is_metro)  # every metro feature of this file is a node (no station areas)
    assert len(metro) == 37
    assert (
        (st["kind"] == "metro").sum()
        == _count_once(metro["lon"], metro["lat"], metro["name"].tolist())
        > 0
    )
    assert set(st.loc[st["kind"] == "metro", "source"]) == {"OSM"}
    assert (st["kind"] == "bus_stop").sum() == _count_once(
        bus["lon"], bus["lat"], bus["name"].tolist()
    )
    assert set(st.loc[st["kind"] == "bus_stop", "source"]) == {"bus.csv"}  # no OSM bus stop left
    q = sa.ledger.to_frame().set_index("layer").loc["stations"]
    assert (
        "; bus_stop from the stations layer (inputs.stations); metro, bike_rental, ev_charging from OSM"
        in q["note"]
    )
    assert (
        "OSM bus_stop replaced by the stations layer (inputs.stations): " in q["dropped_why"]
        and MERGED in q["dropped_why"]
    )
    assert q["balanced"] and q["kept"] == len(st)


def _small(tmp_path, stations) -> dict:
    """One 1 km unit with a road through it; no OSM file."""
    gdf([{"code": "A", "geometry": box(0, 0, 1000, 1000)}]).to_file(tmp_path / "units.gpkg")
    gdf([{"kind": "residential", "geometry": line((0, 500), (1000, 500))}]).to_file(
        tmp_path / "roads.gpkg"
    )
    return parse_config(
        {
            "name": "st",
            "inputs": {
                "units": {"path": "units.gpkg", "id_column": "code"},
                "roads": {"path": "roads.gpkg", "class_column": "kind"},
                "stations": stations,
            },
        },
        base_dir=tmp_path,
    )


def _csv(path, rows) -> None:
    pts = gdf(rows).to_crs(4326)
    pd.DataFrame({"lon": pts.geometry.x, "lat": pts.geometry.y, "name": pts["name"]}).to_csv(
        path, index=False
    )


def test_two_layers_each_with_a_constant_kind(tmp_path):
    gdf(
        [
            {"nm": "西直门", "geometry": point(200, 520)},
            {"nm": "动物园", "geometry": point(800, 520)},
        ]
    ).to_file(tmp_path / "metro.gpkg")
    _csv(tmp_path / "bus.csv", [{"name": "甲", "geometry": point(500, 510)}])
    cfg = _small(
        tmp_path,
        [
            {
                "path": "metro.gpkg",
                "kind": "地铁站",
                "name_column": "nm",
            },  # the Chinese name of metro
            {
                "path": "bus.csv",
                "x_column": "lon",
                "y_column": "lat",
                "crs": "EPSG:4326",
                "kind": "bus_stop",
                "name_column": "name",
            },
        ],
    )
    sa = load_study_area(cfg)
    st = sa.stations
    assert st[["kind", "name", "source"]].values.tolist() == [
        ["metro", "西直门", "metro.gpkg"],
        ["metro", "动物园", "metro.gpkg"],
        ["bus_stop", "甲", "bus.csv"],
    ]
    assert st.geometry.distance(point(500, 510)).iloc[2] < 0.01
    q = sa.ledger.to_frame().set_index("layer").loc["stations"]
    assert q["note"] == (
        "bus.csv: reprojected from EPSG:4326 to EPSG:4548; "  # each layer's own notes, named
        "bus_stop from stations layer 'bus.csv' (inputs.stations.1); metro from stations layer 'metro.gpkg' "
        "(inputs.stations.0); "
        "bike_rental, ev_charging from no source (no layer has them, no OSM file)"
    )
    assert (q["features_read"], q["kept"], q["dropped"]) == (3, 3, 0)


def test_transfer_station_listed_once_per_line_counts_once(tmp_path):
    # 西直门 in a Line 2 list and a Line 4 list, 80 m apart (names written two ways); 动物园 once
    gdf(
        [
            {"k": "metro", "nm": "西直门站", "geometry": point(200, 520)},
            {"k": "metro", "nm": "西直门（地铁4号线）", "geometry": point(280, 520)},
            {"k": "metro", "nm": "动物园", "geometry": point(800, 520)},
        ]
    ).to_file(tmp_path / "metro.gpkg")
    sa = load_study_area(
        _small(tmp_path, {"path": "metro.gpkg", "kind_column": "k", "name_column": "nm"})
    )
    st = sa.stations
    assert st["name"].tolist() == ["西直门站", "动物园"]  # the first listing kept, in source order
    assert st.geometry.iloc[0].distance(point(200, 520)) < 1e-6
    assert (
        shapely.get_num_geometries(st["members"].iloc[0]) == 2 and st["members"].iloc[1] is None
    )  # reached at both listings
    q = sa.ledger.to_frame().set_index("layer").loc["stations"]
    assert (q["features_read"], q["kept"], q["dropped_why"]) == (3, 2, f"{MERGED}: 1")


def test_different_stations_60_m_apart_are_both_kept(tmp_path):
    gdf(
        [
            {"k": "bus_stop", "nm": "清华园", "geometry": point(200, 520)},
            {
                "k": "bus_stop",
                "nm": "蓝旗营",
                "geometry": point(260, 520),
            },  # 60 m, another name: another stop
            {"k": "bus_stop", "nm": "成府路", "geometry": point(600, 520)},
            {
                "k": "bus_stop",
                "nm": "成府路口",
                "geometry": point(640, 520),
            },  # 40 m: one stop whatever the names
            {"k": "bike_rental", "nm": "成府路", "geometry": point(605, 520)},
        ]
    ).to_file(tmp_path / "s.gpkg")  # another kind
    st = load_study_area(
        _small(tmp_path, {"path": "s.gpkg", "kind_column": "k", "name_column": "nm"})
    ).stations
    assert st[["kind", "name"]].values.tolist() == [
        ["bus_stop", "清华园"],
        ["bus_stop", "蓝旗营"],
        ["bus_stop", "成府路"],
        ["bike_rental", "成府路"],
    ]


def test_merge_keeps_the_first_row_supplied_rows_before_osm():
    st = gpd.GeoDataFrame(
        {
            "kind": ["metro", "metro", "metro", "metro"],
            "name": [None, "五道口", "五道口 (地铁站)", "知春路"],
            "source": ["a.csv", "a.csv", "OSM", "OSM"],
        },
        geometry=[point(0, 0), point(30, 0), point(130, 0), point(1000, 0)],
        crs=CRS,
    )
    out, n = merge_duplicates(st)
    # row 0 (no name) and row 1 are 30 m apart; row 2 is row 1's name 100 m on: one station, kept as row 0 as it is
    assert (
        n == 2
        and pd.isna(out["name"].iloc[0])
        and out["name"].iloc[1] == "知春路"
        and out["source"].tolist() == ["a.csv", "OSM"]
    )
    again, n_again = merge_duplicates(
        out.drop(columns="members")
    )  # merged once more (stations exported and read back)
    assert n_again == 0 and again.geometry.equals(out.geometry)
    pts, owner = station_access_points(out)
    assert sorted(shapely.get_coordinates(pts[owner == 0])[:, 0] - at(0, 0)[0]) == pytest.approx(
        [0, 30, 130]
    )
    assert shapely.get_coordinates(pts[owner == 1]).tolist() == [list(at(1000, 0))]


@pytest.mark.parametrize(
    ("names", "keys"),
    [
        (
            [
                "西直门站",
                "西直门",
                " 西直门 (地铁站) ",
                "西直门（地铁4号线）",
                "西直门(2号线)(地铁站)",
            ],
            ["西直门"] * 5,
        ),
        (
            ["五道口(公交站)", "五道口公交车站", "Wudaokou (Bus Stop)"],
            ["五道口", "五道口", "wudaokou"],
        ),
        (["北京大学东门站C口", None, "", "北京南站"], ["北京大学东门站c口", "", "", "北京南"]),
    ],
)
def test_station_name_key(names, keys):
    assert station_name_key(names).tolist() == keys


def _check(tmp_path, stations):
    return _small(tmp_path, stations)


@pytest.mark.parametrize(
    ("stations", "message"),
    [
        (
            {"path": "s.gpkg"},
            r"inputs\.stations: stations layer 's\.gpkg' needs kind_column .* or kind \(one kind for every feature",
        ),
        (
            {"path": "s.gpkg", "kind": "metro", "kind_column": "k"},
            r"stations layer 's\.gpkg' has both kind_column and kind: give one",
        ),
        (
            {"path": "s.gpkg", "kind": "bus_stops"},
            r"kind 'bus_stops' is not a station kind; did you mean 'bus_stop'\? \(kinds: bus_stop 公交站, "
            r"metro 地铁站, bike_rental 自行车租赁点, ev_charging 电动车充电站\)",
        ),
        (
            {"path": "s.gpkg", "kind": "tram"},
            r"kind 'tram' is not a station kind \(kinds: bus_stop",
        ),
        (
            [{"path": "s.gpkg", "kind": "metro"}, {"path": "s.gpkg", "kind": "轮渡码头"}],
            r"inputs\.stations\.1: .*kind '轮渡码头' is not a station kind",
        ),
        ([], r"inputs\.stations: an empty list"),
        (
            {"path": "s.gpkg", "kinds": "metro"},
            r"inputs\.stations\.kinds: Extra inputs are not permitted — did you mean 'kind'\?",
        ),
    ],
)
def test_check_config_refuses_bad_station_layers(tmp_path, stations, message):
    gdf([{"k": "metro", "geometry": point(0, 0)}]).to_file(tmp_path / "s.gpkg")
    with pytest.raises(ConfigError, match=message):
        _check(tmp_path, stations)


def test_check_config_command_names_the_problem(tmp_path, capsys):
    gdf([{"k": "metro", "geometry": point(0, 0)}]).to_file(tmp_path / "s.gpkg")
    gdf([{"kind": "residential", "geometry": line((0, 500), (1000, 500))}]).to_file(
        tmp_path / "roads.gpkg"
    )
    (tmp_path / "c.yaml").write_text(
        yaml.safe_dump(
            {
                "name": "c",
                "inputs": {
                    "roads": {"path": "roads.gpkg", "class_column": "kind"},
                    "stations": {"path": "s.gpkg", "kind": "metr"},
                },
            }
        ),
        encoding="utf-8",
    )
    assert main(["check-config", str(tmp_path / "c.yaml")]) == 2
    assert "did you mean 'metro'?" in capsys.readouterr().err.replace("\n", " ")
    (tmp_path / "c.yaml").write_text(
        yaml.safe_dump(
            {
                "name": "c",
                "inputs": {
                    "roads": {"path": "roads.gpkg", "class_column": "kind"},
                    "stations": [
                        {"path": "s.gpkg", "kind": "metro"},
                        {"path": "s.gpkg", "kind_column": "k"},
                    ],
                },
            }
        ),
        encoding="utf-8",
    )
    assert main(["check-config", str(tmp_path / "c.yaml")]) == 0
