"""Output folders under stress (issue 16): concurrent runs, symbolic links, killed runs, full disks, id file names.

- Runs of one output folder take turns (a file lock, ``.<name>.lock``): eight concurrent ``ditan run`` of the
  Beijing sample all finish and leave one complete run; ``--no-wait`` stops at once, exit 75, naming the pid.
- Staging folders carry their process's pid: those of dead processes are removed by the next run, a live
  process's never; SIGTERM cleans up as SIGINT does (exit 143); SIGKILL's leftover goes at the next run.
- A symbolic link as output folder is followed (the folder it points to is replaced, the link stays), and the
  ``.name.old`` link an earlier ditan left is removed instead of wedging every later run.
- A full disk, a parent that is a file: one line, exit non-zero, no traceback (``-v`` shows it), previous run kept.
- Folder modes follow the umask; ``ditan units`` writes beside the run's folder, so ``ditan run`` accepts it.
- Ids that differ only in punctuation (``BJ/01``, ``BJ:01``, ``BJ 01``) give three files, each listed with its id.

The expectations are worked out from the rules, not read from ditan's output: the stems below are the slug
``BJ_01`` plus the first 8 hex digits of ``hashlib.sha1(id)``, computed here.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
import threading
import time
import types
from pathlib import Path

import pytest
import yaml
from conftest import CRS, box, gdf, line

from ditan.pipelines.cli import main
from ditan.pipelines.config.schema import load_config
from ditan.pipelines.jobs import annex as annex_job
from ditan.pipelines.jobs import run as run_job
from ditan.pipelines.jobs.skeleton import Job
from ditan.pipelines.outputs import files as write
from ditan.pipelines.outputs import staging
from ditan.pipelines.outputs.names import file_stems, slug
from ditan.spatial.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "pipelines" / "configs" / "beijing_haidian.yaml"
POSIX = pytest.mark.skipif(sys.platform == "win32", reason="file locks and signals are POSIX")
IDS = ["BJ/01", "BJ:01", "BJ 01"]


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _leftovers(folder: Path) -> list[str]:
    return sorted(
        p.name
        for p in folder.iterdir()
        if p.name.startswith(".") and p.name.endswith((".partial", ".old", ".lock"))
    )


def _one_complete_run(out: Path) -> dict:
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert sorted(p.name for p in out.iterdir()) == sorted(manifest["outputs"])
    assert set(run_job.OUTPUTS) <= set(manifest["outputs"])
    for name, digest in manifest["output_sha256"].items():
        assert _sha(out / name) == digest, name
    assert not _leftovers(out.parent), _leftovers(out.parent)
    return manifest


class Tiny(Job):
    """A job of one file, a.txt, and a manifest: the staging rules without computing anything."""

    def __init__(self, text: str = "new") -> None:
        self.text = text

    def allowed(self, name: str) -> bool:
        return name in ("a.txt", "manifest.json")

    def load(self, ctx):
        return None

    def compute(self, loaded, ctx) -> str:
        return self.text

    def write(self, text: str, stage: Path, ctx) -> list[str]:
        (stage / "a.txt").write_text(text, encoding="utf-8")
        return ["a.txt"]


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


# --- concurrency --------------------------------------------------------------------------------------


@pytest.mark.slow
@POSIX
def test_eight_concurrent_runs_to_one_name_all_finish_and_leave_one_complete_run(tmp_path):
    out = tmp_path / "out" / "beijing"
    cmd = [sys.executable, "-m", "ditan.pipelines.cli", "run", str(CONFIG), "--out", str(out), "-q"]
    procs = [
        subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(8)
    ]
    results = [(p.wait(timeout=300), p.stderr.read().decode(errors="replace")) for p in procs]
    for p in procs:
        p.stdout.close()
        p.stderr.close()
    for code, err in results:
        assert code == 0 and "Traceback" not in err, err
    # they took turns: at least one run found another writing and said so, naming it by pid
    waits = [err for _, err in results if "waiting for another ditan run writing" in err]
    assert waits and all("(pid " in e for e in waits), [e for _, e in results]
    _one_complete_run(out)
    assert oct(stat.S_IMODE(out.stat().st_mode)) == oct(0o777 & ~staging.umask())


@POSIX
def test_no_wait_stops_at_once_naming_the_run_that_writes(tmp_path, capsys):
    out = tmp_path / "beijing"
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:  # another thread is another writer: its own descriptor of the lock file
        with staging.output_lock(out, wait=False):
            holding.set()
            release.wait(30)

    t = threading.Thread(target=hold)
    t.start()
    try:
        assert holding.wait(30)
        assert (tmp_path / ".beijing.lock").read_text().strip() == str(os.getpid())
        assert main(["run", str(CONFIG), "--out", str(out), "-q", "--no-wait"]) == 75
        err = capsys.readouterr().err
        assert f"another ditan run (pid {os.getpid()}) is writing" in err and "--no-wait" in err
        assert "Traceback" not in err and not out.exists()
    finally:
        release.set()
        t.join()
    assert not _leftovers(tmp_path)  # the lock file goes with its holder


@POSIX
def test_a_second_run_waits_then_writes(tmp_path, caplog):
    out = tmp_path / "o"
    holding, order = threading.Event(), []

    def hold() -> None:
        with staging.output_lock(out):
            holding.set()
            time.sleep(0.5)
            order.append("first done")

    t = threading.Thread(target=hold)
    t.start()
    assert holding.wait(30)
    with caplog.at_level("WARNING"):
        Tiny("second").run(out)
    order.append("second done")
    t.join()
    assert order == ["first done", "second done"]
    assert f"waiting for another ditan run writing {out} (pid {os.getpid()})" in caplog.text
    assert (out / "a.txt").read_text() == "second" and not _leftovers(tmp_path)


# --- staging folders of dead and live processes ---------------------------------------------------------


@POSIX
def test_stale_partials_of_dead_processes_go_and_a_live_ones_stays(tmp_path):
    out = tmp_path / "o"
    dead = _dead_pid()
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        names = {
            "dead": f".o.{dead}.abcd1234.partial",
            "legacy": ".o.abcd1234.partial",  # an older ditan's (no pid): stale under the lock
            "live": f".o.{live.pid}.abcd1234.partial",
            "other": f".o.x.{dead}.abcd1234.partial",  # the folder o.x's, not o's
        }
        for n in names.values():
            (tmp_path / n).mkdir()
            (tmp_path / n / "half.csv").write_text("half")
        Tiny().run(out)
        left = {p.name for p in tmp_path.iterdir()}
        assert names["dead"] not in left and names["legacy"] not in left
        assert names["live"] in left and names["other"] in left
        assert (out / "a.txt").read_text() == "new"
    finally:
        live.kill()
        live.wait()


SLOW_JOB = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from ditan.pipelines.jobs.skeleton import Job

    class Slow(Job):
        def allowed(self, name):
            return name in ("a.txt", "manifest.json")
        def load(self, ctx):
            return None
        def compute(self, loaded, ctx):
            return None
        def write(self, c, stage, ctx):
            (stage / "a.txt").write_text("half", encoding="utf-8")
            Path(sys.argv[2]).write_text("writing", encoding="utf-8")
            time.sleep(60)
            return ["a.txt"]

    Slow().run(Path(sys.argv[1]))
    """
)


@POSIX
def test_sigkill_leaves_a_partial_the_next_run_removes(tmp_path):
    out, ready = tmp_path / "o", tmp_path / "ready"
    Tiny("previous").run(out)
    proc = subprocess.Popen([sys.executable, "-c", SLOW_JOB, str(out), str(ready)], cwd=ROOT)
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
            assert proc.poll() is None and time.monotonic() < deadline, "the slow job did not start"
            time.sleep(0.02)
        # while it writes, its staging folder is its own, and a run that will not wait is refused
        with pytest.raises(staging.OutputBusy, match=rf"pid {proc.pid}"):
            Tiny().run(out, wait=False)
        partials = [p.name for p in tmp_path.glob(f".o.{proc.pid}.*.partial")]
        assert len(partials) == 1
    finally:
        proc.send_signal(signal.SIGKILL)  # cannot be handled: the partial stays
        proc.wait()
    assert (tmp_path / partials[0]).is_dir() and (out / "a.txt").read_text() == "previous"
    Tiny("next").run(out)  # its owner is gone: removed
    assert not _leftovers(tmp_path) and (out / "a.txt").read_text() == "next"


@POSIX
def test_sigterm_mid_write_cleans_up_like_sigint(tmp_path):
    out = tmp_path / "beijing"
    proc = subprocess.Popen(
        [sys.executable, "-m", "ditan.pipelines.cli", "run", str(CONFIG), "--out", str(out), "-q"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    seen = None
    while (
        proc.poll() is None and seen is None
    ):  # the staging folder exists only while files are written
        seen = next(iter(tmp_path.glob(".beijing.*.partial")), None)
        time.sleep(0.003)
    if seen is not None:
        proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    err = err.decode(errors="replace")
    assert seen is not None, f"the run ended before its staging folder was seen: {err}"
    assert f".beijing.{proc.pid}." in seen.name  # the staging folder carries its owner's pid
    # 143 = 128 + SIGTERM; 0 only if the signal came while the folder was being swapped in (held back till done)
    assert proc.returncode in (143, 0), (proc.returncode, err)
    if proc.returncode == 143:
        assert "terminated" in err and "Traceback" not in err
        assert not out.exists()  # there was no previous run to keep
    else:
        _one_complete_run(out)
    assert not _leftovers(tmp_path), _leftovers(tmp_path)


# --- symbolic links --------------------------------------------------------------------------------------


@POSIX
def test_a_symlinked_output_folder_is_followed(tmp_path):
    target = tmp_path / "disk" / "beijing"
    Tiny("first").run(target)
    (tmp_path / "out").mkdir()
    link = tmp_path / "out" / "beijing"
    link.symlink_to(target, target_is_directory=True)
    for text in ("second", "third"):  # twice: the second run must not meet a wedge of the first
        done = Tiny(text).run(link)
        assert link.is_symlink() and os.readlink(link) == str(target)
        assert (target / "a.txt").read_text() == text and done.out_dir == link
    assert not _leftovers(tmp_path / "out") and not _leftovers(tmp_path / "disk")


@POSIX
def test_the_old_link_an_earlier_ditan_left_is_removed_not_a_wedge(tmp_path):
    kept = tmp_path / "elsewhere"
    kept.mkdir()
    (kept / "a.txt").write_text("theirs")
    out = tmp_path / "beijing"
    Tiny("replaced").run(out)  # the state an earlier ditan left: the link renamed to .beijing.old
    (tmp_path / ".beijing.old").symlink_to(kept, target_is_directory=True)
    Tiny("again").run(out)
    assert (out / "a.txt").read_text() == "again" and not _leftovers(tmp_path)
    assert (kept / "a.txt").read_text() == "theirs"  # only the link went


def test_a_run_killed_after_the_swap_leaves_an_old_folder_the_next_run_removes(tmp_path):
    out = tmp_path / "o"
    Tiny("current").run(out)
    (tmp_path / ".o.old").mkdir()  # killed after the second rename, before the clean-up
    (tmp_path / ".o.old" / "a.txt").write_text("older")
    Tiny("next").run(out)
    assert (out / "a.txt").read_text() == "next" and not _leftovers(tmp_path)


# --- errors a user can cause: one line, no traceback ----------------------------------------------------


def test_out_under_a_file_is_one_line(tmp_path, capsys):
    (tmp_path / "afile").write_text("x")
    out = tmp_path / "afile" / "sub"
    assert main(["run", str(CONFIG), "--out", str(out), "-q"]) == 2
    err = capsys.readouterr().err
    assert f"cannot write {out}: {tmp_path / 'afile'} is a file, not a folder" in " ".join(
        err.split()
    )
    assert "Traceback" not in err
    verbose = (
        subprocess.run(  # -v: where it came from (a process of its own: logging set up afresh)
            [
                sys.executable,
                "-m",
                "ditan.pipelines.cli",
                "-v",
                "run",
                str(CONFIG),
                "--out",
                str(out),
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
    )
    assert verbose.returncode == 2 and "Traceback" in verbose.stderr
    assert "is a file, not a folder" in verbose.stderr


def test_disk_full_is_one_line_and_the_previous_run_stays(tmp_path, monkeypatch, capsys):
    out = tmp_path / "beijing"
    run_job.run(load_config(CONFIG), out)
    before = {p.name: _sha(p) for p in out.iterdir()}

    def full(path, *a, **kw):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(write, "write_csv", full)
    assert main(["run", str(CONFIG), "--out", str(out), "-q"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert f"cannot write {out}: no space left on device (磁盘已满)" in err
    assert "free space or choose another --out" in err and "Traceback" not in err
    assert {p.name: _sha(p) for p in out.iterdir()} == before
    assert not _leftovers(tmp_path)


def test_describe_os_error_says_what_and_the_fix(tmp_path):
    line = staging.describe_os_error(OSError(errno.EROFS, "Read-only file system"), "out/x")
    assert line == "cannot write out/x: read-only file system (只读文件系统); choose another --out"
    assert "permission denied (没有写入权限)" in staging.describe_os_error(
        PermissionError(errno.EACCES, "Permission denied", "out/x/a.csv"), "out/x"
    )


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through folder permissions")
def test_an_unwritable_parent_is_one_line(tmp_path, capsys):
    parent = tmp_path / "ro"
    parent.mkdir()
    parent.chmod(0o500)
    try:
        assert main(["run", str(CONFIG), "--out", str(parent / "x"), "-q"]) == 2
        assert "permission denied" in capsys.readouterr().err
    finally:
        parent.chmod(0o700)


# --- modes, units ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("mask", [0o022, 0o027])
def test_the_output_folder_follows_the_umask(tmp_path, mask):
    old = os.umask(mask)
    try:
        Tiny().run(tmp_path / "o")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "o").stat().st_mode) == 0o777 & ~mask  # 0o755, 0o750


def test_units_then_run_in_the_same_out(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["units", str(CONFIG)]) == 0
    assert (tmp_path / "out" / "beijing_haidian_units.gpkg").is_file()
    assert main(["run", str(CONFIG), "-q"]) == 0
    _one_complete_run(tmp_path / "out" / "beijing_haidian")


def test_a_units_file_left_in_the_run_folder_gets_a_hint(tmp_path):
    (tmp_path / "units.gpkg").write_bytes(b"")
    with pytest.raises(ConfigError, match=r"units.gpkg of an earlier `ditan units`"):
        staging.check_output_folder(tmp_path, run_job.ALLOWED)


# --- file names from ids ----------------------------------------------------------------------------------


def _hashed(uid: str) -> str:
    return f"BJ_01_{hashlib.sha1(uid.encode()).hexdigest()[:8]}"


def test_file_stems_unique_and_reversible():
    stems = file_stems([*IDS, "U001", "海淀 01"])
    assert stems == {
        **{u: _hashed(u) for u in IDS},
        "U001": "U001",  # already a safe name
        "海淀 01": "海淀_01",  # CJK kept; no clash, no hash
    }
    # an id that is its own safe name keeps it; the others that meet it get the hash
    assert file_stems(["BJ_01", "BJ/01"]) == {"BJ_01": "BJ_01", "BJ/01": _hashed("BJ/01")}
    # case-insensitive file systems (Windows, macOS): A1 and a1 are one name there
    s = file_stems(["A1", "a1"])
    assert len({v.casefold() for v in s.values()}) == 2


@pytest.mark.parametrize(
    ("uid", "stem"),
    [
        (".hidden", "hidden"),
        ("CON", "_CON"),
        ("nul.txt", "_nul.txt"),
        ("a/../b", "a_.._b"),
        ("x..", "x"),
        ("", "id"),
        ("\x1b[31m", "_31m"),
    ],
)
def test_slug_rules(uid, stem):
    assert slug(uid) == stem


def test_slug_of_a_long_id_fits_a_file_name():
    s = slug("地" * 200)  # 600 bytes of UTF-8
    assert s == "地" * 40 and len(s.encode()) == 120


@pytest.fixture
def punctuated(tmp_path: Path) -> Path:
    """Three units and three parcels for sale whose ids differ only in punctuation."""

    def layer(name, frame) -> str:
        path = tmp_path / f"{name}.gpkg"
        frame.to_file(path, layer=name, driver="GPKG", engine="pyogrio")
        return str(path)

    units = gdf(
        [
            {"unit_id": u, "name": f"单元{i}", "geometry": box(i * 500, 0, i * 500 + 500, 500)}
            for i, u in enumerate(IDS)
        ]
    )
    roads = gdf([{"highway": "residential", "geometry": line((-100, 250), (1600, 250))}])
    sale = gdf(
        [
            {
                "pid": u,
                "name": f"地块{i}",
                "code": "0701",
                "far": 2.0,
                "green": 30.0,
                "height": 30.0,
                "geometry": box(i * 500 + 100, 300, i * 500 + 200, 400),
            }
            for i, u in enumerate(IDS)
        ]
    )
    cols = {"code_column": "code", "code_system": "gb2023", "far_column": "far"}
    cfg = {
        "name": "ids",
        "crs": CRS,
        "inputs": {
            "units": {"path": layer("units", units), "id_column": "unit_id", "name_column": "name"},
            "roads": {"path": layer("roads", roads), "class_column": "highway"},
        },
        "map": {"tiles": False},
        "land_sale": {
            "parcels": {
                "path": layer("sale", sale),
                **cols,
                "green_ratio_column": "green",
                "id_column": "pid",
                "name_column": "name",
                "height_limit_column": "height",
            }
        },
    }
    path = tmp_path / "ids.yaml"
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    return path


def test_three_parcel_ids_differing_in_punctuation_give_three_pages(punctuated, tmp_path):
    out = tmp_path / "check"
    assert main(["check-parcels", str(punctuated), "--out", str(out)]) == 0
    pages = {f"parcels/{_hashed(u)}.html": u for u in IDS}
    assert sorted(f"parcels/{p.name}" for p in (out / "parcels").iterdir()) == sorted(pages)
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["parcel_pages"] == pages
    for page, pid in pages.items():  # each page shows its own parcel
        assert f"地块出让前指标核查 {pid} " in (out / page).read_text(encoding="utf-8")


def test_three_unit_ids_differing_in_punctuation_give_three_annexes(
    punctuated, tmp_path, monkeypatch, capsys
):
    drawn = []

    def draw_unit(layers, uid, *, pdf_path, png_paths, **kw):  # the drawing is tested in test_annex
        drawn.append(uid)
        for p in (pdf_path, *png_paths):
            Path(p).write_bytes(uid.encode())

    monkeypatch.setattr(
        annex_job, "find_cjk_font", lambda: types.SimpleNamespace(name="F", path="/f", index=0)
    )
    monkeypatch.setattr(annex_job, "draw_unit", draw_unit)
    out = tmp_path / "annex"
    assert main(["annex", str(punctuated), "--out", str(out)]) == 0
    assert "3 units × 6 sheets" in capsys.readouterr().err  # the count said is the count written
    pdfs = sorted(p.name for p in out.glob("*.pdf"))
    assert pdfs == sorted(f"{_hashed(u)}.pdf" for u in IDS)
    assert len(list(out.glob("*.png"))) == 3 * 6
    manifest = json.loads((out / "annex.json").read_text(encoding="utf-8"))
    for u in IDS:
        assert manifest["file_ids"][f"{_hashed(u)}.pdf"] == u
        assert (out / f"{_hashed(u)}.pdf").read_bytes() == u.encode()
    assert sorted(drawn) == sorted(IDS)
