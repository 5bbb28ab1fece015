"""Tests of ditan.pipelines.config.schema: every problem reported at once with its key path and a hint."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml

from ditan.pipelines.config.schema import Config, load_config, parse_config
from ditan.spatial.errors import ConfigError, DitanError

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted((ROOT / "pipelines" / "configs").glob("*.yaml"))
PBF = ROOT / "data" / "beijing_haidian_tsinghua" / "map.osm.pbf"
BOUNDS = [116.3084, 39.9905, 116.3320, 40.0123]


def _write(folder: Path, data: object, name: str = "config.yaml") -> Path:
    path = folder / name
    text = (
        data if isinstance(data, str) else yaml.safe_dump(data, allow_unicode=True, sort_keys=False)
    )
    path.write_text(text, encoding="utf-8")
    return path


def _problems(msg: str) -> dict[str, str]:
    """The '  - key.path: message' lines of a ConfigError, keyed by path."""
    return dict(re.findall(r"^  - (\S+): (.*)$", msg, flags=re.MULTILINE))


@pytest.fixture()
def pbf_here(tmp_path: Path) -> Path:
    """The Beijing OSM sample copied next to the config."""
    return Path(shutil.copy(PBF, tmp_path / "map.osm.pbf"))


# --- shipped configs ----------------------------------------------------------------------


def test_configs_found():
    assert CONFIGS, "no YAML under pipelines/configs/"
    assert ROOT / "pipelines" / "configs" / "beijing_haidian.yaml" in CONFIGS


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_shipped_configs_validate(path, tmp_path, monkeypatch):
    from ditan.pipelines.config.batch import is_batch_file, load_batch

    monkeypatch.chdir(tmp_path)  # relative paths must not depend on the working folder
    if is_batch_file(
        path
    ):  # a batch config (areas:): validated with the batch loader, each area's config too
        batch = load_batch(path)
        assert batch.name and batch.areas
        cfgs = [a.cfg for a in batch.areas]
    else:
        cfgs = [load_config(path)]
    for cfg in cfgs:
        assert isinstance(cfg, Config)
        assert cfg.name
        assert cfg.inputs.osm is not None or cfg.inputs.roads is not None
        for src in (cfg.inputs.osm, cfg.inputs.units, cfg.inputs.roads, cfg.inputs.pois):
            if (
                src is not None and src.path is not None
            ):  # a PostGIS layer (table / sql) has no path
                assert src.path.is_absolute() and src.path.exists()
            elif src is not None:
                assert src.database is cfg.database is not None


def test_beijing_config_values():
    cfg = load_config(ROOT / "pipelines" / "configs" / "beijing_haidian.yaml")
    assert cfg.name == "beijing_haidian"
    assert cfg.inputs.osm.path == PBF.resolve()
    assert cfg.inputs.osm.bounds == tuple(BOUNDS)
    assert (
        cfg.inputs.units.path
        == (ROOT / "data" / "beijing_haidian_tsinghua" / "units.gpkg").resolve()
    )
    assert cfg.inputs.units.id_column == "unit_id"
    assert (cfg.units.min_area_m2, cfg.units.min_width_m, cfg.units.max_area_m2) == (
        20_000,
        30,
        1_000_000,
    )
    assert cfg.life_circle.tiers_m == {"5min": 300, "10min": 500, "15min": 1000}
    assert cfg.transit.radius_m == 500
    assert cfg.source_path is not None


# --- every problem at once ----------------------------------------------------------------


def test_several_problems_reported_once(tmp_path):
    path = _write(
        tmp_path,
        {
            "nmae": "typo",
            "name": "many_problems",
            "crs": "EPSG:4326",
            "inputs": {"osm": {"path": "missing.osm.pbf"}},
            "life_circle": {"snap_max": 50},
            "transit": {"radius_m": "far"},
        },
    )
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    msg = str(exc.value)
    problems = _problems(msg)
    assert set(problems) == {
        "nmae",
        "life_circle.snap_max",
        "transit.radius_m",
        "inputs.osm.path",
        "crs",
    }, msg
    assert msg.startswith(f"5 problem(s) in {path}")
    assert "did you mean 'name'" in problems["nmae"]
    assert "did you mean 'snap_max_m'" in problems["life_circle.snap_max"]
    assert "number" in problems["transit.radius_m"]
    assert "file not found" in problems["inputs.osm.path"]
    assert str(tmp_path / "missing.osm.pbf") in problems["inputs.osm.path"]
    assert "geographic" in problems["crs"] and "EPSG:4326" in problems["crs"]
    assert isinstance(exc.value, DitanError)


def test_unknown_key_without_close_match_lists_known_keys(tmp_path, pbf_here):
    path = _write(
        tmp_path,
        {"name": "x", "inputs": {"osm": {"path": "map.osm.pbf"}}, "transit": {"zzzzzz": 1}},
    )
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    assert "known keys: radius_m" in _problems(str(exc.value))["transit.zzzzzz"]


def test_unknown_nested_input_key_hint(tmp_path, pbf_here):
    path = _write(
        tmp_path, {"name": "x", "inputs": {"osm": {"path": "map.osm.pbf", "bound": BOUNDS}}}
    )
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    assert "did you mean 'bounds'" in _problems(str(exc.value))["inputs.osm.bound"]


@pytest.mark.parametrize(
    ("crs", "words"),
    [("EPSG:4326", "geographic"), ("not a crs", "is not a coordinate system")],
)
def test_bad_crs(tmp_path, pbf_here, crs, words):
    path = _write(tmp_path, {"name": "x", "crs": crs, "inputs": {"osm": {"path": "map.osm.pbf"}}})
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    assert words in _problems(str(exc.value))["crs"]


def test_projected_crs_accepted(tmp_path, pbf_here):
    path = _write(
        tmp_path, {"name": "x", "crs": "EPSG:4548", "inputs": {"osm": {"path": "map.osm.pbf"}}}
    )
    assert load_config(path).crs == "EPSG:4548"


# --- relative paths -----------------------------------------------------------------------


def test_relative_osm_path_next_to_config(tmp_path, pbf_here, monkeypatch):
    path = _write(
        tmp_path, {"name": "rel", "inputs": {"osm": {"path": "map.osm.pbf", "bounds": BOUNDS}}}
    )
    monkeypatch.chdir(ROOT)  # not the config's folder
    cfg = load_config(path)
    assert cfg.inputs.osm.path == pbf_here.resolve()
    assert cfg.inputs.osm.bounds == tuple(BOUNDS)


def test_relative_path_from_a_subfolder_config(tmp_path, pbf_here, monkeypatch):
    sub = tmp_path / "configs"
    sub.mkdir()
    path = _write(sub, {"name": "rel", "inputs": {"osm": {"path": "../map.osm.pbf"}}})
    monkeypatch.chdir(ROOT)
    assert load_config(path).inputs.osm.path == pbf_here.resolve()


def test_relative_path_resolved_against_config_not_cwd(tmp_path, monkeypatch):
    other = tmp_path / "elsewhere"
    other.mkdir()
    shutil.copy(PBF, other / "map.osm.pbf")  # present in the working folder only
    cfg_dir = tmp_path / "cfg"
    cfg_dir.mkdir()
    path = _write(cfg_dir, {"name": "rel", "inputs": {"osm": {"path": "map.osm.pbf"}}})
    monkeypatch.chdir(other)
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    assert str(cfg_dir / "map.osm.pbf") in _problems(str(exc.value))["inputs.osm.path"]


def test_parse_config_base_dir(tmp_path, pbf_here):
    data = {"name": "p", "inputs": {"osm": {"path": "map.osm.pbf"}}}
    cfg = parse_config(data, base_dir=tmp_path, source="inline")
    assert cfg.inputs.osm.path == pbf_here.resolve()
    assert cfg.source_path == Path("inline")
    with pytest.raises(ConfigError, match=r"1 problem\(s\) in inline"):
        parse_config(data, base_dir=tmp_path / "nowhere", source="inline")


def test_not_an_osm_file(tmp_path):
    (tmp_path / "roads.gpkg").write_bytes(b"")
    path = _write(tmp_path, {"name": "x", "inputs": {"osm": {"path": "roads.gpkg"}}})
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    assert "not an OSM file" in _problems(str(exc.value))["inputs.osm.path"]


def test_bounds_order_checked(tmp_path, pbf_here):
    path = _write(
        tmp_path,
        {
            "name": "x",
            "inputs": {"osm": {"path": "map.osm.pbf", "bounds": [116.33, 39.99, 116.30, 40.01]}},
        },
    )
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    assert "west < east" in _problems(str(exc.value))["inputs.osm.bounds"]


# --- layers -------------------------------------------------------------------------------


@pytest.mark.parametrize("columns", [{}, {"x_column": "lon"}, {"y_column": "lat"}])
def test_csv_layer_needs_coordinate_columns(tmp_path, pbf_here, columns):
    (tmp_path / "pois.csv").write_text(
        "lon,lat,category\n116.32,40.0,kindergarten\n", encoding="utf-8"
    )
    path = _write(
        tmp_path,
        {
            "name": "x",
            "inputs": {"osm": {"path": "map.osm.pbf"}, "pois": {"path": "pois.csv", **columns}},
        },
    )
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    problems = _problems(str(exc.value))
    assert list(problems) == ["inputs.pois"]
    assert "x_column" in problems["inputs.pois"] and "y_column" in problems["inputs.pois"]


def test_csv_layer_with_coordinate_columns_ok(tmp_path, pbf_here):
    (tmp_path / "pois.csv").write_text("lon,lat\n116.32,40.0\n", encoding="utf-8")
    path = _write(
        tmp_path,
        {
            "name": "x",
            "inputs": {
                "osm": {"path": "map.osm.pbf"},
                "pois": {
                    "path": "pois.csv",
                    "x_column": "lon",
                    "y_column": "lat",
                    "crs": "EPSG:4326",
                },
            },
        },
    )
    cfg = load_config(path)
    assert cfg.inputs.pois.path == (tmp_path / "pois.csv").resolve()
    assert (cfg.inputs.pois.x_column, cfg.inputs.pois.y_column) == ("lon", "lat")


def test_inputs_need_osm_or_roads(tmp_path):
    path = _write(tmp_path, {"name": "x", "inputs": {}})
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    assert "inputs.osm" in _problems(str(exc.value))["inputs"]


# --- required keys ------------------------------------------------------------------------


def test_missing_name_and_inputs_are_required(tmp_path):
    path = _write(tmp_path, {"title": "no name, no inputs"})
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    problems = _problems(str(exc.value))
    assert set(problems) == {"name", "inputs"}
    assert all("required" in m for m in problems.values())


def test_name_pattern(tmp_path, pbf_here):
    path = _write(tmp_path, {"name": "has space/slash", "inputs": {"osm": {"path": "map.osm.pbf"}}})
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    assert "name" in _problems(str(exc.value))


# --- deriving units -----------------------------------------------------------------------


def test_deriving_units_ignores_missing_units_file(tmp_path, pbf_here):
    path = _write(
        tmp_path,
        {
            "name": "x",
            "inputs": {
                "osm": {"path": "map.osm.pbf"},
                "units": {"path": "units.gpkg", "id_column": "unit_id"},
            },
        },
    )
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    assert "file not found" in _problems(str(exc.value))["inputs.units.path"]
    cfg = load_config(path, deriving_units=True)
    assert cfg.inputs.units is None
    assert cfg.inputs.osm.path == pbf_here.resolve()


def test_deriving_units_still_reports_other_problems(tmp_path, pbf_here):
    path = _write(
        tmp_path,
        {
            "name": "x",
            "inputs": {"osm": {"path": "map.osm.pbf"}, "units": {"path": "units.gpkg"}},
            "units": {"min_area_m2": -1},
        },
    )
    with pytest.raises(ConfigError) as exc:
        load_config(path, deriving_units=True)
    assert set(_problems(str(exc.value))) == {"units.min_area_m2"}


# --- unreadable config files --------------------------------------------------------------


@pytest.mark.parametrize(
    "text", ["- a\n- b\n", "just a string\n", "42\n", ""], ids=["list", "str", "int", "empty"]
)
def test_non_mapping_yaml(tmp_path, text):
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError, match="must hold a mapping"):
        load_config(path)


@pytest.mark.parametrize("text", ["name: [unclosed\n", "name: x\n  bad: indent\n", "a: b: c\n"])
def test_invalid_yaml(tmp_path, text):
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(path)


def test_missing_config_file_mentions_default(tmp_path):
    with pytest.raises(ConfigError) as exc:
        load_config(tmp_path / "nope.yaml")
    msg = str(exc.value)
    assert "not found" in msg and str(tmp_path / "nope.yaml") in msg
    assert "pipelines/configs/beijing_haidian.yaml" in msg


def test_utf8_bom_accepted(tmp_path, pbf_here):
    path = tmp_path / "bom.yaml"
    path.write_bytes(
        "\ufeffname: bom\ntitle: 北京\ninputs:\n  osm:\n    path: map.osm.pbf\n".encode()
    )
    cfg = load_config(path)
    assert (cfg.name, cfg.title) == ("bom", "北京")


def test_non_utf8_config_is_config_error(tmp_path):
    path = tmp_path / "gbk.yaml"
    path.write_bytes("name: x\ntitle: 北京\n".encode("gb18030"))
    with pytest.raises(ConfigError, match="UTF-8"):
        load_config(path)


def test_folder_as_config_is_config_error(tmp_path):
    with pytest.raises(ConfigError, match="folder"):
        load_config(tmp_path)
