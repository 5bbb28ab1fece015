"""A batch's area time limit (area_timeout_s) and SIGTERM during a batch (issue 16, point 7).

An area that hangs is stopped when its time is up, listed failed ("timed out after N s"), and the batch
publishes the areas that finished. SIGTERM stops a batch as Ctrl-C does: no spooled files left, the
previous outputs kept. The hanging areas are task functions that sleep (in-process, so the tests take
seconds); one test times out a real Beijing area to check that its temporary files and loggers are undone.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from ditan.pipelines.config.batch import load_batch
from ditan.pipelines.jobs import cluster
from ditan.pipelines.jobs.batch import run_batch
from ditan.spatial.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
BEIJING = ROOT / "pipelines" / "configs" / "beijing_haidian.yaml"
POSIX = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


def _batch(folder: Path, names: list[str], **extra) -> Path:
    """A batch config of the Beijing sample under each of ``names`` (the task function decides what each does)."""
    path = folder / "batch.yaml"
    data = {"name": "timed", "areas": [{"config": str(BEIJING), "name": n} for n in names]}
    path.write_text(yaml.safe_dump(data | extra, allow_unicode=True), encoding="utf-8")
    return path


def _fake(task: dict) -> dict:
    """Area `hangs` sleeps for a minute, `spins` loops in Python for a minute; any other returns one unit at once."""
    if task["area"] == "hangs":
        time.sleep(60)
    elif task["area"] == "spins":
        end = time.monotonic() + 60
        while time.monotonic() < end:
            time.sleep(0.01)  # many short waits: the watchdog's exception arrives between them
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


# --- the config key -----------------------------------------------------------------------


def test_no_limit_by_default(tmp_path):
    assert load_batch(_batch(tmp_path, ["a"])).area_timeout_s is None
    assert load_batch(_batch(tmp_path, ["a"], area_timeout_s=90)).area_timeout_s == 90.0


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (0, r"area_timeout_s: Input should be greater than 0"),
        (-5, r"area_timeout_s: Input should be greater than 0"),
        (float("inf"), r"area_timeout_s: Input should be a finite number"),
        ("soon", r"area_timeout_s: Input should be a valid number"),
    ],
)
def test_bad_limits_refused(tmp_path, value, message):
    with pytest.raises(ConfigError, match=message):
        load_batch(_batch(tmp_path, ["a"], area_timeout_s=value))


# --- the deadline itself ------------------------------------------------------------------


@POSIX
def test_deadline_in_the_main_thread_breaks_a_sleep_and_leaves_no_alarm():
    before = signal.getsignal(signal.SIGALRM)
    t0 = time.monotonic()
    with pytest.raises(cluster.AreaTimedOut), cluster.deadline(0.3):
        time.sleep(30)
    assert 0.25 < time.monotonic() - t0 < 5
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    assert signal.getsignal(signal.SIGALRM) is before
    with cluster.deadline(5):  # finished in time: nothing raised, nothing left armed
        x = sum(range(1000))
    assert x == 499500 and signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    with cluster.deadline(None):  # no limit
        pass


def test_deadline_in_another_thread_stops_python_code():
    """On a dask worker the area runs in a worker thread: the watchdog raises there, between Python steps."""
    seen: list[object] = []

    def area() -> None:
        t0 = time.monotonic()
        try:
            with cluster.deadline(0.3):
                while time.monotonic() - t0 < 30:
                    time.sleep(0.01)
            seen.append("finished")
        except cluster.AreaTimedOut:
            seen.append(time.monotonic() - t0)

    th = threading.Thread(target=area)
    th.start()
    th.join(10)
    assert not th.is_alive() and len(seen) == 1 and isinstance(seen[0], float)
    assert 0.25 < seen[0] < 5
    ok: list[str] = []

    def quick() -> None:
        with cluster.deadline(0.5):
            ok.append("ran")
        time.sleep(1)  # past the limit, outside the block: nothing raised
        ok.append("after")

    th = threading.Thread(target=quick)
    th.start()
    th.join(10)
    assert ok == ["ran", "after"]


# --- a batch with a hanging area ----------------------------------------------------------


@POSIX
def test_hanging_area_times_out_and_the_others_are_published(tmp_path):
    path = _batch(tmp_path, ["first", "hangs", "spins", "last"], area_timeout_s=0.5)
    out = tmp_path / "out"
    t0 = time.monotonic()
    result = run_batch(path, out, task=_fake)
    assert time.monotonic() - t0 < 15  # two half-second limits, not two minutes
    assert list(result.areas["status"]) == ["ok", "failed", "failed", "ok"]
    assert sorted(result.failed) == ["hangs", "spins"]
    for area in ("hangs", "spins"):
        assert result.failed[area].startswith("timed out after 0.5 s 超时 (area_timeout_s: 0.5")
        assert 0.4 < result.areas.loc[area, "seconds"] < 5
    # the finished areas are published: their folders, their rows, the manifest's counts
    assert sorted(p.name for p in (out / "areas").iterdir()) == ["first", "last"]
    assert (out / "areas" / "last" / "indicators.csv").read_bytes() == b"unit_id\nU1\n"
    areas = pd.read_csv(out / "areas.csv", encoding="utf-8-sig").set_index("area")
    assert areas.loc["hangs", "error"].startswith("timed out after 0.5 s")
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["status_counts"] == {"ok": 2, "failed": 2}
    assert manifest["area_timeout_s"] == 0.5
    assert not list(tmp_path.glob(".out.*"))  # no spool or staging folder left


def test_no_limit_lets_a_slow_area_finish(tmp_path, monkeypatch):
    def slow(task: dict) -> dict:
        time.sleep(0.3)
        return _fake({**task, "area": "x"}) | {"area": task["area"]}

    result = run_batch(_batch(tmp_path, ["a", "b"]), tmp_path / "out", task=slow)
    assert not result.failed and list(result.areas["status"]) == ["ok", "ok"]


@POSIX
def test_a_real_area_timed_out_leaves_no_temporary_files_and_its_loggers_restored(tmp_path):
    """The Beijing sample with a 0.2 s limit: stopped in its load; its temporary folder and log capture undone."""
    tmp = Path(tempfile.gettempdir())
    before = set(tmp.glob("ditan-real-*"))
    lg = logging.getLogger("ditan")
    state = (list(lg.handlers), lg.level, lg.propagate)
    result = run_batch(_batch(tmp_path, ["real"], area_timeout_s=0.2), tmp_path / "out")
    assert list(result.failed) == ["real"] and "timed out after 0.2 s" in result.failed["real"]
    assert set(tmp.glob("ditan-real-*")) == before
    assert (list(lg.handlers), lg.level, lg.propagate) == state
    assert not (tmp_path / "out" / "areas").exists()
    assert pd.read_csv(tmp_path / "out" / "indicators.csv", encoding="utf-8-sig").empty


# --- on a dask cluster ----------------------------------------------------------------------


@pytest.mark.slow
def test_on_a_cluster_the_worker_is_freed_for_the_next_area(tmp_path):
    """One worker: `spins` times out on it, then `after` runs on the same worker (the thread was freed)."""
    import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    try:
        result = run_batch(
            _batch(tmp_path, ["spins", "after"], area_timeout_s=1),
            tmp_path / "out",
            workers=1,
            task=_fake,
        )
    finally:
        cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
    assert list(result.areas["status"]) == ["failed", "ok"]
    assert result.failed["spins"].startswith("timed out after 1 s")
    assert (tmp_path / "out" / "areas" / "after" / "indicators.csv").exists()


# --- SIGTERM ------------------------------------------------------------------------------------


def _terminated(task: dict) -> dict:
    if task["area"] == "killed":
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(30)
    return _fake(task)


@POSIX
def test_sigterm_during_a_batch_is_an_interrupt(tmp_path):
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        pytest.skip("SIGTERM has a handler in this process")
    out = tmp_path / "out"
    run_batch(_batch(tmp_path, ["a"]), out, task=_fake)  # a previous batch
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    with pytest.raises(KeyboardInterrupt, match="SIGTERM"):
        run_batch(_batch(tmp_path, ["a", "killed", "b"]), out, task=_terminated)
    assert {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # handed back


@POSIX
def test_sigterm_to_ditan_run_batch_exits_as_interrupted(tmp_path):
    """`ditan run BATCH.yaml` sent SIGTERM while its areas run: stopped and said so, nothing left beside the folder."""
    path = _batch(tmp_path, ["a", "b", "c"])
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ditan.pipelines.cli",
            "run",
            str(path),
            "--out",
            str(tmp_path / "o"),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while not list(tmp_path.glob(".o.*.spool")) and time.monotonic() < deadline:
        time.sleep(0.05)  # the batch has started its areas
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    # the CLI's own SIGTERM handling says "terminated (SIGTERM)" and exits 143 (128 + 15); without it, the
    # batch's (run_batch's) raises KeyboardInterrupt: "interrupted", 130. Either way the same clean-up
    assert (proc.returncode, b"terminated" in err or b"interrupted" in err) in (
        (143, True),
        (130, True),
    ), (proc.returncode, err.decode(errors="replace"))
    assert not (tmp_path / "o").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_a_swallowed_time_up_is_raised_again():
    """A time's-up exception that is swallowed is raised again after RETRY_S, and is not reported on stderr.

    Swallowed as Python does where it only reports an exception (a weakref callback, ``__del__``).
    """
    reported: list = []
    before = sys.unraisablehook
    sys.unraisablehook = reported.append
    try:
        t0 = time.perf_counter()
        with pytest.raises(cluster.AreaTimedOut):
            with cluster.deadline(0.2):
                try:
                    time.sleep(5)
                except (
                    cluster.AreaTimedOut
                ) as exc:  # swallowed, as Python does in a weakref callback
                    sys.unraisablehook(type("U", (), {"exc_value": exc, "exc_type": type(exc)})())
                time.sleep(5)
        took = time.perf_counter() - t0
    finally:
        sys.unraisablehook = before
    assert 0.2 + cluster.RETRY_S - 0.05 < took < 0.2 + cluster.RETRY_S + 1.0
    assert reported == []
