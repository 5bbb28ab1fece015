"""Many study areas in one run (`ditan run BATCH.yaml`): a batch config, checked before any work.

A batch config names the study areas, each an ordinary ditan config, optionally renamed and with
overrides, so that one base config serves several areas::

    name: jiangsu_cities               # outputs go to out/<name>/
    title: 江苏 各市                     # optional
    areas:
      - nanjing.yaml                   # a config file, relative to this file's folder
      - config: nanjing.yaml           # or a mapping: the same config, renamed and changed
        name: nanjing_gulou
        overrides:
          inputs.units.path: gulou_units.gpkg     # dotted keys are short for nesting
          life_circle: {tiers_m: {15min: 800}}    # mappings are merged key by key

Every area's config is validated up front (a typo stops the batch before any work and names the
area). The areas then run as independent tasks (:mod:`ditan.pipelines.jobs.cluster`): in this process,
on a local dask cluster (``--workers N``) or on a dask scheduler (``--scheduler tcp://HOST:8786``).
Relative paths in ``overrides`` are read from the batch file's folder.
"""

from __future__ import annotations

import copy
import datetime as dt
import io
import logging
import os
import shutil
import tempfile
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from ditan.pipelines.config.schema import Config, format_errors, parse_config
from ditan.pipelines.jobs.run import ALLOWED as RUN_ALLOWED
from ditan.pipelines.jobs.skeleton import Context, Job
from ditan.pipelines.outputs import files as write
from ditan.spatial.errors import ConfigError, DitanError, require

log = logging.getLogger(__name__)
NAME_PATTERN = r"^[A-Za-z0-9_\-]+$"
#: the gathered tables and records written at the top of out/<batch name>/ (the areas' own outputs are in areas/<area>/)
BATCH_OUTPUTS = ("indicators.csv", "compliance.csv", "data_quality.csv", "areas.csv", "manifest.json")
AREAS_DIR = "areas"


class AreaSpec(BaseModel):
    """One study area of a batch: a ditan config, optionally renamed and changed by overrides."""

    model_config = ConfigDict(extra="forbid")

    config: Path = Field(description="An ordinary ditan config (YAML), relative to the batch file's folder")
    name: str | None = Field(None, pattern=NAME_PATTERN, description="Area name (folder areas/<name>/); default: the config's name")
    overrides: dict[str, Any] = Field({}, description="Config keys replaced for this area: dotted (inputs.units.path) or nested")

    @model_validator(mode="before")
    @classmethod
    def _from_path(cls, v: Any) -> Any:
        if isinstance(v, str | Path):
            return {"config": v}
        if not isinstance(v, dict):
            raise ValueError("an area is a config path or a mapping {config: PATH, name: NAME, overrides: {...}}")
        return v

    @field_validator("config", mode="before")
    @classmethod
    def _existing(cls, v: Any, info: ValidationInfo) -> Path:
        p = Path(str(v)).expanduser()
        p = p if p.is_absolute() else ((info.context or {}).get("base_dir", Path.cwd()) / p).resolve()
        if not p.is_file():
            raise ValueError(f"config file not found: {p} (relative paths are read from the batch file's folder)")
        return p


class BatchSpec(BaseModel):
    """The batch config file: a name and the list of study areas."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME_PATTERN, description="Batch name; outputs go to out/<name>/")
    title: str | None = Field(None, description="Title shown in tables")
    areas: list[AreaSpec] = Field(min_length=1, description="The study areas: config paths or {config, name, overrides}")


@dataclass
class Area:
    """A validated study area: its merged config data (what a task receives) and the config it gives."""

    name: str
    config_file: Path
    data: dict
    base_dir: Path
    cfg: Config = field(repr=False)

    def task(self, log_level: int = logging.INFO) -> dict:
        """The plain data a task needs (picklable, no file but the inputs needed on the worker)."""
        return {"area": self.name, "data": self.data, "base_dir": str(self.base_dir), "source": str(self.config_file),
                "log_level": log_level}  # fmt: skip


@dataclass
class Batch:
    """A validated batch config: its name and title, the file it was read from, and its areas in order."""

    name: str
    title: str | None
    source_path: Path
    areas: list[Area]


def _read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(Path(path).read_text(encoding="utf-8-sig"))
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not UTF-8 text; save the config as UTF-8") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from None


def is_batch_file(path: str | Path) -> bool:
    """Whether ``path`` is a readable YAML mapping with an ``areas`` key (a batch config)."""
    try:
        data = _read_yaml(Path(path)) if Path(path).is_file() else None
    except DitanError:
        return False  # the single-config loader reports it
    return isinstance(data, dict) and "areas" in data


def _path_key(keys: list[str]) -> bool:
    """Whether a dotted key names a file path of the config (inputs.units.path, life_circle.catalogue, …)."""
    model: type[BaseModel] = Config
    for i, k in enumerate(keys):
        fld = model.model_fields.get(k)
        if fld is None:
            return False
        args = getattr(fld.annotation, "__args__", (fld.annotation,))
        if i == len(keys) - 1:
            return Path in args or k == "profile"
        inner = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
        if not inner:
            return False
        model = inner[0]
    return False


def _absolute(value: Any, keys: list[str], base: Path) -> Any:
    """Relative file paths in an override made absolute from the batch file's folder (profile ids stay)."""
    if isinstance(value, dict):
        return {k: _absolute(v, [*keys, str(k)], base) for k, v in value.items()}
    if isinstance(value, str) and _path_key(keys) and (keys[-1] != "profile" or value.lower().endswith((".yaml", ".yml"))):
        p = Path(value).expanduser()
        return str(p if p.is_absolute() else (base / p).resolve())
    return value


def apply_overrides(data: dict, overrides: dict, base_dir: Path) -> dict:
    """A copy of ``data`` with ``overrides`` merged in: mappings key by key, other values replaced.

    A dotted key ``a.b: v`` is short for ``a: {b: v}``; relative paths are read from ``base_dir``.
    """
    out = copy.deepcopy(data)
    for key, value in overrides.items():
        keys = str(key).split(".")
        nested: Any = _absolute(value, keys, base_dir)
        for k in reversed(keys):
            nested = {k: nested}
        _merge(out, nested)
    return out


def _merge(into: dict, new: dict) -> None:
    for k, v in new.items():
        if isinstance(v, dict) and isinstance(into.get(k), dict):
            _merge(into[k], v)
        else:
            into[k] = copy.deepcopy(v)


def load_batch(path: str | Path) -> Batch:
    """Read a batch config and validate it and every area's config; raise ConfigError listing every problem."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"batch config {'is a folder, not a file' if path.is_dir() else 'not found'}: {path}")
    data = _read_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping of keys (name, areas, …), not {type(data).__name__}")
    base = path.parent.resolve()
    try:
        spec = BatchSpec.model_validate(data, context={"base_dir": base})
    except ValidationError as exc:
        raise ConfigError(format_errors(exc, f"batch config {path}", root=BatchSpec)) from None
    problems: list[str] = []
    areas: list[Area] = []
    for i, a in enumerate(spec.areas):
        note = " with overrides; override paths are read from the batch file's folder" if a.overrides else ""
        label = f"{path} areas.{i} ({a.config.name}{note})"
        try:
            raw = _read_yaml(a.config)
            if not isinstance(raw, dict):
                raise ConfigError(f"{a.config} must hold a mapping of keys (name, inputs, …)")
            merged = apply_overrides(raw, {**a.overrides, **({"name": a.name} if a.name else {})}, base)
            cfg = parse_config(merged, base_dir=a.config.parent, source=label)
        except ConfigError as exc:
            problems.append(str(exc))
            continue
        cfg.source_path = a.config
        areas.append(Area(name=cfg.name, config_file=a.config, data=merged, base_dir=a.config.parent, cfg=cfg))
    seen: dict[str, int] = {}
    for a in areas:
        seen[a.name] = seen.get(a.name, 0) + 1
    dupes = [n for n, c in seen.items() if c > 1]
    if dupes:
        problems.append(f"areas: area names must be unique (区域名称重复), but more than one area is named {', '.join(repr(n) for n in dupes)}; "
                        "give each area its own `name:`")  # fmt: skip
    if problems:
        listing = "\n".join(textwrap.indent(p, "    ").replace("    ", "  - ", 1) for p in problems)
        raise ConfigError(f"batch config {path}: {len(problems)} problem(s) with its areas (nothing was run):\n{listing}")
    return Batch(name=spec.name, title=spec.title, source_path=path, areas=areas)


@dataclass
class BatchResult:
    """What a batch wrote (``files``, in ``out_dir``) and the gathered tables, with the failed areas and their errors."""

    out_dir: Path
    mode: str  # "serial", "local cluster, N workers" or the scheduler address
    areas: Any  # pandas.DataFrame: one row per area (areas.csv)
    indicators: Any  # pandas.DataFrame indexed by (area, unit_id)
    compliance: Any  # pandas.DataFrame indexed by (area, unit_id), or None when no area has a profile
    data_quality: Any  # pandas.DataFrame indexed by (area, layer)
    failed: dict[str, str]  # area → error message
    files: dict[str, Path]
    manifest: dict


def _check_areas_folder(folder: Path) -> None:
    """The previous batch's areas/ may hold only area folders of ditan outputs (the swap replaces them)."""
    if not folder.is_dir():
        return
    for p in sorted(folder.iterdir()):
        if not p.is_dir():
            raise ConfigError(f"{folder} holds a file ditan did not write ({p.name}); a batch replaces the whole folder, "
                              "so choose a new or empty one with --out")  # fmt: skip
        write.check_output_folder(p, RUN_ALLOWED)


def _gather(rows: list[tuple[str, Any]], second: str):
    """The areas' frames stacked in the order the areas are listed, with a leading ``area`` column."""
    import pandas as pd

    frames = [f.reset_index(drop=f.index.name is None).assign(area=name) for name, f in rows if f is not None]
    frames = [f[["area", *[c for c in f.columns if c != "area"]]] for f in frames]
    if not frames:
        return pd.DataFrame(columns=["area", second]).set_index(["area", second])
    return pd.concat(frames, ignore_index=True, sort=False).set_index(["area", second])


def _compliance_frame(data: bytes | None):
    """An area's compliance.csv read back cell for cell (text), so the gathered rows are the area's rows."""
    import pandas as pd

    if data is None:
        return None
    return pd.read_csv(io.BytesIO(data), encoding="utf-8-sig", dtype=str, keep_default_na=False).set_index("unit_id")


@dataclass
class BatchRan:
    """The areas run: each one's result (its files spooled to ``spool``) and the gathered tables."""

    mode: str
    results: list[dict]
    spool: Path  # the areas' folders, beside the output folder until the write moves them in
    areas: Any  # pandas.DataFrame, areas.csv
    indicators: Any
    quality: Any
    compliance: Any  # None when no area has a profile


class BatchJob(Job[Batch, BatchRan]):
    """Every area of a batch as an independent run (:mod:`ditan.pipelines.jobs.cluster`), the tables gathered.

    Each area's outputs are spooled beside the output folder as the area finishes (nothing stays in memory), then
    moved to ``areas/<area>/`` of the staging folder with the gathered tables and the manifest.
    """

    def __init__(self, batch: Batch | str | Path, *, workers: int | None = None, scheduler: str | None = None,
                 on_area: Callable[[int, int, dict], None] | None = None, task: Callable[[dict], dict] | None = None) -> None:  # fmt: skip
        if workers is not None and scheduler is not None:
            raise ConfigError("give either --workers (a local dask cluster) or --scheduler (a running one), not both")
        if workers is not None and workers < 1:
            raise ConfigError(f"--workers must be 1 or more, not {workers}")
        if workers is not None or scheduler is not None:
            require("distributed")  # before any work: DependencyError (install ditan[cluster])
        self.batch = batch if isinstance(batch, Batch) else load_batch(batch)
        self.workers, self.scheduler, self.on_area, self.task = workers, scheduler, on_area, task

    def allowed(self, name: str) -> bool:
        return name in BATCH_OUTPUTS or name == AREAS_DIR

    def check_folder(self, out_dir: Path) -> None:
        super().check_folder(out_dir)
        _check_areas_folder(out_dir / AREAS_DIR)

    def load(self, ctx: Context) -> Batch:
        return self.batch  # validated in full when the job was made

    def compute(self, batch: Batch, ctx: Context) -> BatchRan:
        import pandas as pd

        from ditan.pipelines.jobs import cluster as batch_cluster

        folder = ctx.out_dir.parent
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob(f".{ctx.out_dir.name}.*.spool"):  # left by a batch killed outright
            shutil.rmtree(stale, ignore_errors=True)
        spool = Path(tempfile.mkdtemp(prefix=f".{ctx.out_dir.name}.", suffix=".spool", dir=folder))
        level = logging.getLogger("ditan").getEffectiveLevel()
        tasks = [a.task(log_level=min(level, logging.INFO)) for a in batch.areas]
        results: list[dict | None] = [None] * len(tasks)

        def done(i: int, res: dict) -> None:
            area = batch.areas[i].name
            for lvl, msg in res.pop("log", []):
                log.log(lvl, "%s: %s", area, msg)
            for w in res.pop("warnings", []):
                log.log(logging.DEBUG if "DeprecationWarning" in w or w.startswith("FutureWarning") else logging.WARNING, "%s: %s", area, w)
            files = res.pop("files", {}) or {}
            if res["status"] == "ok":
                here = spool / area
                here.mkdir(parents=True, exist_ok=True)
                for name, data in sorted(files.items()):
                    (here / name).write_bytes(data)
                res["compliance"] = _compliance_frame(files.get("compliance.csv"))
            else:
                log.debug("%s failed:\n%s", area, res.get("traceback") or res["error"])
            results[i] = res
            if self.on_area is not None:
                self.on_area(sum(r is not None for r in results), len(results), _row(batch, i, res))

        try:
            mode = batch_cluster.execute(tasks, done, workers=self.workers, scheduler=self.scheduler, task=self.task)
        except BaseException:  # interrupted, or the cluster could not start: no areas' files left behind
            shutil.rmtree(spool, ignore_errors=True)
            raise
        ran: list[dict] = [r for r in results if r is not None]
        areas = pd.DataFrame([_row(batch, i, r) for i, r in enumerate(ran)]).set_index("area")
        areas = areas.astype({"units": "Int64", "seconds": float})
        names = [a.name for a in batch.areas]
        indicators = _gather([(n, r["indicators"]) for n, r in zip(names, ran, strict=True)], "unit_id")
        quality = _gather([(n, r["data_quality"]) for n, r in zip(names, ran, strict=True)], "layer")
        has_compliance = any(r.get("compliance") is not None for r in ran)
        compliance = _gather([(n, r.get("compliance")) for n, r in zip(names, ran, strict=True)], "unit_id") if has_compliance else None
        return BatchRan(mode, ran, spool, areas, indicators, quality, compliance)

    def write(self, r: BatchRan, stage: Path, ctx: Context) -> list[str]:
        if any(r.spool.iterdir()):  # the areas that ran: their folders move in whole
            os.replace(r.spool, stage / AREAS_DIR)
        shutil.rmtree(r.spool, ignore_errors=True)
        write.write_csv(stage / "indicators.csv", r.indicators)
        write.write_csv(stage / "data_quality.csv", r.quality)
        write.write_csv(stage / "areas.csv", r.areas)
        names = ["indicators.csv", "data_quality.csv", "areas.csv"]
        if r.compliance is not None:
            write.write_csv(stage / "compliance.csv", r.compliance)
            names.append("compliance.csv")
        return [n for n in BATCH_OUTPUTS if n in names]

    def manifest(self, r: BatchRan, base: dict, ctx: Context) -> dict:
        batch, failed = self.batch, int((r.areas["status"] != "ok").sum())
        return {
            "ditan": base["ditan"], "batch": batch.name, "title": batch.title, "batch_file": str(batch.source_path),
            "run_started_utc": base["run_started_utc"], "mode": r.mode,
            "areas": [{**_row(batch, i, res), "timings_s": res.get("timings_s", {}),
                       **({"traceback": res["traceback"]} if res.get("traceback") else {})} for i, res in enumerate(r.results)],
            "status_counts": {"ok": len(r.results) - failed, "failed": failed},
            "seconds": round((dt.datetime.now(dt.UTC) - ctx.started).total_seconds(), 3),
            "outputs": base["outputs"], "output_sha256": base["output_sha256"],
        }  # fmt: skip


def run_batch(batch: Batch | str | Path, out_dir: str | Path, *, workers: int | None = None, scheduler: str | None = None,
              on_area: Callable[[int, int, dict], None] | None = None, task: Callable[[dict], dict] | None = None) -> BatchResult:  # fmt: skip
    """Run every area of ``batch`` as an independent task and gather the tables into ``out_dir``.

    Serial in this process by default; ``workers=N`` starts a local dask cluster of N processes,
    ``scheduler`` (``tcp://HOST:8786``) uses a running one. A failed area is recorded (areas.csv,
    ``BatchResult.failed``) and the others finish. Each area's full outputs go to
    ``out_dir/areas/<area>/``; the gathered tables to ``out_dir``. Like a single run, everything is
    written into a staging folder that replaces ``out_dir`` whole at the end. ``on_area(done, total,
    row)`` is called as each area finishes; ``task`` replaces the per-area function (tests).
    """
    done = BatchJob(batch, workers=workers, scheduler=scheduler, on_area=on_area, task=task).run(Path(out_dir))
    r = done.computed
    failed = {a: str(e) for a, e in r.areas.loc[r.areas["status"] != "ok", "error"].items()}
    files = {n: p for n, p in done.files.items() if n in BATCH_OUTPUTS}
    return BatchResult(out_dir=done.out_dir, mode=r.mode, areas=r.areas, indicators=r.indicators, compliance=r.compliance,
                       data_quality=r.quality, failed=failed, files=files, manifest=done.manifest or {})  # fmt: skip


def _row(batch: Batch, i: int, res: dict) -> dict:
    """One row of areas.csv."""
    a = batch.areas[i]
    try:
        config = str(a.config_file.relative_to(batch.source_path.parent.resolve()))
    except ValueError:
        config = str(a.config_file)
    return {"area": a.name, "title": a.cfg.title or a.name, "config_file": config, "status": res["status"],
            "units": res.get("units") if res["status"] == "ok" else None, "seconds": res.get("seconds"),
            "host": res.get("host"), "error": res.get("error")}  # fmt: skip
