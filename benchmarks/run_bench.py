"""`make bench`: ditan run on synthetic cities of 10k, 100k and 1M street nodes, stage by stage.

For each size the city is generated once into ``benchmarks/data/city_<size>/`` (GeoParquet,
GeoTIFF and an OSM PBF; see ``synth_city.py``), then ``ditan run`` runs in a fresh process
(``run_one.py``) so that its peak memory is its own. The streaming OSM reader is timed on the
city's PBF in another fresh process. Results go to ``benchmarks/results/bench.json`` and the
table between the ``bench`` markers of ``benchmarks/README.md``.

Usage: ``python benchmarks/run_bench.py [--sizes 10000 100000 1000000]``
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from compare_peers import machine  # noqa: E402  (one machine description for both benchmarks)

DATA = HERE / "data"
RESULTS = HERE / "results"
README = HERE / "README.md"
START, END = "<!-- bench:start -->", "<!-- bench:end -->"
#: targets of the whole run (seconds, MB) by size
TARGETS = {100_000: (30.0, None), 1_000_000: (300.0, 8192.0)}

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


def label(n: int) -> str:
    return f"{n // 1_000_000}M" if n >= 1_000_000 else f"{n // 1000}k"


def ensure_city(n: int) -> Path:
    out = DATA / f"city_{label(n)}"
    if not (out / "config.yaml").exists():
        t0 = time.perf_counter()
        subprocess.run([sys.executable, str(HERE / "synth_city.py"), str(n), str(out)], check=True)
        print(f"generated {out} in {time.perf_counter() - t0:.0f} s", flush=True)
    return out


def run_size(n: int) -> dict:
    city = ensure_city(n)
    res = RESULTS / f"run_{label(n)}.json"
    t0 = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            str(HERE / "run_one.py"),
            str(city / "config.yaml"),
            str(RESULTS / f"out_{label(n)}"),
            str(res),
        ],
        check=True,
    )
    out = json.loads(res.read_text(encoding="utf-8"))
    out["process_wall_s"] = round(time.perf_counter() - t0, 2)
    pbf = city / "streets.osm.pbf"
    osm = subprocess.run(
        [sys.executable, "-c", OSM_READ, str(pbf)], check=True, capture_output=True, text=True
    )
    o = json.loads(osm.stdout)
    o["mb"] = pbf.stat().st_size / 2**20
    o["objects_per_s"] = (o["nodes"] + o["ways"]) / o["seconds"]
    o["mb_per_s"] = o["mb"] / o["seconds"]
    out["osm_pbf_read"] = o
    out["nodes_generated"] = n
    return out


def table(results: dict[int, dict]) -> str:
    sizes = sorted(results)
    stages = list(dict.fromkeys(k for n in sizes for k in results[n]["stages_s"]))
    subs = list(dict.fromkeys(k for n in sizes for k in results[n]["sub_stages_s"]))
    head = "| stage | " + " | ".join(f"{label(n)} nodes" for n in sizes) + " |"
    lines = [head, "|" + "---|" * (len(sizes) + 1)]
    for s in stages:
        lines.append(
            f"| {s} | "
            + " | ".join(f"{results[n]['stages_s'].get(s, 0):.2f} s" for n in sizes)
            + " |"
        )
    for s in subs:
        lines.append(
            f"| ↳ {s} | "
            + " | ".join(f"{results[n]['sub_stages_s'].get(s, 0):.2f} s" for n in sizes)
            + " |"
        )
    lines.append(
        "| **whole run** | " + " | ".join(f"**{results[n]['wall_s']:.1f} s**" for n in sizes) + " |"
    )
    lines.append(
        "| peak memory | "
        + " | ".join(f"{results[n]['peak_rss_mb']:,.0f} MB" for n in sizes)
        + " |"
    )
    lines.append(
        "| walk-network nodes used / generated | "
        + " | ".join(f"{results[n]['network']['walk_nodes']:,} / {n:,}" for n in sizes)
        + " |"
    )
    lines.append(
        "| units · homes (origins) | "
        + " | ".join(
            f"{results[n]['units']:,} · {results[n]['network']['origins']:,}" for n in sizes
        )
        + " |"
    )
    lines.append(
        "| OSM PBF read (pyosmium, streaming) | "
        + " | ".join(
            f"{results[n]['osm_pbf_read']['seconds']:.1f} s, {results[n]['osm_pbf_read']['objects_per_s'] / 1e6:.2f} M objects/s, "
            f"{results[n]['osm_pbf_read']['mb_per_s']:.1f} MB/s"
            for n in sizes
        )
        + " |"
    )
    if 100_000 in results and 1_000_000 in results:
        a, b = results[100_000], results[1_000_000]
        bound = 10 * math.log(1e6) / math.log(1e5)
        units = b["units"] / a["units"]
        nodes = b["network"]["walk_nodes"] / a["network"]["walk_nodes"]
        homes = b["network"]["origins"] / a["network"]["origins"]
        lines += [
            "",
            f"Growth from 100k to 1M generated nodes: O(n log n) allows ×{bound:.1f}. What the stages work on grew "
            f"×{units:.1f} (units), ×{nodes:.1f} (walk nodes used) and ×{homes:.1f} (homes).",
            "",
            "| stage | 100k | 1M | ×growth | within n log n |",
            "|---|---|---|---|---|",
        ]
        for s in stages:
            x, y = a["stages_s"].get(s, 0.0), b["stages_s"].get(s, 0.0)
            g = y / x if x > 0 else float("nan")
            ok = "✓" if (x < 0.05 and y < 0.5) or g <= bound else "✗"
            lines.append(f"| {s} | {x:.2f} s | {y:.2f} s | {g:.1f} | {ok} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument(
        "--no-readme", action="store_true", help="do not rewrite the table in benchmarks/README.md"
    )
    args = ap.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    results = {}
    for n in args.sizes:
        print(f"== {label(n)} nodes", flush=True)
        results[n] = run_size(n)
        r = results[n]
        print(
            f"   whole run {r['wall_s']:.1f} s, peak {r['peak_rss_mb']:,.0f} MB, stages {r['stages_s']}",
            flush=True,
        )
        target = TARGETS.get(n)
        if target:
            t_ok = r["wall_s"] < target[0]
            m_ok = target[1] is None or r["peak_rss_mb"] < target[1]
            print(
                f"   target < {target[0]:.0f} s{'' if target[1] is None else f' and < {target[1]:,.0f} MB'}: "
                f"{'met' if t_ok and m_ok else 'NOT MET'}",
                flush=True,
            )
    doc = {
        "machine": machine(),
        "date": time.strftime("%Y-%m-%d"),
        "results": {label(n): results[n] for n in results},
    }
    (RESULTS / "bench.json").write_text(
        json.dumps(doc, indent=1, ensure_ascii=False), encoding="utf-8"
    )
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
