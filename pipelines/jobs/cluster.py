"""Running the areas of a batch: one task per area, in this process or on a dask.distributed cluster.

A task (:func:`run_area`) receives plain data — the area's merged config and the folder its
relative paths are read from — runs :func:`ditan.pipelines.jobs.run.run` into a temporary folder on the
machine that runs it, and returns plain data: the indicator, compliance and data-quality tables,
the timings, the bytes of the area's output files, its log messages and warnings, and ``status``
``ok`` or ``failed`` with the error (type and message). It never raises for a failed area, so one
bad area cannot stop the others; a worker that dies (KilledWorker) or a task that cannot start on a
worker is turned into a failed area on the client side. Workers therefore need the input data at
the same paths as the client, but no shared output folder: the client writes every file.

A batch's ``area_timeout_s`` gives each area a time limit (:func:`run_timed`, :func:`deadline`): when it
is up, :class:`AreaTimedOut` is raised inside the area's run, which unwinds (its temporary files removed)
and the area is listed failed, "timed out after N s"; the batch goes on and publishes the others. The
limit is checked between Python steps: a single long call into C (one GEOS operation on a huge geometry,
a database query — which has its own statement timeout) finishes before the area stops. In the main
thread (a serial batch) the alarm signal (SIGALRM) also breaks a wait on the network or a sleep; on a
dask worker, or where there is no SIGALRM, a watchdog thread raises the exception in the area's thread.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
import traceback
import uuid
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

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


#: an area's time being up is raised again after this many seconds while the area still runs: an exception
#: raised from a signal handler or set asynchronously can land where Python only reports it (a weakref callback)
RETRY_S = 0.5


class AreaTimedOut(BaseException):
    """An area's time (the batch's ``area_timeout_s``) is up.

    A BaseException, as KeyboardInterrupt is, so that no ``except Exception`` of the pipeline swallows it
    and every ``finally`` on the way out runs.
    """


@contextmanager
def deadline(seconds: float | None) -> Iterator[None]:
    """Raise :class:`AreaTimedOut` in this thread when ``seconds`` have passed inside the block (None: no limit).

    In the main thread, with SIGALRM and no alarm already set by someone else: a one-shot ITIMER_REAL
    whose handler raises (it also breaks a sleep or a network wait). Elsewhere (a dask worker's thread,
    Windows, an alarm in use): a watchdog thread that sets the exception asynchronously in this thread
    (``PyThreadState_SetAsyncExc``). Either way the exception arrives between Python steps (a long call
    into C finishes first), and it is raised again every :data:`RETRY_S` until the block is left, since one
    raised inside a weakref callback or ``__del__`` is only reported by Python, not propagated.
    """
    if seconds is None:
        yield
        return
    before = sys.unraisablehook

    def quiet(
        u: Any,
    ) -> None:  # a raise Python swallowed is raised again (RETRY_S): not worth a report
        if not isinstance(u.exc_value, AreaTimedOut):
            before(u)

    sys.unraisablehook = quiet
    try:
        with _deadline(seconds):
            yield
    finally:
        sys.unraisablehook = before


@contextmanager
def _deadline(seconds: float) -> Iterator[None]:
    in_main = threading.current_thread() is threading.main_thread()
    if in_main and hasattr(signal, "setitimer") and signal.getitimer(signal.ITIMER_REAL)[0] == 0.0:
        armed = [True]

        def on_alarm(signum: int, frame: object) -> None:
            if armed[0]:
                # again in a while, in case this one lands where Python swallows it (a weakref callback, __del__)
                signal.setitimer(signal.ITIMER_REAL, RETRY_S)
                raise AreaTimedOut(seconds)

        previous = signal.signal(signal.SIGALRM, on_alarm)
        try:
            signal.setitimer(signal.ITIMER_REAL, seconds)
            yield
        finally:
            armed[0] = False
            try:
                signal.setitimer(signal.ITIMER_REAL, 0)
            finally:
                signal.signal(signal.SIGALRM, previous)
        return
    target = threading.get_ident()
    lock = threading.Lock()
    live = [True]

    done = threading.Event()

    def fire() -> None:
        if done.wait(seconds):
            return
        while True:  # again in a while, in case one lands where Python swallows it (a weakref callback, __del__)
            with lock:
                if not live[0]:
                    return
                ctypes.pythonapi.PyThreadState_SetAsyncExc(
                    ctypes.c_ulong(target), ctypes.py_object(AreaTimedOut)
                )
            if done.wait(RETRY_S):
                return

    watchdog = threading.Thread(target=fire, daemon=True, name="ditan-area-deadline")
    watchdog.start()
    try:
        yield
    finally:
        with lock:
            live[0] = False
        done.set()


def run_timed(fn: Callable[[dict], dict], task: dict) -> dict:
    """``fn(task)`` within the task's ``timeout_s`` (None: no limit); a task whose time is up is a failed area."""
    limit = task.get("timeout_s")
    t0 = time.perf_counter()
    try:
        with deadline(limit):
            return fn(task)
    except AreaTimedOut:
        seconds = round(time.perf_counter() - t0, 3)
        log.debug("%s: timed out after %s s", task["area"], limit)
        return {
            **_no_result(task["area"]),
            "error": timed_out_message(float(limit)),
            "host": socket.gethostname(),
            "seconds": seconds,
        }


def timed_out_message(limit: float) -> str:
    """The error of an area whose time was up (areas.csv, the console)."""
    return (
        f"timed out after {limit:g} s 超时 (area_timeout_s: {limit:g} in the batch config); its outputs were "
        "discarded and the other areas went on — raise area_timeout_s, or run this area alone to see where it stalls"
    )


def failure(area: str, exc: BaseException) -> dict:
    """The result of an area whose task did not return (its worker died, or the task could not start there)."""
    name = type(exc).__name__
    hint = ""
    if name == "KilledWorker":
        hint = " — the worker running it died (out of memory?); fewer --workers give each more memory (工作进程退出)"
    elif isinstance(exc, ModuleNotFoundError | ImportError):
        hint = " — is ditan installed on every dask worker (pip install ditan in the worker's environment)?"
    return {**_no_result(area), "error": f"{name}: {exc}{hint}"}


def _no_result(area: str) -> dict:
    """A failed area's result with nothing in it (its error to be set)."""
    return {
        "area": area,
        "status": "failed",
        "error": None,
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
    Each task runs within its ``timeout_s`` (:func:`run_timed`), where it runs: on a cluster the limit
    counts from when a worker starts the area, not from when it was queued.
    """
    fn = task or run_area
    if workers is None and scheduler is None:
        for i, t in enumerate(tasks):
            done(i, run_timed(fn, t))
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
            functools.partial(run_timed, fn),
            tasks,
            key=[f"ditan-area-{t['area']}-{run_id}" for t in tasks],
            pure=False,
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
