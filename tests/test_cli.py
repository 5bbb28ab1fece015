"""Tests of the `ditan` command line: help, check-config, units (reproducing the shipped file), run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import yaml

from ditan.pipelines.cli import main

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = ROOT / "pipelines" / "configs" / "beijing_haidian.yaml"
SAMPLE = ROOT / "data" / "beijing_haidian_tsinghua"
BOUNDS = [116.3084, 39.9905, 116.3320, 40.0123]
_SCRIPT = Path(sys.executable).with_name("ditan")
DITAN = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "ditan.pipelines.cli"]
ENV = {**os.environ, "COLUMNS": "500", "NO_COLOR": "1", "PYTHONIOENCODING": "utf-8"}


def ditan(*args: object, cwd: Path = ROOT, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*DITAN, *map(str, args)],
        cwd=cwd,
        env=ENV,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=timeout,
    )


def _derive_config(tmp_path: Path) -> Path:
    """The Beijing config without inputs.units, with an absolute OSM path."""
    data = {
        "name": "beijing_haidian_units",
        "inputs": {"osm": {"path": str(SAMPLE / "map.osm.pbf"), "bounds": BOUNDS}},
        "units": {"min_area_m2": 20000, "min_width_m": 30, "max_area_m2": 1000000},
    }
    path = tmp_path / "derive.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def _broken_config(tmp_path: Path) -> Path:
    path = tmp_path / "broken.yaml"
    path.write_text(
        f"name: broken\ninputs:\n  osm:\n    path: {SAMPLE / 'map.osm.pbf'}\ntransit:\n  radius_m: far\nlife_circle:\n  snap_max: 5\n",
        encoding="utf-8",
    )
    return path


# --- help ---------------------------------------------------------------------------------

HELP = {
    (): [
        "run",
        "units",
        "check-config",
        "screen",
        "check-parcels",
        "report",
        "init",
        "export",
        "--version",
        "-v",
        "--verbose",
        "-h",
        "--help",
    ],
    ("run",): [
        "config",
        "--out",
        "-q",
        "--quiet",
        "--scenario",
        "default: out/<name>/",
        "beijing_haidian.yaml",
        "--sample",
    ],
    ("screen",): [
        "config",
        "--profile",
        "--kind",
        "--top",
        "--out",
        "out/<name>_screening/",
        "lowcarbon_pilot_2015",
    ],
    ("check-parcels",): [
        "config",
        "--parcels",
        "--out",
        "land_sale",
        "default: out/<name>_land_sale/",
    ],
    ("units",): ["config", "--out", "--min-area-m2", ".gpkg", ".geojson", "units.min_area_m2"],
    ("check-config",): ["config", "every problem"],
    ("annex",): [
        "config",
        "--units",
        "--paper",
        "A4",
        "A3",
        "--out",
        "default: out/<name>_annex/",
        "fonts-noto-cjk",
    ],
    ("report",): ["config", "--out", "default: out/<name>_report/", "报告.docx", "LibreOffice"],
    ("init",): ["name", "--osm", "--units", "--out", "NAME.yaml"],
    ("export",): ["--shapefile", "RUN_DIR_OR_GPKG", "--out", "field_map.csv", "_shapefile/"],
}


@pytest.mark.parametrize("sub", list(HELP), ids=lambda s: " ".join(s) or "ditan")
def test_help_describes_every_option(sub):
    res = ditan(*sub, "--help")
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert out.startswith("usage: ditan")
    for word in HELP[sub]:
        assert word in out, f"{word!r} missing from `ditan {' '.join(sub)} --help`"
    assert res.stderr == ""


def test_subparser_options_all_in_help():
    """Every option string the parser defines appears in its help text (no undocumented flags)."""
    import argparse

    from ditan.pipelines.cli.parser import _parser

    top = _parser()
    parsers = {(): top}
    for action in top._actions:
        if isinstance(action, argparse._SubParsersAction):
            parsers.update({(name,): p for name, p in action.choices.items()})
    assert set(parsers) == set(HELP)
    for key, parser in parsers.items():
        text = parser.format_help()
        for action in parser._actions:
            for opt in action.option_strings:
                assert opt in text, (key, opt)
            if action.option_strings and action.help is not argparse.SUPPRESS:
                assert action.help, f"{key} {action.option_strings} has no help text"


def test_no_command_is_a_usage_error():
    res = ditan()
    assert res.returncode == 2
    assert "usage: ditan" in res.stderr


# --- check-config -------------------------------------------------------------------------


def test_check_config_default_ok():
    res = ditan("check-config", DEFAULT_CONFIG)
    assert res.returncode == 0, res.stderr
    assert "is valid" in res.stderr


def test_check_config_default_ok_from_another_folder(tmp_path):
    res = ditan("check-config", DEFAULT_CONFIG, cwd=tmp_path)
    assert res.returncode == 0, res.stderr


def test_check_config_broken_exits_2_with_key_paths(tmp_path):
    res = ditan("check-config", _broken_config(tmp_path))
    assert res.returncode == 2
    assert "error:" in res.stderr
    assert "transit.radius_m" in res.stderr
    assert "life_circle.snap_max" in res.stderr and "snap_max_m" in res.stderr
    assert "2 problem(s)" in res.stderr
    assert "Traceback" not in res.stderr


def test_check_config_missing_file_exits_2(tmp_path):
    res = ditan("check-config", tmp_path / "nope.yaml")
    assert res.returncode == 2
    assert "not found" in res.stderr and "Traceback" not in res.stderr


def test_main_returns_exit_codes_in_process(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "500")
    assert main(["check-config", str(DEFAULT_CONFIG)]) == 0
    assert main(["check-config", str(_broken_config(tmp_path))]) == 2
    err = capsys.readouterr().err
    assert "is valid" in err and "transit.radius_m" in err


# --- units --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def derived(tmp_path_factory) -> tuple[subprocess.CompletedProcess, Path]:
    tmp = tmp_path_factory.mktemp("units")
    out = tmp / "units.gpkg"
    res = ditan("units", _derive_config(tmp), "--out", out, cwd=tmp)
    return res, out


@pytest.mark.slow
def test_units_command_writes_units(derived):
    res, out = derived
    assert res.returncode == 0, res.stderr
    assert out.exists()
    units = gpd.read_file(out, layer="units")
    assert len(units) >= 6
    assert units["unit_id"].is_unique
    assert units["unit_id"].str.fullmatch(r"U\d{3}").all()
    assert (
        units["name"].notna().all() and units["name"].astype(str).str.strip().str.len().gt(0).all()
    )
    assert units["name"].is_unique
    assert units.crs.to_epsg() == 4326
    assert units.geometry.geom_type.isin(["Polygon", "MultiPolygon"]).all()
    assert units.is_valid.all()
    # no two units overlap
    m = units.to_crs(4548)
    overlap = sum(
        a.intersection(b).area for i, a in enumerate(m.geometry) for b in m.geometry[i + 1 :]
    )
    assert overlap < 1.0
    assert f"{len(units)} units written" in res.stderr
    # written atomically: no temporary ".units.*.partial.gpkg" left beside it
    assert sorted(p.name for p in out.parent.iterdir()) == ["derive.yaml", "units.gpkg"]


@pytest.mark.slow
def test_shipped_units_reproducible_from_command(derived):
    res, out = derived
    assert res.returncode == 0, res.stderr
    made = gpd.read_file(out, layer="units").set_index("unit_id").sort_index()
    shipped = gpd.read_file(SAMPLE / "units.gpkg").set_index("unit_id").sort_index()
    assert made.index.tolist() == shipped.index.tolist(), (
        "data/beijing_haidian_tsinghua/units.gpkg is not what `ditan units` makes; regenerate it with `make units`"
    )
    a = made.to_crs(4548).area
    b = shipped.to_crs(4548).area
    np.testing.assert_allclose(a.to_numpy(), b.to_numpy(), rtol=1e-3)
    # the same places, not only the same sizes: each made unit overlaps its shipped twin ≥ 99.9 %
    inter = made.to_crs(4548).geometry.intersection(shipped.to_crs(4548).geometry, align=True).area
    assert (inter / b).min() > 0.999
    assert made["name"].tolist() == shipped["name"].tolist()


def test_units_min_area_option(tmp_path):
    out = tmp_path / "big.geojson"
    res = ditan("units", _derive_config(tmp_path), "--out", out, "--min-area-m2", "300000")
    assert res.returncode == 0, res.stderr
    units = gpd.read_file(out)
    assert len(units) >= 1
    assert (units.to_crs(4548).area >= 300000 * 0.999).all()
    assert units.crs.to_epsg() == 4326


def test_units_bad_config_exits_2(tmp_path):
    res = ditan("units", _broken_config(tmp_path), "--out", tmp_path / "u.gpkg")
    assert res.returncode == 2
    assert "transit.radius_m" in res.stderr
    assert not (tmp_path / "u.gpkg").exists()


# --- run ----------------------------------------------------------------------------------


def _check_run_outputs(res: subprocess.CompletedProcess, out: Path) -> None:
    assert res.returncode == 0, res.stderr
    ind = out / "indicators.csv"
    assert ind.exists()
    df = pd.read_csv(ind, encoding="utf-8-sig")
    shipped = gpd.read_file(SAMPLE / "units.gpkg")
    assert sorted(df["unit_id"]) == sorted(
        shipped["unit_id"]
    )  # one row per unit of the config's units layer
    assert "road_density_km_per_km2" in df.columns
    assert res.stdout.strip().endswith(out.name)  # the output folder is printed on stdout


@pytest.mark.slow
def test_run_writes_indicators(tmp_path):
    out = tmp_path / "out"
    res = ditan("run", DEFAULT_CONFIG, "--out", out, "-q", cwd=tmp_path)
    _check_run_outputs(res, out)


@pytest.mark.slow
def test_run_summary_lists_the_data_gaps(tmp_path):
    out = tmp_path / "out"
    res = ditan("run", DEFAULT_CONFIG, "--out", out, cwd=tmp_path)
    _check_run_outputs(res, out)
    text = res.stdout + res.stderr
    assert "数据缺失 data gaps" in text and "无养老院 no elderly care home" in text
    assert "not 0 and not a fail" in text


@pytest.mark.slow
def test_run_default_config(tmp_path):
    out = tmp_path / "default"
    res = ditan(
        "run", "--out", out, "-q", cwd=ROOT
    )  # CONFIG omitted: the default, relative to the repo
    _check_run_outputs(res, out)


@pytest.mark.parametrize("value", ["-5", "0"])
def test_units_rejects_non_positive_min_area(tmp_path, value):
    res = ditan(
        "units", _derive_config(tmp_path), "--out", tmp_path / "u.gpkg", "--min-area-m2", value
    )
    assert res.returncode == 2
    assert "--min-area-m2 must be greater than 0" in res.stderr
    assert not (tmp_path / "u.gpkg").exists()


def test_units_rejects_unknown_output_suffix(tmp_path):
    res = ditan("units", _derive_config(tmp_path), "--out", tmp_path / "u.txt")
    assert res.returncode == 2 and ".gpkg or .geojson" in res.stderr
    assert not (tmp_path / "u.txt").exists()
