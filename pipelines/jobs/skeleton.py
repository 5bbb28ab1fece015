"""The one job skeleton: output folder check → load → compute → staged write → manifest.

Every job of ditan (``run``, ``screen``, ``check-parcels``, ``annex``, a batch of runs) is a :class:`Job`.
A job supplies only its own steps:

- :meth:`Job.allowed`: which names a previous run of the job may have left in the output folder (any other
  file there stops the job before any work: the folder is replaced whole);
- :meth:`Job.load`: its inputs (a study area, a profile, parcels …), timed as the stage ``load``;
- :meth:`Job.compute`: its results, in memory (tables, rendered pages);
- :meth:`Job.write`: its files, into the staging folder;
- :meth:`Job.manifest`: its manifest, from the entries every manifest shares (or no manifest);
- :meth:`Job.publish`: what goes elsewhere (a database) once the manifest is written.

:meth:`Job.run` owns the order and the guarantees, the same for every job: one run at a time holds an output
folder (a file lock; another run of it waits, or stops with ``wait=False``); nothing is loaded before the
output folder is checked; nothing is written before everything is computed; the files appear together
(the staging folder replaces the output folder whole, :func:`ditan.pipelines.outputs.staging.staged_dir`),
so an interrupted or failed job leaves the previous outputs as they were. To add a job, subclass
:class:`Job` in a module of ``pipelines/jobs/`` and give the CLI a sub-command that runs it.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, TypeVar

from ditan.pipelines.compute.timer import Timer
from ditan.pipelines.outputs import files as write
from ditan.pipelines.outputs import staging
from ditan.pipelines.outputs.manifest import base_entries

__all__ = ["Context", "Done", "Job", "MANIFEST"]

MANIFEST = "manifest.json"
L = TypeVar("L")  # what a job loads
C = TypeVar("C")  # what it computes


@dataclass
class Context:
    """What every step of one run of a job may use."""

    out_dir: Path
    timer: Timer
    started: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))


@dataclass
class Done(Generic[C]):
    """A finished job: what it computed, the files it wrote (name → final path) and its manifest."""

    out_dir: Path
    computed: C
    files: dict[str, Path]
    manifest: dict | None
    context: Context


class Job(Generic[L, C]):
    """One job: its own steps; :meth:`run` runs them in the skeleton's order."""

    #: the manifest's file name; None: the job writes no manifest
    manifest_name: str | None = MANIFEST

    def allowed(self, name: str) -> bool:
        """Whether ``name``, found in the output folder, is a file of this job (the swap may replace it)."""
        raise NotImplementedError

    def check_folder(self, out_dir: Path) -> None:
        """Stop before any work if ``out_dir`` holds anything the job did not write."""
        staging.check_output_folder(out_dir, self.allowed)

    def load(self, ctx: Context) -> L:
        raise NotImplementedError

    def compute(self, loaded: L, ctx: Context) -> C:
        raise NotImplementedError

    def write(self, computed: C, stage: Path, ctx: Context) -> list[str]:
        """Write the job's files into ``stage``; return the names written at its top (files or folders)."""
        raise NotImplementedError

    def manifest(self, computed: C, base: dict, ctx: Context) -> dict:
        """The job's manifest: ``base`` (:func:`ditan.pipelines.outputs.manifest.base_entries`) and its own entries."""
        return base

    def publish(self, computed: C, manifest: dict | None, ctx: Context) -> None:
        """After the manifest, inside the staging block: a failure here leaves the previous outputs."""

    def results(self, *, timer: Timer | None = None) -> C:
        """Load and compute only: the job's results in memory; no folder is checked or written (the Python API)."""
        ctx = Context(out_dir=Path(os.devnull), timer=timer or Timer())
        with ctx.timer.stage("load"):
            loaded = self.load(ctx)
        return self.compute(loaded, ctx)

    def run(
        self, out_dir: Path, *, timer: Timer | None = None, wait: bool | None = None
    ) -> Done[C]:
        """Hold the folder, check it, load, compute, write into a staging folder, add the manifest, swap it in.

        ``wait``: whether to wait for another run writing ``out_dir`` (True) or stop at once with
        :class:`~ditan.pipelines.outputs.staging.OutputBusy` (False); None: the CLI's choice (``--no-wait``), else wait.
        ``out_dir`` a symbolic link: the folder it points to is replaced (the link stays).
        """
        out_dir = Path(out_dir)
        with staging.output_lock(out_dir, wait=wait) as folder:  # one run at a time per folder
            self.check_folder(out_dir)  # before any work, not after
            ctx = Context(out_dir=folder, timer=timer or Timer())
            with ctx.timer.stage("load"):
                loaded = self.load(ctx)
            computed = self.compute(loaded, ctx)
            manifest = None
            with staging.staged_dir(out_dir, allowed=self.allowed) as stage:
                names = list(self.write(computed, stage, ctx))
                if self.manifest_name is not None:
                    names.append(self.manifest_name)
                    staged = {name: stage / name for name in names}
                    base = base_entries(ctx.started, staged, ctx.timer.seconds)
                    manifest = self.manifest(computed, base, ctx)
                    write.write_json(stage / self.manifest_name, manifest)
                self.publish(computed, manifest, ctx)
        files = {name: out_dir / name for name in names}
        return Done(out_dir=out_dir, computed=computed, files=files, manifest=manifest, context=ctx)
