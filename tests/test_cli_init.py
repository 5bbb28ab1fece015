"""CLI conveniences: `ditan --version`, `ditan init`, `ditan run --sample` from any folder."""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
import yaml

from ditan.pipelines.cli import main

NODES = [(116.301, 39.981), (116.322, 39.999), (116.309, 40.012)]


def _osm(path, nodes=NODES):
    rows = "\n".join(
        f'  <node id="{i + 1}" version="1" lat="{lat}" lon="{lon}"/>'
        for i, (lon, lat) in enumerate(nodes)
    )
    path.write_text(
        f'<?xml version="1.0"?>\n<osm version="0.6">\n{rows}\n</osm>\n', encoding="utf-8"
    )
    return path


def test_version(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0
    assert capsys.readouterr().out.strip() == f"ditan {metadata.version('ditan')}"


def test_init_works_out_bounds_crs_and_province(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    osm = _osm(tmp_path / "area.osm")
    (tmp_path / "cfg").mkdir()
    assert main(["init", "haidian", "--osm", str(osm), "--out", "cfg/haidian.yaml"]) == 0
    text = (tmp_path / "cfg" / "haidian.yaml").read_text(encoding="utf-8")
    cfg = yaml.safe_load(text)
    # no <bounds>: the nodes' extent, computed here by hand
    xs, ys = [p[0] for p in NODES], [p[1] for p in NODES]
    assert cfg["inputs"]["osm"]["bounds"] == pytest.approx(
        [min(xs), min(ys), max(xs), max(ys)], abs=1e-4
    )
    # lon 116.3: CGCS2000 3° Gauss–Krüger zone of CM 117°E = EPSG:4548
    assert cfg["crs"] == "EPSG:4548"
    assert cfg["carbon"]["province"] == "北京"
    # paths relative to the config's folder, as ditan reads them
    assert cfg["inputs"]["osm"]["path"] == "../area.osm"
    assert "ditan units cfg/haidian.yaml --out cfg/haidian_units.gpkg" in text
    # never overwrites
    assert main(["init", "haidian", "--osm", str(osm), "--out", "cfg/haidian.yaml"]) == 2


def test_init_refuses_bad_input(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["init", "bad name", "--osm", str(_osm(tmp_path / "a.osm"))]) == 2
    assert main(["init", "ok", "--osm", str(tmp_path / "missing.osm.pbf")]) == 2
    (tmp_path / "empty.osm").write_text('<osm version="0.6"></osm>', encoding="utf-8")
    assert main(["init", "ok2", "--osm", str(tmp_path / "empty.osm")]) == 2


def test_sample_runs_from_any_folder(tmp_path):
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "ditan.pipelines.cli",
            "run",
            "--sample",
            "beijing",
            "-q",
            "--out",
            "o",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    assert (tmp_path / "o" / "indicators.csv").is_file()
    bad = subprocess.run(
        [sys.executable, "-m", "ditan.pipelines.cli", "run", "--sample", "nope"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 2 and "samples: beijing" in bad.stderr


def test_init_with_your_units_file(tmp_path, monkeypatch):
    from ditan.pipelines.cli import init_cmd
    from ditan.spatial.errors import ConfigError

    monkeypatch.chdir(tmp_path)
    osm = _osm(tmp_path / "area.osm")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "blocks.gpkg").write_bytes(b"")  # init only names the file
    args = ["init", "hd", "--osm", str(osm), "--units", "data/blocks.gpkg"]
    assert main([*args, "--out", "cfg/hd.yaml"]) == 0
    text = (tmp_path / "cfg" / "hd.yaml").read_text(encoding="utf-8")
    cfg = yaml.safe_load(text)
    # the template's --units branch: your file, relative to the config's folder; nothing to derive
    assert cfg["inputs"]["units"]["path"] == "../data/blocks.gpkg"
    assert "# the units you gave" in text and "ditan units" not in text

    # a missing units file is refused before the OSM file is scanned
    def scan(path):
        raise AssertionError("the OSM file was scanned")

    monkeypatch.setattr(init_cmd, "osm_bounds", scan)
    with pytest.raises(ConfigError, match=r"--units nope.gpkg: file not found"):
        init_cmd.init_config("hd2", osm, units=Path("nope.gpkg"))
    assert not (tmp_path / "hd2.yaml").exists()
