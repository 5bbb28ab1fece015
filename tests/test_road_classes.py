"""Chinese road classes (spatial/standards/road_classes.yaml).

A planner's roads layer classed 快速路 / 主干路 / 次干路 / 支路 (or 高速公路 …, or "Expressway") is read as OSM
highway values, so its class densities are measured;
values matching nothing are flagged with their length; a layer where nothing matches stops the run; roads.include
refuses unknown classes with a did-you-mean hint.

Geometry is planar (EPSG:4548, coordinates relative to conftest's X0, Y0): the expected lengths are written down
from the coordinates.
"""

from __future__ import annotations

import pytest

from ditan.pipelines.assemble.load import load_study_area
from ditan.pipelines.cli import main
from ditan.pipelines.config.schema import parse_config
from ditan.spatial.errors import ConfigError, LayerError
from ditan.spatial.indicators.roads import DEFAULT_INCLUDED, ROAD_CLASS, road_density
from ditan.spatial.standards import road_classes
from tests.conftest import box, gdf, line

#: four straight roads inside the 1 km × 1 km unit, none on its edge, no two of the same class
#: (so no divided-road pairing): lengths 800, 600, 500 and 400 m
FOUR = [
    {"hw": " 快速路 ", "geometry": line((100, 100), (900, 100))},  # 800 m, spaces around the value
    {
        "hw": "主干道",
        "geometry": line((200, 150), (200, 750)),
    },  # 600 m, the common variant of 主干路
    {"hw": "次干路", "geometry": line((300, 800), (800, 800))},  # 500 m
    {"hw": "支路", "geometry": line((950, 50), (950, 450))},  # 400 m
]


def _layers(d, roads: list[dict]) -> None:
    gdf([{"uid": "A", "geometry": box(0, 0, 1000, 1000)}]).to_file(
        d / "units.geojson", driver="GeoJSON"
    )
    gdf(roads).to_file(d / "roads.geojson", driver="GeoJSON")


def _config(d, **roads_options):
    return parse_config(
        {
            "name": "cn_roads",
            "inputs": {
                "units": {"path": "units.geojson", "id_column": "uid"},
                "roads": {"path": "roads.geojson", "class_column": "hw"},
            },
            **({"roads": roads_options} if roads_options else {}),
        },
        base_dir=d,
    )


def test_chinese_classes_give_the_class_densities(tmp_path):
    _layers(tmp_path, FOUR)
    cfg = _config(tmp_path)
    sa = load_study_area(cfg)
    assert sorted(sa.roads["highway"]) == ["primary", "secondary", "tertiary", "trunk"]
    d = road_density(sa.units, sa.roads, include=tuple(cfg.roads.include)).loc["A"]
    # unit area 1 km²: density = km of the class inside the unit
    assert d["road_density_expressway_km_per_km2"] == pytest.approx(0.8)
    assert d["road_density_arterial_km_per_km2"] == pytest.approx(0.6)
    assert d["road_density_collector_km_per_km2"] == pytest.approx(0.5)
    assert d["road_density_local_km_per_km2"] == pytest.approx(0.4)
    assert d["road_density_km_per_km2"] == pytest.approx(2.3)
    assert not sa.ledger.layer("roads").flagged


def test_english_and_highway_grades(tmp_path):
    roads = [{"hw": "Expressway", "geometry": line((100, 100), (900, 100))},  # 800 m expressway
             {"hw": "ARTERIAL", "geometry": line((200, 150), (200, 750))},  # 600 m arterial
             {"hw": "二级公路", "geometry": line((300, 800), (800, 800))},  # 500 m: JTG B01 class II highway → collector
             {"hw": "Ⅱ级支路", "geometry": line((950, 50), (950, 450))}]  # fmt: skip  # 400 m local
    _layers(tmp_path, roads)
    cfg = _config(tmp_path)
    sa = load_study_area(cfg)
    d = road_density(sa.units, sa.roads, include=tuple(cfg.roads.include)).loc["A"]
    assert [
        d[f"road_density_{c}_km_per_km2"] for c in ("expressway", "arterial", "collector", "local")
    ] == pytest.approx([0.8, 0.6, 0.5, 0.4])


def test_unmatched_values_are_flagged_with_their_length(tmp_path):
    extra = [{"hw": "景观路", "geometry": line((400, 300), (650, 300))},  # 250 m
             {"hw": "景观路", "geometry": line((400, 400), (550, 400))},  # 150 m
             {"hw": None, "geometry": line((400, 500), (500, 500))}]  # fmt: skip  # 100 m, no class
    _layers(tmp_path, FOUR + extra)
    cfg = _config(tmp_path)
    sa = load_study_area(cfg)
    flagged = sa.ledger.layer("roads").flagged
    assert len(flagged) == 2
    (landscape,) = [k for k in flagged if "景观路" in k]
    assert "'景观路' (2 roads, 0.40 km)" in landscape and flagged[landscape] == 2
    (empty,) = [k for k in flagged if "(empty)" in k]
    assert "'(empty)' (1 roads, 0.10 km)" in empty and flagged[empty] == 1
    rec = sa.ledger.layer("roads")
    assert (
        rec.read == 7 and rec.kept == 7 and rec.balanced()
    )  # flagged roads are kept (walkable), not dropped
    # … and not counted: the class densities are those of the four classed roads
    d = road_density(sa.units, sa.roads, include=tuple(cfg.roads.include)).loc["A"]
    assert d["road_density_km_per_km2"] == pytest.approx(2.3)
    assert "景观路" in set(sa.roads["highway"])


def test_no_value_matching_stops_with_the_values_found(tmp_path):
    _layers(tmp_path, [{"hw": "A级", "geometry": line((100, 100), (900, 100))},  # 800 m
                       {"hw": "B级", "geometry": line((200, 150), (200, 750))},  # 600 m
                       {"hw": "B级", "geometry": line((300, 800), (800, 800))}])  # fmt: skip  # 500 m
    with pytest.raises(
        LayerError,
        match=r"^layer 'roads' \(roads\.geojson\): no value of class_column 'hw' is a road class ditan "
        r"knows \(found 'B级' \(2 roads, 1\.10 km\), 'A级' \(1 roads, 0\.80 km\) \(2 in all\)\); "
        r"use OSM highway values \(motorway, trunk, primary.*快速路.*主干路",
    ):
        load_study_area(_config(tmp_path))


def test_include_typo_refused_with_did_you_mean(tmp_path):
    _layers(tmp_path, FOUR)
    with pytest.raises(
        ConfigError,
        match=r"roads\.include: 'primery' \(did you mean 'primary'\?\) is not a road class ditan knows",
    ):
        _config(tmp_path, include=["primery", "residential"])
    with pytest.raises(
        ConfigError, match=r"roads\.include: '主干道路' \(did you mean '主干道'\?\)"
    ):
        _config(tmp_path, include=["主干道路"])


def test_check_config_names_the_bad_include(tmp_path, capsys):
    _layers(tmp_path, FOUR)
    (tmp_path / "c.yaml").write_text(
        "name: c\ninputs:\n  roads: {path: roads.geojson, class_column: hw}\n"
        "roads:\n  include: [primary, secondry]\n",
        encoding="utf-8",
    )
    assert main(["check-config", str(tmp_path / "c.yaml")]) == 2
    err = capsys.readouterr().err
    assert "roads.include: 'secondry' (did you mean 'secondary'?)" in err and "Traceback" not in err


def test_include_chinese_names_mean_their_osm_value(tmp_path):
    _layers(tmp_path, FOUR)
    cfg = _config(tmp_path, include=["快速路", "次干路", "Primary"])
    # a class name brings its road's links (links go with their road); an OSM value stays as written, in lower case
    assert cfg.roads.include == ["trunk", "trunk_link", "secondary", "secondary_link", "primary"]
    sa = load_study_area(cfg)
    d = road_density(sa.units, sa.roads, include=tuple(cfg.roads.include)).loc["A"]
    assert d["road_density_km_per_km2"] == pytest.approx(0.8 + 0.6 + 0.5)  # 支路 not included
    assert d["road_density_local_km_per_km2"] == 0.0


def test_table_agrees_with_the_standards():
    """GB/T 51328: 快速路 → expressway, 主干路 → arterial, 次干路 → collector, 支路 → local; 高速公路 is an expressway."""
    expected = {
        "快速路": "expressway",
        "城市快速路": "expressway",
        "高速公路": "expressway",
        "主干路": "arterial",
        "主干道": "arterial",
        "次干路": "collector",
        "次干道": "collector",
        "支路": "local",
        "街坊路": "local",
    }
    osm = road_classes.to_osm(list(expected))
    assert [ROAD_CLASS.get(v) for v in osm] == list(expected.values())
    # estate roads, footways and cycleways are no city roads (not in the default include)
    for name in ("小区道路", "内部道路", "人行道", "步行道", "自行车道"):
        (v,) = road_classes.to_osm([name])
        assert v is not None and v not in DEFAULT_INCLUDED, name
    t = road_classes.table()
    assert set(ROAD_CLASS) <= set(t.osm_values)
    assert all(t.sources[n] for n in t.names)  # every name has its source


def test_normalisation_ignores_case_space_and_width():
    assert (
        road_classes.normalise(" Motorway_Link ")
        == road_classes.normalise("motorway link")
        == "motorwaylink"
    )
    assert list(
        road_classes.to_osm(["Ⅱ级主干路", "II级 主干路", "ＰＲＩＭＡＲＹ", "xyz", None])
    ) == ["primary", "primary", "primary", None, None]
