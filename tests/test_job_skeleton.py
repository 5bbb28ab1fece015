"""The one job skeleton (ditan.pipelines.jobs.skeleton) and the boundaries around the jobs.

- the skeleton's order: folder check → load → compute → staged write → manifest → publish, with a toy job;
- every job is a skeleton Job, and no job imports another job's helpers;
- ``ditan annex`` checks its output folder before loading anything;
- no function of ``spatial/`` or ``pipelines/compute/`` takes the whole Config (parameters are explicit).
"""

from __future__ import annotations

import ast
import hashlib
import json
from pathlib import Path

import pytest

from ditan.pipelines.jobs import annex as annex_job
from ditan.pipelines.jobs.annex import AnnexJob, file_names
from ditan.pipelines.jobs.batch import BatchJob
from ditan.pipelines.jobs.land_sale import ParcelCheckJob
from ditan.pipelines.jobs.run import RunJob
from ditan.pipelines.jobs.screen import ScreenJob
from ditan.pipelines.jobs.skeleton import Context, Job
from ditan.spatial.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


class Toy(Job[str, str]):
    """Loads 'in', computes 'in!', writes it to a.txt; records the order of its steps."""

    def __init__(
        self, fail_in_write: bool = False, manifest_name: str | None = "manifest.json"
    ) -> None:
        self.calls: list[str] = []
        self.fail_in_write = fail_in_write
        self.manifest_name = manifest_name
        self.seen_during_publish: bool | None = None

    def allowed(self, name: str) -> bool:
        return name in ("a.txt", "manifest.json")

    def load(self, ctx: Context) -> str:
        self.calls.append("load")
        return "in"

    def compute(self, loaded: str, ctx: Context) -> str:
        self.calls.append("compute")
        return loaded + "!"

    def write(self, computed: str, stage: Path, ctx: Context) -> list[str]:
        self.calls.append("write")
        (stage / "a.txt").write_text(computed, encoding="utf-8")
        if self.fail_in_write:
            raise RuntimeError("disk full")
        return ["a.txt"]

    def manifest(self, computed: str, base: dict, ctx: Context) -> dict:
        self.calls.append("manifest")
        return {**base, "toy": computed}

    def publish(self, computed: str, manifest: dict | None, ctx: Context) -> None:
        self.calls.append("publish")
        self.seen_during_publish = (ctx.out_dir / "a.txt").exists()


def test_skeleton_runs_the_steps_in_order_and_writes_a_manifest(tmp_path):
    out = tmp_path / "toy"
    job = Toy()
    done = job.run(out)
    assert job.calls == ["load", "compute", "write", "manifest", "publish"]
    assert (
        job.seen_during_publish is False
    )  # still staged while publishing: the folder appears after
    assert (out / "a.txt").read_text(encoding="utf-8") == "in!"
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest == done.manifest
    assert manifest["outputs"] == ["a.txt", "manifest.json"]
    assert manifest["output_sha256"] == {
        "a.txt": hashlib.sha256(b"in!").hexdigest()
    }  # the manifest is listed, not hashed
    assert manifest["toy"] == "in!" and "load" in manifest["timings_s"]
    assert done.files == {"a.txt": out / "a.txt", "manifest.json": out / "manifest.json"}


def test_skeleton_checks_the_folder_before_loading(tmp_path):
    (tmp_path / "notes.docx").write_bytes(b"mine")
    job = Toy()
    with pytest.raises(ConfigError, match=r"holds files ditan did not write \(notes\.docx\)"):
        job.run(tmp_path)
    assert job.calls == []
    assert (tmp_path / "notes.docx").read_bytes() == b"mine"


def test_a_failed_write_leaves_the_previous_outputs(tmp_path):
    out = tmp_path / "toy"
    Toy().run(out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with pytest.raises(RuntimeError, match="disk full"):
        Toy(fail_in_write=True).run(out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")], (
        "no staging folder left"
    )


def test_a_job_without_a_manifest(tmp_path):
    done = Toy(manifest_name=None).run(tmp_path / "toy")
    assert sorted(p.name for p in (tmp_path / "toy").iterdir()) == ["a.txt"]
    assert done.manifest is None and "manifest" not in done.context.timer.seconds


def test_results_load_and_compute_without_a_folder(tmp_path):
    job = Toy()
    assert job.results() == "in!"
    assert job.calls == ["load", "compute"]


def test_every_job_is_a_skeleton_job():
    for job in (RunJob, ScreenJob, ParcelCheckJob, AnnexJob, BatchJob):
        assert issubclass(job, Job)
        own = {name for name in ("allowed", "load", "compute", "write") if name in vars(job)}
        assert own == {"allowed", "load", "compute", "write"}, job  # each supplies its own steps
        assert "run" not in vars(job), f"{job.__name__} must not re-implement the skeleton's order"


#: which job modules a job module may import: its own parts, the skeleton, and (batch) the run it repeats
JOB_PARTS = {
    "run": {"skeleton", "scenario", "scenario_apply", "scenario_compare", "scenario_plan"},
    "scenario": set(),
    "scenario_plan": {"scenario", "scenario_apply", "scenario_compare"},
    "report": {"skeleton", "run", "annex"},
    "scenario_apply": {"scenario"},
    "scenario_compare": {"scenario"},
    "screen": {"skeleton", "screen_scoring"},
    "screen_scoring": set(),
    "land_sale": {
        "skeleton",
        "parcel_rows",
        "parcel_verdict",
        "land_sale_plan",
        "land_sale_location",
        "land_sale_unit",
    },
    "land_sale_plan": {"parcel_rows", "parcel_verdict"},
    "land_sale_location": {"parcel_rows"},
    "land_sale_unit": {"parcel_rows", "parcel_verdict"},
    "parcel_rows": {"parcel_verdict"},
    "parcel_verdict": set(),
    "annex": {"skeleton", "annex_sheets"},
    "annex_sheets": set(),
    "batch": {"skeleton", "cluster", "run"},
    "cluster": {"run"},
    "skeleton": set(),
}


def _jobs_imported(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            parts = node.module.split(".")
            if parts[:3] == ["ditan", "pipelines", "jobs"]:
                found |= {parts[3]} if len(parts) > 3 else {a.name for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {
                a.name.split(".")[3]
                for a in node.names
                if a.name.startswith("ditan.pipelines.jobs.")
            }
    return found


def test_no_job_imports_another_jobs_helpers():
    files = sorted(p for p in (ROOT / "pipelines" / "jobs").glob("*.py") if p.name != "__init__.py")
    assert {p.stem for p in files} == set(JOB_PARTS), (
        "a new job module: say which job modules it may import"
    )
    wrong = {p.stem: sorted(_jobs_imported(p) - JOB_PARTS[p.stem] - {p.stem}) for p in files}
    assert not {k: v for k, v in wrong.items() if v}, wrong


def test_shared_helpers_live_in_one_module():
    from ditan.pipelines.outputs import manifest

    for name in ("attribution", "versions", "input_files", "base_entries"):
        assert callable(getattr(manifest, name))
    for path in (ROOT / "pipelines" / "jobs").glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        defined = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
        assert not defined & {"attribution", "versions", "input_files"}, path.name


# --- ditan annex: the folder first --------------------------------------------------------------


def test_annex_checks_its_folder_before_loading(tmp_path, monkeypatch):
    from ditan.pipelines.config.schema import load_config

    def no_loading(*a, **kw):
        raise AssertionError("loaded before the folder was checked")

    monkeypatch.setattr(annex_job, "find_cjk_font", lambda: None)
    monkeypatch.setattr(annex_job, "load_study_area", no_loading)
    (tmp_path / "U001.pdf").write_bytes(b"%PDF")  # an earlier annex's file: fine
    (tmp_path / "notes.txt").write_text("mine", encoding="utf-8")
    cfg = load_config(ROOT / "pipelines" / "configs" / "beijing_haidian.yaml")
    with pytest.raises(ConfigError, match=r"did not write \(notes\.txt\)"):
        AnnexJob(cfg).run(tmp_path)


def test_annex_owns_the_files_of_any_unit():
    job = object.__new__(AnnexJob)  # no font needed to ask what the folder may hold
    for uid in ("U001", "单元 7", "a/b"):
        assert all(job.allowed(name) for name in file_names(uid)), uid
    assert job.allowed("annex.json")
    assert (
        not job.allowed("notes.txt")
        and not job.allowed("U001_7_extra.png")
        and not job.allowed("U001.docx")
    )


# --- explicit parameters ------------------------------------------------------------------------


def _names(annotation: ast.expr | None) -> set[str]:
    """The names an annotation mentions (a string annotation is parsed first)."""
    if annotation is None:
        return set()
    if isinstance(annotation, ast.Constant) and isinstance(annotation.value, str):
        annotation = ast.parse(annotation.value, mode="eval").body
    return {n.id for n in ast.walk(annotation) if isinstance(n, ast.Name)} | {
        n.attr for n in ast.walk(annotation) if isinstance(n, ast.Attribute)
    }


def _takes_config(text: str, label: str) -> list[str]:
    """'label:line function(arg)' for each parameter annotated with Config (or named cfg)."""
    out = []
    for node in ast.walk(ast.parse(text)):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            continue
        a = node.args
        for arg in [*a.posonlyargs, *a.args, *a.kwonlyargs, *(x for x in (a.vararg, a.kwarg) if x)]:
            if "Config" in _names(arg.annotation) or arg.arg == "cfg":
                out.append(f"{label}:{node.lineno} {getattr(node, 'name', 'lambda')}({arg.arg})")
    return out


def test_the_scanner_sees_a_config_parameter():
    src = (
        "def f(sa, cfg): ...\ndef g(x: Config | None = None): ...\ndef h(p: 'Config'): ...\n"
        "def i(*, c: schema.Config): ...\ndef ok(e: ConfigError, params: ComputeParams): ...\n"
    )
    found = [hit.split(" ", 1)[1] for hit in _takes_config(src, "probe")]
    assert found == ["f(cfg)", "g(x)", "h(p)", "i(c)"]


def test_no_spatial_or_compute_function_takes_the_config():
    files = sorted(
        [*(ROOT / "spatial").rglob("*.py"), *(ROOT / "pipelines" / "compute").glob("*.py")]
    )
    offenders = [
        hit
        for f in files
        for hit in _takes_config(f.read_text(encoding="utf-8"), str(f.relative_to(ROOT)))
    ]
    assert not offenders, (
        "take ComputeParams (ditan.pipelines.config.params) or keywords, not Config:\n"
        + "\n".join(offenders)
    )
