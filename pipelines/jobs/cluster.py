"""Running the areas of a batch: one task per area, in this process or on a dask.distributed cluster.

A task (:func:`run_area`) receives plain data — the area's merged config and the folder its
relative paths are read from — runs :func:`ditan.pipelines.jobs.run.run` into a temporary folder on the
machine that runs it, and returns plain data: the indicator, compliance and data-quality tables,
the timings, the bytes of the area's output files, its log messages and warnings, and ``status``
``ok`` or ``failed`` with the error (type and message). It never raises for a failed area, so one
bad area cannot stop the others; a worker that dies (KilledWorker) or a task that cannot start on a
worker is turned into a failed area on the client side. Workers therefore need the input data at
the same paths as the client, but no shared output folder: the client writes every file.
"""

from __future__ import annotations

import logging
import shutil
import socket
import tempfile
import time
import traceback
import uuid
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from ditan.spatial.errors import ConfigError, DitanError, require

log = logging.getLogger(__name__)
#: the loggers whose messages a task collects and hands back to the client (prefixed with the area)
LOGGERS = ("ditan",)


class _Collect(logging.Handler):
    def __init__(self, level: int) -> None:
        super().__init__(level)
        self.records: list[tuple[int, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append((record.levelno, record.getMessage()))


@contextmanager
def _captured(level: int) -> Iterator[tuple[_Collect, list]]:
    """Collect the log records and warnings of a task instead of printing them (on a worker nobody sees them)."""
    handler = _Collect(level)
    loggers = [logging.getLogger(n) for n in LOGGERS]
    saved = [(lg.level, lg.propagate) for lg in loggers]
    for lg in loggers:
        lg.addHandler(handler)
        lg.setLevel(level)
        lg.propagate = False
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("default")
            warnings.filterwarnings(
                "ignore", category=PendingDeprecationWarning, module="rasterio"
            )  # its own Affine use
            yield handler, caught
    finally:
        for lg, (lvl, prop) in zip(loggers, saved, strict=True):
            lg.removeHandler(handler)
            lg.setLevel(lvl)
            lg.propagate = prop


def run_area(task: dict) -> dict:
    """Run one study area (``task`` from :meth:`ditan.pipelines.config.batch.Area.task`) and return plain data; never raises on failure."""
    t0 = time.perf_counter()
    out: dict = {
        "area": task["area"],
        "status": "failed",
        "error": None,
        "units": None,
        "timings_s": {},
        "host": socket.gethostname(),
        "indicators": None,
        "data_quality": None,
        "files": {},
    }
    tmp = Path(tempfile.mkdtemp(prefix=f"ditan-{task['area']}-"))
    with _captured(task.get("log_level", logging.INFO)) as (handler, caught):
        try:
            from ditan.pipelines.config.schema import parse_config
            from ditan.pipelines.jobs.run import run

            cfg = parse_config(task["data"], base_dir=Path(task["base_dir"]), source=task["source"])
            res = run(cfg, tmp / task["area"])
            out.update(
                status="ok",
                units=len(res.result.indicators),
                timings_s=res.manifest["timings_s"],
                indicators=res.result.indicators,
                data_quality=res.quality,
                files={
                    p.name: p.read_bytes() for p in sorted(res.out_dir.iterdir()) if p.is_file()
                },
            )
        except Exception as exc:  # a failed area is data, not an exception: the other areas go on
            out["error"] = f"{type(exc).__name__}: {exc}"
            if not isinstance(exc, DitanError):
                out["traceback"] = traceback.format_exc()
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    out["log"] = handler.records
    out["warnings"] = list(dict.fromkeys(f"{w.category.__name__}: {w.message}" for w in caught))
    out["seconds"] = round(time.perf_counter() - t0, 3)
    return out


def failure(area: str, exc: BaseException) -> dict:
    """The result of an area whose task did not return (its worker died, or the task could not start there)."""
    name = type(exc).__name__
    hint = ""
    if name == "KilledWorker":
        hint = " — the worker running it died (out of memory?); fewer --workers give each more memory (工作进程退出)"
    elif isinstance(exc, ModuleNotFoundError | ImportError):
        hint = " — is ditan installed on every dask worker (pip install ditan in the worker's environment)?"
    return {
        "area": area,
        "status": "failed",
        "error": f"{name}: {exc}{hint}",
        "units": None,
        "timings_s": {},
        "host": None,
        "indicators": None,
        "data_quality": None,
        "files": {},
        "seconds": None,
    }


def _connect(scheduler: str):
    from distributed import Client
    from distributed.comm import parse_address, parse_host_port

    try:
        scheme, location = parse_address(scheduler)
        if scheme in ("tcp", "tls"):
            parse_host_port(
                location
            )  # checked first: a Client made with a bad address hangs when it is collected
        client = Client(scheduler, set_as_default=False)
    except (
        OSError,
        TimeoutError,
        ValueError,
    ) as exc:  # refused, timed out, or not an address (missing port …)
        raise ConfigError(
            f"cannot reach the dask scheduler at {scheduler} ({type(exc).__name__}: {exc}); start one with "
            "`dask scheduler` and workers with `dask worker tcp://HOST:8786` (无法连接调度器)"
        ) from None
    n = len(client.scheduler_info().get("workers", {}))
    if n == 0:
        log.warning(
            "the dask scheduler at %s has no workers yet: the areas wait until `dask worker %s` runs somewhere",
            scheduler,
            scheduler,
        )
    else:
        log.info("dask scheduler %s: %d worker(s)", scheduler, n)
    return client


def execute(
    tasks: list[dict],
    done: Callable[[int, dict], None],
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    task: Callable[[dict], dict] | None = None,
) -> str:
    """Run every task, calling ``done(index, result)`` as each finishes; return how they ran.

    No ``workers`` and no ``scheduler``: in this process, in order ("serial"). ``workers``: a local
    dask cluster of that many single-threaded processes. ``scheduler``: a running dask scheduler.
    """
    fn = task or run_area
    if workers is None and scheduler is None:
        for i, t in enumerate(tasks):
            done(i, fn(t))
        return "serial"
    require("distributed")  # DependencyError with the install hint (ditan[cluster])
    from distributed import Client, LocalCluster, as_completed

    cluster = client = None
    try:
        if scheduler is not None:
            client, mode = _connect(scheduler), scheduler
        else:
            cluster = LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
            )
            client, mode = (
                Client(cluster, set_as_default=False),
                f"local cluster, {workers} workers",
            )
        run_id = uuid.uuid4().hex[:8]
        futures = client.map(
            fn, tasks, key=[f"ditan-area-{t['area']}-{run_id}" for t in tasks], pure=False
        )
        index = {f.key: i for i, f in enumerate(futures)}
        for fut in as_completed(futures, loop=client.loop):
            i = index[fut.key]
            try:
                res = fut.result()
            except (
                Exception
            ) as exc:  # KilledWorker, CancelledError, a task that could not be unpickled …
                res = failure(tasks[i]["area"], exc)
            fut.release()
            done(i, res)
        return mode
    finally:
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()
