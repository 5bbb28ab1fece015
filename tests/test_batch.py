"""Many study areas in one run (ditan.pipelines.jobs.batch): the batch config, serial and dask runs, failures.

Two Beijing areas (the sample, and the sample with a subset of its units and an 800 m 15-minute
tier) and Kowloon run serially and on a local dask cluster of 2 worker processes; the gathered
tables must be equal, byte for byte. A failing area is recorded and the others finish.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import yaml

from ditan.pipelines.cli import main
from ditan.pipelines.config.batch import apply_overrides, is_batch_file, load_batch
from ditan.pipelines.jobs.batch import run_batch
from ditan.pipelines.jobs.cluster import run_area
from ditan.spatial.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "pipelines" / "configs"
BEIJING = CONFIGS / "beijing_haidian.yaml"
KOWLOON = CONFIGS / "hongkong_kowloon.yaml"
SAMPLE = ROOT / "data" / "beijing_haidian_tsinghua"
TABLES = ("indicators.csv", "compliance.csv", "data_quality.csv")
AREAS = ["bj", "bj_subset", "hongkong_kowloon"]


def _write(folder: Path, data: object, name: str = "batch.yaml") -> Path:
    path = folder / name
    path.write_text(
        data
        if isinstance(data, str)
        else yaml.safe_dump(data, allow_unicode=True, sort_keys=False),
        encoding="utf-8",
    )
    return path


def _subset_units(folder: Path, n: int = 6) -> Path:
    path = folder / "units_subset.gpkg"
    gpd.read_file(SAMPLE / "units.gpkg").head(n).to_file(path, driver="GPKG")
    return path


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(
        path, encoding="utf-8-sig", dtype={"area": str, "unit_id": str}, low_memory=False
    )


def _worker_processes(timeout_s: float = 15.0) -> list:
    """Child processes of this one that are dask workers or nannies (multiprocessing spawn), after a grace period."""
    import psutil

    deadline = time.monotonic() + timeout_s
    while True:
        left = [
            p
            for p in psutil.Process().children(recursive=True)
            if "spawn_main" in " ".join(_cmdline(p))
        ]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.2)


def _cmdline(p) -> list[str]:
    import psutil

    try:
        return p.cmdline()
    except psutil.Error:
        return []


@pytest.fixture(scope="module")
def batch_dir(tmp_path_factory) -> Path:
    """A batch of three areas; the override paths are relative to the batch file's folder."""
    folder = tmp_path_factory.mktemp("batch")
    _subset_units(folder)
    _write(
        folder,
        {
            "name": "three_areas",
            "title": "三个区域 three areas",
            "areas": [
                {"config": str(BEIJING), "name": "bj"},
                {
                    "config": str(BEIJING),
                    "name": "bj_subset",
                    "overrides": {
                        "inputs.units.path": "units_subset.gpkg",
                        "life_circle": {"tiers_m": {"15min": 800}},
                    },
                },
                str(KOWLOON),
            ],
        },
    )
    return folder


@pytest.fixture(scope="module")
def serial(batch_dir):
    return run_batch(batch_dir / "batch.yaml", batch_dir / "serial")


@pytest.fixture(scope="module")
def on_cluster(batch_dir, serial):
    """`ditan run batch.yaml --workers 2`, in process."""
    out = batch_dir / "cluster"
    rc = main(["run", str(batch_dir / "batch.yaml"), "--workers", "2", "--out", str(out), "-q"])
    return rc, out


# --- the batch config ---------------------------------------------------------------------


def test_shipped_batch_sample_is_a_batch():
    path = CONFIGS / "batch_sample.yaml"
    assert is_batch_file(path) and not is_batch_file(BEIJING)
    batch = load_batch(path)
    assert [a.name for a in batch.areas] == ["beijing_haidian", "hongkong_kowloon"]
    assert batch.areas[0].cfg.inputs.osm.path.exists()


def test_check_config_accepts_a_batch(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "500")
    assert main(["check-config", str(CONFIGS / "batch_sample.yaml")]) == 0
    assert "valid batch config: 2 areas" in capsys.readouterr().err


def test_overrides_dotted_and_nested(tmp_path):
    data = {
        "name": "a",
        "inputs": {"units": {"path": "u.gpkg", "id_column": "id"}},
        "life_circle": {"tiers_m": {"5min": 300, "15min": 1000}},
    }
    out = apply_overrides(
        data,
        {
            "inputs.units.path": "sub/u2.gpkg",
            "life_circle": {"tiers_m": {"15min": 800}},
            "compliance.profile": "lowcarbon_pilot_2015",
            "screening": {"profile": "p.yaml"},
        },
        tmp_path,
    )
    assert out["inputs"]["units"] == {
        "path": str((tmp_path / "sub" / "u2.gpkg").resolve()),
        "id_column": "id",
    }
    assert out["life_circle"]["tiers_m"] == {"5min": 300, "15min": 800}  # mappings merge key by key
    assert out["compliance"]["profile"] == "lowcarbon_pilot_2015"  # a profile id is not a path
    assert out["screening"]["profile"] == str((tmp_path / "p.yaml").resolve())
    assert data["inputs"]["units"]["path"] == "u.gpkg"  # the base is not changed


def test_areas_validated_up_front(tmp_path):
    _subset_units(tmp_path)
    path = _write(
        tmp_path,
        {
            "name": "b",
            "areas": [
                {
                    "config": str(BEIJING),
                    "name": "bj_small",
                    "overrides": {"inputs.units.path": "units_subset.gpkg"},
                },
                str(BEIJING),
            ],
        },
    )
    batch = load_batch(path)
    assert [a.name for a in batch.areas] == ["bj_small", "beijing_haidian"]
    assert batch.areas[0].cfg.inputs.units.path == (tmp_path / "units_subset.gpkg").resolve()
    assert batch.areas[1].cfg.inputs.units.path == (SAMPLE / "units.gpkg").resolve()


def test_unknown_keys_named_with_a_hint(tmp_path):
    path = _write(
        tmp_path, {"nmae": "x", "name": "b", "areas": [{"config": str(BEIJING), "overides": {}}]}
    )
    with pytest.raises(ConfigError) as exc:
        load_batch(path)
    msg = str(exc.value)
    assert str(path) in msg and "2 problem(s)" in msg
    assert "nmae: Extra inputs are not permitted — did you mean 'name'?" in msg
    assert "areas.0.overides: Extra inputs are not permitted — did you mean 'overrides'?" in msg


def test_bad_override_names_the_area(tmp_path):
    path = _write(
        tmp_path,
        {
            "name": "b",
            "areas": [
                str(BEIJING),
                {
                    "config": str(BEIJING),
                    "name": "bj2",
                    "overrides": {"life_circle.tiers": {"15min": 800}},
                },
            ],
        },
    )
    with pytest.raises(ConfigError) as exc:
        load_batch(path)
    msg = str(exc.value)
    assert "areas.1 (beijing_haidian.yaml with overrides" in msg and "nothing was run" in msg
    assert "life_circle.tiers: Extra inputs are not permitted — did you mean 'tiers_m'?" in msg


def test_duplicate_area_names(tmp_path):
    path = _write(tmp_path, {"name": "b", "areas": [str(BEIJING), {"config": str(BEIJING)}]})
    with pytest.raises(
        ConfigError,
        match=r"area names must be unique.*'beijing_haidian'.*give each area its own `name:`",
    ):
        load_batch(path)


def test_missing_area_config_and_empty_areas(tmp_path):
    path = _write(tmp_path, {"name": "b", "areas": ["nope.yaml"]})
    with pytest.raises(
        ConfigError,
        match=r"areas\.0\.config: config file not found: .*nope\.yaml .*batch file's folder",
    ):
        load_batch(path)
    with pytest.raises(ConfigError, match=r"areas: List should have at least 1 item"):
        load_batch(_write(tmp_path, {"name": "b", "areas": []}))


def test_cli_option_errors(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "500")
    batch = CONFIGS / "batch_sample.yaml"
    assert main(["run", str(batch), "--workers", "2", "--scenario", str(tmp_path / "s.gpkg")]) == 2
    assert "--scenario applies to one study area" in capsys.readouterr().err
    assert main(["run", str(BEIJING), "--workers", "2"]) == 2
    assert "--workers/--scheduler run the areas of a batch config" in capsys.readouterr().err
    assert main(["units", str(batch)]) == 2
    assert "is a batch config" in capsys.readouterr().err
    bad = _write(tmp_path, {"name": "b", "areas": [str(BEIJING), str(BEIJING)]})
    assert main(["run", str(bad), "--workers", "2"]) == 2  # config errors before any cluster starts
    assert "area names must be unique" in capsys.readouterr().err
    assert (
        main(["run", str(batch), "--scheduler", "no-port-here", "--out", str(tmp_path / "out")])
        == 2
    )
    assert (
        "cannot reach the dask scheduler at no-port-here" in capsys.readouterr().err
        and not (tmp_path / "out").exists()
    )
    for argv in (
        ["run", str(batch), "--workers", "0"],
        ["run", str(batch), "--workers", "2", "--scheduler", "tcp://h:8786"],
    ):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 2


def test_foreign_files_stop_the_batch_before_any_work(tmp_path):
    out = tmp_path / "out"
    (out / "areas" / "x").mkdir(parents=True)
    (out / "areas" / "x" / "notes.docx").write_text("mine", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"notes\.docx"):
        run_batch(CONFIGS / "batch_sample.yaml", out)
    (out / "areas" / "x" / "notes.docx").unlink()
    (out / "mine.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"mine\.txt"):
        run_batch(CONFIGS / "batch_sample.yaml", out)


# --- serial and dask runs -----------------------------------------------------------------


@pytest.mark.slow
def test_serial_batch_gathers_every_area(serial, batch_dir):
    out = batch_dir / "serial"
    assert serial.mode == "serial" and not serial.failed
    assert sorted(p.name for p in out.iterdir()) == [
        "areas",
        "areas.csv",
        "compliance.csv",
        "data_quality.csv",
        "indicators.csv",
        "manifest.json",
    ]
    assert sorted(p.name for p in (out / "areas").iterdir()) == sorted(AREAS)
    assert not list(batch_dir.glob(".*.partial")), "the staging folder is gone"
    ind = _read(out / "indicators.csv")
    assert list(ind.columns[:3]) == ["area", "unit_id", "name"]
    assert list(pd.unique(ind["area"])) == AREAS  # in the order listed
    for area in AREAS:  # each area's rows are its own run's table
        own = _read(out / "areas" / area / "indicators.csv")
        mine = ind[ind["area"] == area].drop(columns="area").reset_index(drop=True)[own.columns]
        pd.testing.assert_frame_equal(mine, own, check_dtype=False)
    n_sample = len(gpd.read_file(SAMPLE / "units.gpkg"))  # the sample's every unit
    assert (ind["area"] == "bj_subset").sum() == 6 and (ind["area"] == "bj").sum() == n_sample
    bj = ind[ind["area"] == "bj"].set_index("unit_id")
    sub = ind[ind["area"] == "bj_subset"].set_index("unit_id")
    tier15 = [
        "lc_middle_school_pct",
        "lc_hospital_pct",
        "lc_large_park_pct",
    ]  # 15-minute categories: 800 m reaches less than 1000 m
    shorter = sub[tier15] - bj.loc[sub.index, tier15]
    assert (shorter.fillna(0) <= 1e-9).all().all() and (shorter < 0).any().any()
    comp = _read(out / "compliance.csv")
    assert set(comp["area"]) == {"bj", "bj_subset"}  # Kowloon names no profile
    areas = pd.read_csv(out / "areas.csv", encoding="utf-8-sig")
    assert list(areas["area"]) == AREAS and set(areas["status"]) == {"ok"}
    assert list(areas["units"]) == [n_sample, 6, len(ind[ind["area"] == "hongkong_kowloon"])]
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["mode"] == "serial" and manifest["status_counts"] == {"ok": 3, "failed": 0}
    assert [a["area"] for a in manifest["areas"]] == AREAS and all(
        a["timings_s"] for a in manifest["areas"]
    )


@pytest.mark.slow
def test_dask_cluster_gives_the_serial_tables(on_cluster, batch_dir):
    rc, out = on_cluster
    assert rc == 0
    assert not _worker_processes(), "dask worker processes left running"
    for name in TABLES:
        a, b = _read(batch_dir / "serial" / name), _read(out / name)
        pd.testing.assert_frame_equal(a, b)
        assert (batch_dir / "serial" / name).read_bytes() == (out / name).read_bytes(), name
    for area in AREAS:
        for name in ("indicators.csv", "data_quality.csv", "communities.gpkg", "map.html"):
            assert (batch_dir / "serial" / "areas" / area / name).read_bytes() == (
                out / "areas" / area / name
            ).read_bytes(), (area, name)
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["mode"] == "local cluster, 2 workers"


@pytest.mark.slow
def test_failed_area_reported_others_finish(tmp_path, capsys, monkeypatch):
    """A DitanError at run time (not a config error): the area fails, the batch goes on, exit code 1."""
    monkeypatch.setenv("COLUMNS", "500")
    _subset_units(tmp_path)
    path = _write(
        tmp_path,
        {
            "name": "with_failure",
            "areas": [
                {
                    "config": str(BEIJING),
                    "name": "broken",
                    "overrides": {"inputs.units.id_column": "no_such_column"},
                },
                {
                    "config": str(BEIJING),
                    "name": "fine",
                    "overrides": {"inputs.units.path": "units_subset.gpkg"},
                },
            ],
        },
    )
    out = tmp_path / "out"
    assert main(["run", str(path), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert (
        "区域失败 failed areas (1 of 2)" in err
        and "broken: LayerError:" in err
        and "no_such_column" in err
    )
    areas = pd.read_csv(out / "areas.csv", encoding="utf-8-sig").set_index("area")
    assert areas.loc["broken", "status"] == "failed" and areas.loc["fine", "status"] == "ok"
    assert areas.loc["broken", "error"].startswith(
        "LayerError: layer 'units' lacks column(s) no_such_column"
    )
    assert pd.isna(areas.loc["broken", "units"]) and areas.loc["fine", "units"] == 6
    assert set(_read(out / "indicators.csv")["area"]) == {"fine"}
    assert sorted(p.name for p in (out / "areas").iterdir()) == ["fine"]
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["status_counts"] == {"ok": 1, "failed": 1}
    # a second run replaces the folder whole: an area no longer listed leaves no folder behind
    path = _write(
        tmp_path,
        {
            "name": "with_failure",
            "areas": [
                {
                    "config": str(BEIJING),
                    "name": "broken",
                    "overrides": {"inputs.units.id_column": "no_such_column"},
                }
            ],
        },
    )
    result = run_batch(path, out)
    assert result.failed and not (out / "areas").exists() and _read(out / "indicators.csv").empty


def _dies_or_fakes(task: dict) -> dict:
    """A task whose worker dies for area `dies`; the other area returns a small result at once."""
    if task["area"] == "dies":
        os._exit(1)
    return {
        "area": task["area"],
        "status": "ok",
        "error": None,
        "units": 1,
        "timings_s": {"load": 0.1},
        "host": "here",
        "seconds": 0.1,
        "indicators": pd.DataFrame({"unit_id": ["U1"], "name": ["甲"], "x": [1.0]}).set_index(
            "unit_id"
        ),
        "data_quality": pd.DataFrame({"layer": ["units"], "kept": [1]}),
        "files": {"indicators.csv": b"unit_id\nU1\n"},
    }


@pytest.mark.slow
def test_dead_worker_is_a_failed_area(tmp_path):
    import cloudpickle
    import dask

    cloudpickle.register_pickle_by_value(
        sys.modules[__name__]
    )  # the workers need not import this test module
    path = _write(
        tmp_path,
        {
            "name": "dead",
            "areas": [
                {"config": str(BEIJING), "name": "dies"},
                {"config": str(BEIJING), "name": "lives"},
            ],
        },
    )
    try:
        with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
            result = run_batch(path, tmp_path / "out", workers=2, task=_dies_or_fakes)
    finally:
        cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
    assert list(result.failed) == ["dies"] and result.failed["dies"].startswith("KilledWorker")
    assert "工作进程退出" in result.failed["dies"]
    assert list(result.areas["status"]) == ["failed", "ok"]
    assert (
        tmp_path / "out" / "areas" / "lives" / "indicators.csv"
    ).read_bytes() == b"unit_id\nU1\n"
    assert not _worker_processes(), "dask worker processes left running"


def test_task_returns_failure_as_data(tmp_path):
    """The task function never raises for a bad area: the error (type and message) comes back as data."""
    res = run_area(
        {
            "area": "x",
            "data": {"name": "x", "inputs": {"roads": {"path": "missing.gpkg"}}},
            "base_dir": str(tmp_path),
            "source": "x.yaml",
        }
    )
    assert (
        res["status"] == "failed"
        and res["error"].startswith("ConfigError:")
        and "missing.gpkg" in res["error"]
    )
    assert res["files"] == {} and res["indicators"] is None and "traceback" not in res
