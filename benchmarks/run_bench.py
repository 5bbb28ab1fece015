"""`make bench`: ditan run on synthetic cities of 10k, 100k and 1M street nodes, stage by stage.

Two variants of each city: the **partial** city (units on the central 47 % of each side, the
suburbs only network) and the **full-coverage** city (``--full``: every block a unit, as a
city-wide screening has it). For each size and variant the city is generated once into
``benchmarks/data/city_<size>/`` or ``city_<size>_full/`` (GeoParquet, GeoTIFF, an OSM PBF for
the partial city; see ``synth_city.py``), then ``ditan run`` runs in a fresh process
(``run_one.py``) so that its peak memory is its own. The streaming OSM reader is timed on the
partial city's PBF in another fresh process (the full city has the same streets). Results go to
``benchmarks/results/bench.json`` and the table between the ``bench`` markers of
``benchmarks/README.md``.

Usage: ``python benchmarks/run_bench.py [--sizes 10000 100000 1000000] [--full-sizes 100000 1000000]``
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from compare_peers import machine  # noqa: E402  (one machine description for both benchmarks)

DATA = HERE / "data"
RESULTS = HERE / "results"
README = HERE / "README.md"
START, END = "<!-- bench:start -->", "<!-- bench:end -->"


@dataclass
class Target:
    """What a run of one city must meet: whole-run seconds, peak MB, seconds per stage (and per named stage)."""

    wall_s: float
    peak_mb: float | None = None
    stage_s: float | None = None
    stages: dict[str, float] = field(default_factory=dict)

    def check(self, r: dict) -> list[str]:
        """The targets the run missed (empty: all met)."""
        missed = []
        if r["wall_s"] > self.wall_s:
            missed.append(f"whole run {r['wall_s']:.1f} s > {self.wall_s:.0f} s")
        if self.peak_mb is not None and r["peak_rss_mb"] > self.peak_mb:
            missed.append(f"peak {r['peak_rss_mb']:,.0f} MB > {self.peak_mb:,.0f} MB")
        for stage, sec in r["stages_s"].items():
            limit = self.stages.get(stage, self.stage_s)
            if limit is not None and sec > limit:
                missed.append(f"{stage} {sec:.1f} s > {limit:.0f} s")
        return missed

    def describe(self) -> str:
        parts = [f"whole run ≤ {self.wall_s:.0f} s"]
        if self.peak_mb is not None:
            parts.append(f"peak ≤ {self.peak_mb:,.0f} MB")
        if self.stage_s is not None:
            parts.append(f"every stage ≤ {self.stage_s:.0f} s")
        parts += [f"{k} ≤ {v:.0f} s" for k, v in self.stages.items()]
        return ", ".join(parts)


#: targets of the whole run by city (issue 17 for the full-coverage 1M city)
TARGETS = {
    "100k": Target(30.0),
    "1M": Target(300.0, 8192.0),
    "1M_full": Target(60.0, 4096.0, 15.0, {"roads": 10.0, "service areas": 10.0}),
}


def label(n: int, full: bool = False) -> str:
    base = f"{n // 1_000_000}M" if n >= 1_000_000 else f"{n // 1000}k"
    return f"{base}_full" if full else base


def column(key: str) -> str:
    """Table heading of a city: ``100k nodes``, ``100k full``."""
    return key.replace("_full", " full") if key.endswith("_full") else f"{key} nodes"


def ensure_city(n: int, full: bool = False) -> Path:
    out = DATA / f"city_{label(n, full)}"
    if not (out / "config.yaml").exists():
        t0 = time.perf_counter()
        cmd = [sys.executable, str(HERE / "synth_city.py"), str(n), str(out)]
        subprocess.run(cmd + (["--full", "--no-pbf"] if full else []), check=True)
        print(f"generated {out} in {time.perf_counter() - t0:.0f} s", flush=True)
    return out


OSM_READ = """
import json, resource, sys, time
from ditan.spatial.io.osm import read_osm
path = sys.argv[1]
t0 = time.perf_counter()
ext = read_osm(path)
dt = time.perf_counter() - t0
import osmium
n = w = 0
for o in osmium.FileProcessor(path):
    if o.is_node():
        n += 1
    elif o.is_way():
        w += 1
print(json.dumps({"seconds": dt, "nodes": n, "ways": w, "highway_ways_read": len(ext.ways),
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def run_city(n: int, full: bool = False) -> dict:
    key = label(n, full)
    city = ensure_city(n, full)
    res = RESULTS / f"run_{key}.json"
    t0 = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            str(HERE / "run_one.py"),
            str(city / "config.yaml"),
            str(RESULTS / f"out_{key}"),
            str(res),
        ],
        check=True,
    )
    out = json.loads(res.read_text(encoding="utf-8"))
    out["process_wall_s"] = round(time.perf_counter() - t0, 2)
    out["nodes_generated"] = n
    out["full_coverage"] = full
    out["input_mb"] = round(
        sum(p.stat().st_size for p in city.iterdir() if p.suffix in (".parquet", ".tif")) / 2**20, 1
    )
    pbf = city / "streets.osm.pbf"
    if pbf.exists():
        osm = subprocess.run(
            [sys.executable, "-c", OSM_READ, str(pbf)], check=True, capture_output=True, text=True
        )
        o = json.loads(osm.stdout)
        o["mb"] = pbf.stat().st_size / 2**20
        o["objects_per_s"] = (o["nodes"] + o["ways"]) / o["seconds"]
        o["mb_per_s"] = o["mb"] / o["seconds"]
        out["osm_pbf_read"] = o
    return out


def _growth(results: dict[str, dict], small: str, big: str, stages: list[str]) -> list[str]:
    a, b = results[small], results[big]
    bound = 10 * math.log(1e6) / math.log(1e5)
    units = b["units"] / a["units"]
    nodes = b["network"]["walk_nodes"] / a["network"]["walk_nodes"]
    homes = b["network"]["origins"] / a["network"]["origins"]
    lines = [
        "",
        f"Growth from {column(small)} to {column(big)}: O(n log n) allows ×{bound:.1f}. What the stages work on "
        f"grew ×{units:.1f} (units), ×{nodes:.1f} (walk nodes used) and ×{homes:.1f} (homes).",
        "",
        f"| stage | {column(small)} | {column(big)} | ×growth | within n log n |",
        "|---|---|---|---|---|",
    ]
    for s in stages:
        x, y = a["stages_s"].get(s, 0.0), b["stages_s"].get(s, 0.0)
        g = y / x if x > 0 else float("nan")
        ok = "✓" if (x < 0.05 and y < 0.5) or g <= bound else "✗"
        lines.append(f"| {s} | {x:.2f} s | {y:.2f} s | {g:.1f} | {ok} |")
    return lines


def table(results: dict[str, dict]) -> str:
    """The stage table, one column per city (partial cities, then the full-coverage ones)."""
    keys = sorted(
        results, key=lambda k: (results[k]["full_coverage"], results[k]["nodes_generated"])
    )
    stages = list(dict.fromkeys(k for c in keys for k in results[c]["stages_s"]))
    subs = list(dict.fromkeys(k for c in keys for k in results[c]["sub_stages_s"]))

    def row(name: str, cell) -> str:
        return f"| {name} | " + " | ".join(cell(results[c]) for c in keys) + " |"

    def stage_cell(s: str):
        return lambda r: "—" if s not in r["stages_s"] else f"{r['stages_s'][s]:.2f} s"

    def osm(r: dict) -> str:
        o = r.get("osm_pbf_read")
        if o is None:
            return "— (same streets)"
        return f"{o['seconds']:.1f} s, {o['objects_per_s'] / 1e6:.2f} M objects/s, {o['mb_per_s']:.1f} MB/s"

    def peak(r: dict) -> str:
        text = f"{r['peak_rss_mb']:,.0f} MB"
        if r.get("max_worker_processes"):
            text += f" ({r['max_worker_processes']} workers)"
        return text

    def after_load(r: dict) -> str:
        mb, before = r.get("rss_after_load_mb"), r.get("rss_before_run_mb")
        if mb is None or before is None:
            return "—"
        return f"{mb:,.0f} MB (inputs +{mb - before:,.0f} MB; peak = {r['peak_rss_mb'] / mb:.1f} × this)"

    lines = [
        "| stage | " + " | ".join(column(c) for c in keys) + " |",
        "|" + "---|" * (len(keys) + 1),
    ]
    lines += [row(s, stage_cell(s)) for s in stages]
    lines += [
        row(
            f"↳ {s}",
            lambda r, s=s: "—" if s not in r["sub_stages_s"] else f"{r['sub_stages_s'][s]:.2f} s",
        )
        for s in subs
    ]
    lines += [
        row("**whole run**", lambda r: f"**{r['wall_s']:.1f} s**"),
        row("peak memory", peak),
        row("memory after load (+ inputs loaded)", after_load),
        row(
            "walk-network nodes used / generated",
            lambda r: f"{r['network']['walk_nodes']:,} / {r['nodes_generated']:,}",
        ),
        row("units · homes (origins)", lambda r: f"{r['units']:,} · {r['network']['origins']:,}"),
        row("input files", lambda r: f"{r['input_mb']:,.0f} MB"),
        row(
            "communities.gpkg",
            lambda r: (
                "—"
                if "communities.gpkg" not in r["output_bytes"]
                else f"{r['output_bytes']['communities.gpkg'] / 2**20:,.0f} MB"
            ),
        ),
        row("OSM PBF read (pyosmium, streaming)", osm),
    ]
    for small, big in (("100k", "1M"), ("100k_full", "1M_full")):
        if small in results and big in results:
            lines += _growth(results, small, big, stages)
    checked = [k for k in keys if k in TARGETS]
    if checked:
        lines += ["", "| city | target | result |", "|---|---|---|"]
        for k in checked:
            missed = TARGETS[k].check(results[k])
            lines.append(
                f"| {column(k)} | {TARGETS[k].describe()} | "
                + ("met" if not missed else "**not met**: " + "; ".join(missed))
                + " |"
            )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--sizes",
        type=int,
        nargs="*",
        default=[10_000, 100_000, 1_000_000],
        help="street nodes of the partial cities (units on the central 47 %%)",
    )
    ap.add_argument(
        "--full-sizes",
        type=int,
        nargs="*",
        default=[100_000, 1_000_000],
        help="street nodes of the full-coverage cities (every block a unit)",
    )
    ap.add_argument(
        "--no-readme", action="store_true", help="do not rewrite the table in benchmarks/README.md"
    )
    ap.add_argument(
        "--json",
        type=Path,
        default=RESULTS / "bench.json",
        help="where to write the results (default benchmarks/results/bench.json)",
    )
    args = ap.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict] = {}
    for full, sizes in ((False, args.sizes), (True, args.full_sizes)):
        for n in sizes:
            key = label(n, full)
            print(f"== {column(key)}", flush=True)
            results[key] = r = run_city(n, full)
            print(
                f"   whole run {r['wall_s']:.1f} s, peak {r['peak_rss_mb']:,.0f} MB, stages {r['stages_s']}",
                flush=True,
            )
            if key in TARGETS:
                missed = TARGETS[key].check(r)
                print(
                    f"   target ({TARGETS[key].describe()}): "
                    + ("met" if not missed else "NOT MET: " + "; ".join(missed)),
                    flush=True,
                )
    doc = {"machine": machine(), "date": time.strftime("%Y-%m-%d"), "results": results}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(doc, indent=1, ensure_ascii=False), encoding="utf-8")
    text = table(results)
    print(text)
    if not args.no_readme and README.exists():
        readme = README.read_text(encoding="utf-8")
        if START in readme and END in readme:
            m = doc["machine"]
            block = (
                f"{START}\nMeasured {doc['date']} on {m['cpu']}, {m['cores']} cores, {m['ram_gb']} GB RAM, Python {m['python']}.\n\n"
                f"{text}\n{END}"
            )
            readme = readme[: readme.index(START)] + block + readme[readme.index(END) + len(END) :]
            README.write_text(readme, encoding="utf-8")


if __name__ == "__main__":
    main()
