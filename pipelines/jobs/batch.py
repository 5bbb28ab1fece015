"""Many study areas in one run (`ditan run BATCH.yaml`): the job that runs a batch config's areas.

The batch config and its checks are in :mod:`ditan.pipelines.config.batch` (every area's config is
validated up front). The areas then run as independent tasks (:mod:`ditan.pipelines.jobs.cluster`):
in this process, on a local dask cluster (``--workers N``) or on a dask scheduler
(``--scheduler tcp://HOST:8786``); the gathered tables are written at the top of the output folder.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ditan.pipelines.config.batch import Batch, load_batch
from ditan.pipelines.jobs.run import ALLOWED as RUN_ALLOWED
from ditan.pipelines.jobs.skeleton import Context, Job
from ditan.pipelines.outputs import files as write
from ditan.pipelines.outputs import staging
from ditan.pipelines.outputs.staging import make_dir
from ditan.spatial.errors import ConfigError, require, terminate_as_interrupt

log = logging.getLogger(__name__)
#: the gathered tables and records written at the top of out/<batch name>/ (the areas' own outputs are in areas/<area>/)
BATCH_OUTPUTS = (
    "indicators.csv",
    "compliance.csv",
    "data_quality.csv",
    "areas.csv",
    "manifest.json",
)
AREAS_DIR = "areas"


@dataclass
class BatchResult:
    """What a batch wrote (``files``, in ``out_dir``) and the gathered tables, with the failed areas and their errors."""

    out_dir: Path
    mode: str  # "serial", "local cluster, N workers" or the scheduler address
    areas: Any  # pandas.DataFrame: one row per area (areas.csv)
    indicators: Any  # pandas.DataFrame indexed by (area, unit_id)
    compliance: (
        Any  # pandas.DataFrame indexed by (area, unit_id), or None when no area has a profile
    )
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
            raise ConfigError(
                f"{folder} holds a file ditan did not write ({p.name}); a batch replaces the whole folder, "
                "so choose a new or empty one with --out"
            )
        staging.check_output_folder(p, RUN_ALLOWED)


def _gather(rows: list[tuple[str, Any]], second: str):
    """The areas' frames stacked in the order the areas are listed, with a leading ``area`` column."""
    import pandas as pd

    frames = [
        f.reset_index(drop=f.index.name is None).assign(area=name)
        for name, f in rows
        if f is not None
    ]
    frames = [f[["area", *[c for c in f.columns if c != "area"]]] for f in frames]
    if not frames:
        return pd.DataFrame(columns=["area", second]).set_index(["area", second])
    return pd.concat(frames, ignore_index=True, sort=False).set_index(["area", second])


def _compliance_frame(data: bytes | None):
    """An area's compliance.csv read back cell for cell (text), so the gathered rows are the area's rows."""
    import pandas as pd

    if data is None:
        return None
    return pd.read_csv(
        io.BytesIO(data), encoding="utf-8-sig", dtype=str, keep_default_na=False
    ).set_index("unit_id")


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

    def __init__(
        self,
        batch: Batch | str | Path,
        *,
        workers: int | None = None,
        scheduler: str | None = None,
        on_area: Callable[[int, int, dict], None] | None = None,
        task: Callable[[dict], dict] | None = None,
    ) -> None:
        if workers is not None and scheduler is not None:
            raise ConfigError(
                "give either --workers (a local dask cluster) or --scheduler (a running one), not both"
            )
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
        spool = make_dir(
            prefix=f".{ctx.out_dir.name}.", suffix=".spool", dir=folder
        )  # mode from the umask
        level = logging.getLogger("ditan").getEffectiveLevel()
        tasks = [
            a.task(log_level=min(level, logging.INFO), timeout_s=batch.area_timeout_s)
            for a in batch.areas
        ]
        results: list[dict | None] = [None] * len(tasks)

        def done(i: int, res: dict) -> None:
            area = batch.areas[i].name
            for lvl, msg in res.pop("log", []):
                log.log(lvl, "%s: %s", area, msg)
            for w in res.pop("warnings", []):
                log.log(
                    logging.DEBUG
                    if "DeprecationWarning" in w or w.startswith("FutureWarning")
                    else logging.WARNING,
                    "%s: %s",
                    area,
                    w,
                )
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
            mode = batch_cluster.execute(
                tasks, done, workers=self.workers, scheduler=self.scheduler, task=self.task
            )
        except (
            BaseException
        ):  # interrupted, or the cluster could not start: no areas' files left behind
            shutil.rmtree(spool, ignore_errors=True)
            raise
        ran: list[dict] = [r for r in results if r is not None]
        areas = pd.DataFrame([_row(batch, i, r) for i, r in enumerate(ran)]).set_index("area")
        areas = areas.astype({"units": "Int64", "seconds": float})
        names = [a.name for a in batch.areas]
        indicators = _gather(
            [(n, r["indicators"]) for n, r in zip(names, ran, strict=True)], "unit_id"
        )
        quality = _gather(
            [(n, r["data_quality"]) for n, r in zip(names, ran, strict=True)], "layer"
        )
        has_compliance = any(r.get("compliance") is not None for r in ran)
        compliance = (
            _gather([(n, r.get("compliance")) for n, r in zip(names, ran, strict=True)], "unit_id")
            if has_compliance
            else None
        )
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
            "ditan": base["ditan"],
            "batch": batch.name,
            "title": batch.title,
            "batch_file": str(batch.source_path),
            "run_started_utc": base["run_started_utc"],
            "mode": r.mode,
            "area_timeout_s": batch.area_timeout_s,
            "areas": [
                {
                    **_row(batch, i, res),
                    "timings_s": res.get("timings_s", {}),
                    **({"traceback": res["traceback"]} if res.get("traceback") else {}),
                }
                for i, res in enumerate(r.results)
            ],
            "status_counts": {"ok": len(r.results) - failed, "failed": failed},
            "seconds": round((dt.datetime.now(dt.UTC) - ctx.started).total_seconds(), 3),
            "outputs": base["outputs"],
            "output_sha256": base["output_sha256"],
        }


def run_batch(
    batch: Batch | str | Path,
    out_dir: str | Path,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    on_area: Callable[[int, int, dict], None] | None = None,
    task: Callable[[dict], dict] | None = None,
) -> BatchResult:
    """Run every area of ``batch`` as an independent task and gather the tables into ``out_dir``.

    Serial in this process by default; ``workers=N`` starts a local dask cluster of N processes,
    ``scheduler`` (``tcp://HOST:8786``) uses a running one. A failed area is recorded (areas.csv,
    ``BatchResult.failed``) and the others finish. Each area's full outputs go to
    ``out_dir/areas/<area>/``; the gathered tables to ``out_dir``. Like a single run, everything is
    written into a staging folder that replaces ``out_dir`` whole at the end. ``on_area(done, total,
    row)`` is called as each area finishes; ``task`` replaces the per-area function (tests).
    """
    with terminate_as_interrupt():
        done = BatchJob(
            batch, workers=workers, scheduler=scheduler, on_area=on_area, task=task
        ).run(Path(out_dir))
    r = done.computed
    failed = {a: str(e) for a, e in r.areas.loc[r.areas["status"] != "ok", "error"].items()}
    files = {n: p for n, p in done.files.items() if n in BATCH_OUTPUTS}
    return BatchResult(
        out_dir=done.out_dir,
        mode=r.mode,
        areas=r.areas,
        indicators=r.indicators,
        compliance=r.compliance,
        data_quality=r.quality,
        failed=failed,
        files=files,
        manifest=done.manifest or {},
    )


def _row(batch: Batch, i: int, res: dict) -> dict:
    """One row of areas.csv."""
    a = batch.areas[i]
    try:
        config = str(a.config_file.relative_to(batch.source_path.parent.resolve()))
    except ValueError:
        config = str(a.config_file)
    return {
        "area": a.name,
        "title": a.cfg.title or a.name,
        "config_file": config,
        "status": res["status"],
        "units": res.get("units") if res["status"] == "ok" else None,
        "seconds": res.get("seconds"),
        "host": res.get("host"),
        "error": res.get("error"),
    }
