"""Nothing half-written: an interrupted run leaves the previous run's outputs whole.

A run is interrupted (a) exactly in the middle of writing, in process, and (b) by a real SIGINT
sent to `ditan run` at several moments. Afterwards the output folder always holds one complete
run — every file matching the hashes its manifest lists — and no partial file or folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ditan.pipelines.config.schema import load_config
from ditan.pipelines.jobs import run as run_job
from ditan.pipelines.outputs import files as write
from ditan.spatial.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "pipelines" / "configs" / "beijing_haidian.yaml"


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _assert_one_complete_run(out: Path) -> dict:
    names = sorted(p.name for p in out.iterdir())
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert names == sorted(manifest["outputs"]) and set(run_job.OUTPUTS) <= set(names), names
    for name, digest in manifest["output_sha256"].items():
        assert _sha(out / name) == digest, name
    leftovers = [
        p.name
        for p in out.parent.iterdir()
        if p.name.startswith(".") and (".partial" in p.name or p.name.endswith(".old"))
    ]
    assert not leftovers, leftovers
    return manifest


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "beijing"
    run_job.run(load_config(CONFIG), out)
    return out, _assert_one_complete_run(out)


def test_interrupt_in_the_middle_of_writing_keeps_the_previous_run(first_run, monkeypatch):
    out, manifest = first_run
    before = {p.name: _sha(p) for p in out.iterdir()}
    written = []
    real = write.write_text

    def interrupted(path, text, **kw):  # map.html is written after the tables and the GeoPackage
        written.append(Path(path).name)
        raise KeyboardInterrupt

    monkeypatch.setattr(write, "write_text", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_job.run(load_config(CONFIG), out)
    monkeypatch.setattr(write, "write_text", real)
    assert written == ["map.html"]
    assert {p.name: _sha(p) for p in out.iterdir()} == before
    assert _assert_one_complete_run(out)["run_started_utc"] == manifest["run_started_utc"]


def test_a_run_killed_between_the_two_renames_is_repaired(first_run, tmp_path):
    out, _ = first_run
    copy = tmp_path / "beijing"
    os.mkdir(copy)
    for p in out.iterdir():
        (copy / p.name).write_bytes(p.read_bytes())
    os.replace(copy, tmp_path / ".beijing.old")  # the state right after the first rename
    run_job.run(load_config(CONFIG), copy)
    _assert_one_complete_run(copy)


def test_a_folder_with_other_files_is_not_replaced(tmp_path):
    (tmp_path / "notes.docx").write_bytes(b"planner's notes")
    with pytest.raises(ConfigError, match=r"holds files ditan did not write \(notes.docx\)"):
        run_job.run(load_config(CONFIG), tmp_path)
    assert (tmp_path / "notes.docx").read_bytes() == b"planner's notes"


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child process is POSIX")
def test_sigint_at_any_moment_leaves_one_complete_run(first_run):
    out, manifest = first_run
    outcomes = []
    for delay in (1.0, 2.0, 2.6, 3.2, 3.8, 4.4):
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "ditan.pipelines.cli",
                "run",
                str(CONFIG),
                "--out",
                str(out),
                "--quiet",
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
        # 130: interrupted and said so; 0: finished first; −SIGINT: the signal came while the interpreter was
        # starting or shutting down, outside ditan's own code — the folder check below holds in every case
        assert proc.returncode in (0, 130, -signal.SIGINT), (
            delay,
            proc.returncode,
            err.decode(errors="replace"),
        )
        if proc.returncode == 130:
            assert b"interrupted" in err
        now = _assert_one_complete_run(out)
        outcomes.append(
            (delay, proc.returncode, now["run_started_utc"] != manifest["run_started_utc"])
        )
        manifest = now
    print("SIGINT trials (delay s, exit code, new run published):", outcomes)
    # the trials did interrupt some runs part-way (not all finished before the signal)
    assert any(code == 130 for _, code, _ in outcomes), outcomes
