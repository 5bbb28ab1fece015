"""Run ``ditan run`` once on one config and write its stage timings and peak memory as JSON.

Run in a fresh process per city (``benchmarks/run_bench.py`` does so) so that the peak resident
memory (``ru_maxrss``) belongs to that run alone. Besides ditan's own stages (the ``Timer`` of
``ditan run``), the work inside ``load`` and ``network distances`` is split by timing the
functions that do it: reading files, projecting, snapping points to the network and the
shortest-path search.

Memory: ``peak_rss_mb`` is the peak resident memory of the run — of this process, or, when the
run starts worker processes, the largest sum over this process and its descendants seen by a
sampler every 0.1 s (``peak_tree_rss_mb``; RSS of forked workers counts pages they share with
the parent twice, so the sum is an upper bound). After each stage the resident memory of this
process and the peak so far are recorded (``memory_after_stage_mb``), so that the memory kept
after the loading (``rss_after_load_mb``, about the loaded inputs) and the stage where the peak
was reached can be read off.

Usage: ``python benchmarks/run_one.py CONFIG OUT_DIR RESULT_JSON``
"""

from __future__ import annotations

import functools
import json
import os
import resource
import sys
import threading
import time
import warnings
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PAGE_MB = os.sysconf("SC_PAGE_SIZE") / 2**20

#: sub-stages: (module, function) → label; their time is also inside a ditan stage
PROBES = {
    ("ditan.pipelines.assemble.load", "_read"): "load: read files",
    ("ditan.pipelines.assemble.reading", "_read"): "load: read files",
    ("ditan.pipelines.assemble.parcels", "_read"): "load: read files",
    ("ditan.pipelines.assemble.buildings", "_read"): "load: read files",
    ("ditan.pipelines.assemble.load", "read_osm"): "load: read OSM",
    ("ditan.pipelines.assemble.reading", "to_metric"): "load: project",
    ("ditan.pipelines.assemble.units", "clean_geometries"): "load: validate geometries",
    ("ditan.pipelines.assemble.roads", "clean_geometries"): "load: validate geometries",
    ("ditan.pipelines.assemble.parcels", "clean_geometries"): "load: validate geometries",
    ("ditan.pipelines.assemble.buildings", "clean_geometries"): "load: validate geometries",
    ("ditan.pipelines.compute.indicators", "build_network"): "network: build",
    ("ditan.pipelines.compute.distances", "snap_points"): "network: snap points",
    ("ditan.pipelines.compute.distances", "group_distances"): "network: shortest paths (csgraph)",
    ("ditan.pipelines.compute.distances", "point_distances"): "network: origin distances",
}
MAP_PROBES = {
    "build_map": "map: build layers",
    "map_html": "map: render html",
}  # ditan.maps.interactive, imported by run()


def _probe(seconds: dict[str, float], label: str, fn):
    @functools.wraps(fn)
    def timed(*args, **kwargs):
        t0 = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            seconds[label] += time.perf_counter() - t0

    return timed


def _rss_mb(pid: int) -> float:
    """Resident memory of one process (0 when it has gone)."""
    try:
        with open(f"/proc/{pid}/statm", encoding="ascii") as f:
            return int(f.read().split()[1]) * PAGE_MB
    except (OSError, IndexError, ValueError):
        return 0.0


def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children", encoding="ascii") as f:
                out.extend(int(c) for c in f.read().split())
    except OSError:
        pass
    return out


class TreeSampler(threading.Thread):
    """Largest resident memory of this process plus its descendants, sampled every ``interval`` s."""

    def __init__(self, interval: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.interval = interval
        self.peak_mb = 0.0
        self.max_workers = 0
        self._halt = threading.Event()

    def run(self) -> None:
        me = os.getpid()
        while not self._halt.wait(self.interval):
            pending, seen = _children(me), []
            while pending:  # descendants, depth first
                pid = pending.pop()
                seen.append(pid)
                pending.extend(_children(pid))
            if seen:  # without workers, ru_maxrss is exact and cheaper
                self.max_workers = max(self.max_workers, len(seen))
                self.peak_mb = max(self.peak_mb, _rss_mb(me) + sum(_rss_mb(p) for p in seen))

    def stop(self) -> None:
        self._halt.set()
        self.join()


def _peak_self_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def memory_timer(timer_cls: type, memory: dict[str, dict[str, float]]) -> object:
    """A ditan ``Timer`` that also records, after each stage, this process's resident memory and peak so far."""

    class MemoryTimer(timer_cls):  # type: ignore[misc, valid-type]
        @contextmanager
        def stage(self, name: str) -> Iterator[None]:
            with super().stage(name):
                yield
            memory[name] = {
                "rss_mb": round(_rss_mb(os.getpid()), 1),
                "peak_so_far_mb": round(_peak_self_mb(), 1),
            }

    return MemoryTimer()


def main(config: str, out_dir: str, result: str) -> None:
    """Run the config with probes installed and write the timings and memory to ``result``."""
    t_start = time.perf_counter()
    import importlib

    from ditan.pipelines.compute.indicators import Timer
    from ditan.pipelines.config.schema import load_config

    sub: dict[str, float] = defaultdict(float)
    for (module, name), label in PROBES.items():
        mod = importlib.import_module(module)
        if hasattr(mod, name):
            setattr(mod, name, _probe(sub, label, getattr(mod, name)))
    import ditan.maps.interactive as mi
    import ditan.pipelines.jobs.run as run_job

    for name, label in MAP_PROBES.items():
        setattr(mi, name, _probe(sub, label, getattr(mi, name)))
    t_imports = time.perf_counter() - t_start

    cfg = load_config(config)
    memory: dict[str, dict[str, float]] = {}
    timer = memory_timer(Timer, memory)
    sampler = TreeSampler()
    rss_start = _rss_mb(os.getpid())
    sampler.start()
    t0 = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = run_job.run(cfg, Path(out_dir), timer=timer)
    finally:
        sampler.stop()
    wall = time.perf_counter() - t0
    peak_self = _peak_self_mb()
    peak_children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    sizes = {p.name: p.stat().st_size for p in Path(out_dir).iterdir()}
    Path(result).write_text(
        json.dumps(
            {
                "config": config,
                "wall_s": round(wall, 3),
                "imports_s": round(t_imports, 3),
                "stages_s": timer.seconds,
                "sub_stages_s": {k: round(v, 3) for k, v in sub.items()},
                "peak_rss_mb": round(max(peak_self, sampler.peak_mb), 1),
                "peak_self_rss_mb": round(peak_self, 1),
                "peak_tree_rss_mb": round(sampler.peak_mb, 1),
                "largest_worker_rss_mb": round(peak_children, 1),
                "max_worker_processes": sampler.max_workers,
                "rss_before_run_mb": round(rss_start, 1),
                "rss_after_load_mb": memory.get("load", {}).get("rss_mb"),
                "memory_after_stage_mb": memory,
                "network": out.manifest["network"],
                "units": out.manifest["units"],
                "output_bytes": sizes,
                "ledger": out.quality.to_dict(orient="records"),
            },
            indent=1,
            default=str,
        ),
        encoding="utf-8",
    )


if __name__ == "__main__":
    main(*sys.argv[1:4])
