"""Run ``ditan run`` once on one config and write its stage timings and peak memory as JSON.

Run in a fresh process per city (``benchmarks/run_bench.py`` does so) so that the peak resident
memory (``ru_maxrss``) belongs to that run alone. Besides ditan's own stages (the ``Timer`` of
``ditan run``), the work inside ``load`` and ``network distances`` is split by timing the
functions that do it: reading files, projecting, snapping points to the network and the
shortest-path search.

Usage: ``python benchmarks/run_one.py CONFIG OUT_DIR RESULT_JSON``
"""

from __future__ import annotations

import functools
import json
import resource
import sys
import time
import warnings
from collections import defaultdict
from pathlib import Path

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
    timer = Timer()
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = run_job.run(cfg, Path(out_dir), timer=timer)
    wall = time.perf_counter() - t0
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    sizes = {p.name: p.stat().st_size for p in Path(out_dir).iterdir()}
    Path(result).write_text(
        json.dumps(
            {
                "config": config,
                "wall_s": round(wall, 3),
                "imports_s": round(t_imports, 3),
                "stages_s": timer.seconds,
                "sub_stages_s": {k: round(v, 3) for k, v in sub.items()},
                "peak_rss_mb": round(peak_kb / 1024, 1),
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
