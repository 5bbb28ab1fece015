"""ditan's life-circle distance stage side by side with pandana, cityseer, networkx and plain scipy.

Every tool answers the same question on the same graph with the same facilities, each run once
per size; the script checks that the answers agree and prints the times and their ratios.

Workload, for a synthetic city of ``n`` street nodes (``benchmarks/synth_city.py``, seed 7):

- **graph**: ``ditan.spatial.engine.network.build_network`` on all the synthetic streets (every class). Every
  tool gets exactly this graph — node ids 0..n-1 with ditan's coordinates, ditan's undirected
  edges (u, v) and their lengths: a networkx ``Graph`` (edge attribute ``length``), a pandana
  ``Network(node_x, node_y, edge_from, edge_to, edge_weights[["length"]])``, a cityseer
  ``rustalgos.graph.NetworkStructure`` (one street node per ditan node, each edge added in both
  directions as a straight two-point line, so its length is ditan's), and a scipy CSR matrix
  (``Network.csr()``). Generating the city and building/converting the graphs is not timed
  (conversion times are reported separately).
- **facilities**: the POIs of the 10 life-circle categories ``CATEGORIES`` and the stations of
  kinds ``STATION_KINDS``, each attached to its nearest graph node (scipy ``cKDTree``). All peers
  attach facilities to nodes, so they are given the node's exact coordinates (pandana and cityseer
  then map each to that same node); ditan is given a ``Snap`` that puts each facility exactly on
  that node (an incident edge, t = 0 or 1, access 0), so ditan answers the node-to-node question.
- **question**: for every node, the network distance to the nearest facility of each of the 10
  categories, capped at 1000 m, and to the nearest station of each of the 3 kinds, capped at
  500 m; beyond the cap: not found (inf).
- **setup and query**: each tool's time is split into *setup* (what it builds from the graph
  before it can answer: ditan's and scipy's CSR matrix, networkx's ``Graph``, pandana's
  ``Network(...)`` contraction hierarchy, cityseer's ``NetworkStructure`` with its edge R-tree)
  and *query* (the distance computation). A planner running one city pays both, so the table
  shows both and their sum. Building ditan's graph from the street lines (``build_network``) is
  common to all and shown once per size. A runner may report its own ``setup_s`` (e.g. a
  compiled kernel's first-call compilation); otherwise ditan's setup is the CSR build.
- **implementations**:

  1. *ditan*: one ``group_distances`` call for all 13 groups, each with its own cutoff. Below
     ``network.FAST_MIN_NODES`` nodes: one ``csgraph.dijkstra`` per distinct cutoff, from the groups'
     virtual sources (10 at 1000 m, 3 at 500 m); above, the compiled bucket-queue search
     (``spatial/engine/fast_distances.py``: tile by tile, on both cores), whose loading is its setup.
     Separately, *ditan full path*: the same answer from arbitrary points, as the pipeline does it
     — ``nearest_by_group`` (snap the facility points and the node points as origins to their
     nearest edges within 100 m, ``group_distances``, ``point_distances``). It attaches
     facilities to edges, not nodes, so it is timed but not held to the 1 m check.
  2. *scipy* (the plain multi-source baseline and the reference answer): per group
     ``csgraph.dijkstra(csr, indices=nodes_of_group, min_only=True, limit=cutoff)``.
  3. *networkx*: per group ``multi_source_dijkstra_path_length(G, sources, cutoff=cutoff,
     weight="length")``.
  4. *pandana*: ``precompute(1000)``, then per group ``set_pois(group, 1000, 1, x, y)`` and
     ``nearest_pois(cutoff, group, num_pois=1)``. Timed: precompute + set_pois + nearest_pois;
     the ``Network(...)`` constructor (contraction hierarchy) is reported separately.
  5. *cityseer*: a ``DataMap`` of all facilities (WKT points at their nodes), assigned to the
     network (``assign_data_to_network``, 100 m), then one ``DataMap.accessibility`` call for
     all 13 groups at distance 1000 (speed 1 m/s, so seconds equal metres and no rounding enters
     the cut-off); the nearest distance per node and group is read from ``result[g].distance``,
     station groups cut at 500 m. Timed: data map + assignment + accessibility. cityseer runs on
     all cores (rayon); the others run on one.

- **correctness**: each tool's (13, n) matrix is compared with scipy's per node and group:
  found/not-found must agree and found distances must agree to 1 m. The maximum difference and
  the number of mismatches are printed per tool.

Run with the benchmark venv (peers are not ditan dependencies)::

    python3 -m venv .venv-bench
    .venv-bench/bin/pip install -e . -r benchmarks/requirements-peers.txt
    .venv-bench/bin/python benchmarks/compare_peers.py --sizes 10000 100000 --json benchmarks/results/peers.json
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import sys
import time
from importlib import metadata
from pathlib import Path

import numpy as np
import shapely
from scipy.sparse import csgraph
from scipy.spatial import cKDTree

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from synth_city import generate  # noqa: E402

from ditan.spatial.engine.network import Snap, build_network, group_distances, nearest_by_group  # noqa: E402

CATEGORIES = (
    "convenience_store", "kindergarten", "community_service", "elderly_daycare", "playground",
    "primary_school", "market", "health_station", "small_park", "middle_school",
)  # fmt: skip
STATION_KINDS = ("bus_stop", "metro", "bike_rental")
FACILITY_CUTOFF_M = 1000.0
STATION_CUTOFF_M = 500.0
SNAP_MAX_M = 100.0
TOLERANCE_M = 1.0
#: the memory bandwidth the limit of ditan's query is reckoned at (bytes a second)
MEMORY_BANDWIDTH_B_S = 10e9
TOOLS = ("scipy", "ditan", "ditan_full", "networkx", "pandana", "cityseer")


def machine() -> dict:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram_gb = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                ram_gb = round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    versions = {}
    for pkg in ("numpy", "scipy", "pandas", "shapely", "networkx", "pandana", "cityseer"):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = None
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram_gb": ram_gb,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": versions,
    }


class Workload:
    """The graph, the facilities attached to nodes, and the groups' cut-offs, for one size."""

    def __init__(self, n_nodes: int, seed: int) -> None:
        t0 = time.perf_counter()
        city = generate(n_nodes, seed)
        self.generate_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        self.net = build_network(city.streets.geometry.to_numpy())
        self.build_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        self.net.csr()  # built once and kept on the network: ditan's and scipy's setup
        self.csr_s = time.perf_counter() - t0
        self.n = self.net.n_nodes
        self.m = len(self.net.u)
        self.groups = list(CATEGORIES) + list(STATION_KINDS)
        self.cutoff = np.array(
            [FACILITY_CUTOFF_M] * len(CATEGORIES) + [STATION_CUTOFF_M] * len(STATION_KINDS)
        )
        pois, stations = city.pois, city.stations
        pts, gid = [], []
        for g, name in enumerate(self.groups):
            col, frame = ("category", pois) if name in CATEGORIES else ("kind", stations)
            geom = frame.geometry.to_numpy()[frame[col].to_numpy() == name]
            pts.append(geom)
            gid.append(np.full(len(geom), g))
        self.points = np.concatenate(pts)  # the facilities' own points (for ditan's full path)
        self.point_group = np.concatenate(gid)
        _, self.point_node = cKDTree(self.net.node_xy).query(shapely.get_coordinates(self.points))
        self.group_nodes = [
            np.unique(self.point_node[self.point_group == g]) for g in range(len(self.groups))
        ]
        self.counts = {
            name: int((self.point_group == g).sum()) for g, name in enumerate(self.groups)
        }
        del city

    def cap(self, dist: np.ndarray) -> np.ndarray:
        """Cut each group's row at its cut-off (beyond: inf)."""
        dist = np.asarray(dist, dtype=float)
        dist[dist > self.cutoff[:, None]] = np.inf
        return dist


# --- implementations: each returns (seconds timed, (n_groups, n) distances, extra info) --------------------------


def run_scipy(w: Workload) -> tuple[float, np.ndarray, dict]:
    csr = w.net.csr()
    out = np.empty((len(w.groups), w.n))
    t0 = time.perf_counter()
    for g, nodes in enumerate(w.group_nodes):
        out[g] = csgraph.dijkstra(
            csr, directed=True, indices=nodes, min_only=True, limit=w.cutoff[g]
        )
    return time.perf_counter() - t0, w.cap(out), {"setup_s": w.csr_s}


def run_ditan(w: Workload) -> tuple[float, np.ndarray, dict]:
    from ditan.spatial.engine import network

    net = w.net
    # setup: the CSR matrix and, on a graph large enough for the compiled search, loading its loops
    # (from numba's cache; compiled on the machine's first run)
    t0 = time.perf_counter()
    compiled = w.n >= network.FAST_MIN_NODES
    if compiled:
        from ditan.spatial.engine.fast_distances import warm_up

        warm_up()
    load_s = time.perf_counter() - t0
    info = {
        "setup_s": getattr(w, "csr_s", 0.0) + load_s,
        "compiled_load_s": load_s,
        "search": "compiled bucket queue, tiled (numba)" if compiled else "scipy csgraph",
    }
    # every facility exactly on its node: an edge incident to the node, t = 0 (node is u) or 1 (node is v)
    t0 = time.perf_counter()
    incident = np.empty(w.n, dtype=np.int64)
    incident[net.v] = np.arange(w.m)
    incident[net.u] = np.arange(w.m)
    edge = incident[w.point_node]
    snap = Snap(
        edge=edge,
        t=(net.u[edge] != w.point_node).astype(float),
        access_m=np.zeros(len(edge)),
        ok=np.ones(len(edge), dtype=bool),
    )
    dist = group_distances(
        net, snap, w.point_group, len(w.groups), cutoff_m=w.cutoff
    )  # each group to its own cap
    dist = w.cap(dist)
    elapsed = time.perf_counter() - t0
    # the memory-bandwidth limit of this work: every group reads the whole CSR (row pointers, end nodes,
    # weights) once and writes its row of distances, at ~10 GB/s
    csr = net.csr()
    touched = len(w.groups) * (csr.indptr.nbytes + csr.indices.nbytes + csr.data.nbytes + 8 * w.n)
    info["memory_limit_s"] = touched / MEMORY_BANDWIDTH_B_S
    info["query_over_memory_limit"] = elapsed / info["memory_limit_s"]
    return elapsed, dist, info


def run_ditan_full(w: Workload) -> tuple[float, np.ndarray, dict]:
    origins = shapely.points(w.net.node_xy)
    t0 = time.perf_counter()
    dist, _, t_snap = nearest_by_group(
        w.net,
        origins,
        w.points,
        w.point_group,
        len(w.groups),
        cutoff_m=w.cutoff,
        snap_max_m=SNAP_MAX_M,
    )
    dist = w.cap(dist.T)
    return time.perf_counter() - t0, dist, {"facilities_snapped": int(t_snap.ok.sum())}


def run_networkx(w: Workload) -> tuple[float, np.ndarray, dict]:
    import networkx as nx

    t0 = time.perf_counter()
    G = nx.Graph()
    G.add_nodes_from(range(w.n))
    G.add_weighted_edges_from(
        zip(w.net.u.tolist(), w.net.v.tolist(), w.net.length_m.tolist(), strict=True),
        weight="length",
    )
    convert_s = time.perf_counter() - t0
    out = np.full((len(w.groups), w.n), np.inf)
    t0 = time.perf_counter()
    for g, nodes in enumerate(w.group_nodes):
        d = nx.multi_source_dijkstra_path_length(
            G, set(nodes.tolist()), cutoff=w.cutoff[g], weight="length"
        )
        out[g, np.fromiter(d.keys(), dtype=np.int64, count=len(d))] = np.fromiter(
            d.values(), dtype=float, count=len(d)
        )
    elapsed = time.perf_counter() - t0
    del G
    return elapsed, w.cap(out), {"convert_s": convert_s, "setup_s": convert_s}


def run_pandana(w: Workload) -> tuple[float, np.ndarray, dict]:
    import pandana
    import pandas as pd

    ids = pd.RangeIndex(w.n)
    t0 = time.perf_counter()
    pnet = pandana.Network(
        pd.Series(w.net.node_xy[:, 0], index=ids),
        pd.Series(w.net.node_xy[:, 1], index=ids),
        pd.Series(w.net.u),
        pd.Series(w.net.v),
        pd.DataFrame({"length": w.net.length_m}),
        twoway=True,
    )
    construct_s = time.perf_counter() - t0
    out = np.full((len(w.groups), w.n), np.inf)
    t0 = time.perf_counter()
    pnet.precompute(FACILITY_CUTOFF_M)
    precompute_s = time.perf_counter() - t0
    for g, name in enumerate(w.groups):
        xy = w.net.node_xy[w.point_node[w.point_group == g]]
        pnet.set_pois(name, FACILITY_CUTOFF_M, 1, pd.Series(xy[:, 0]), pd.Series(xy[:, 1]))
        res = pnet.nearest_pois(w.cutoff[g], name, num_pois=1, max_distance=np.inf)
        out[g, res.index.to_numpy()] = res[1].to_numpy()
    elapsed = time.perf_counter() - t0
    del pnet
    return (
        elapsed,
        w.cap(out),
        {
            "construct_s": construct_s,
            "setup_s": construct_s,
            "precompute_s": precompute_s,
            "total_with_construct_s": construct_s + elapsed,
        },
    )


def run_cityseer(w: Workload) -> tuple[float, np.ndarray, dict]:
    from cityseer import config as cs_config
    from cityseer import rustalgos

    cs_config.QUIET_MODE = True
    t0 = time.perf_counter()
    ns = rustalgos.graph.NetworkStructure()
    ns.set_is_directed(False)
    xy = w.net.node_xy
    for i, (x, y) in enumerate(xy.tolist()):
        ns.add_street_node(i, x, y, True, 1.0)
    for u, v in zip(w.net.u.tolist(), w.net.v.tolist(), strict=True):
        (ux, uy), (vx, vy) = xy[u].tolist(), xy[v].tolist()
        ns.add_street_edge(u, v, 0, u, v, f"LINESTRING ({ux!r} {uy!r}, {vx!r} {vy!r})")
        ns.add_street_edge(v, u, 0, v, u, f"LINESTRING ({vx!r} {vy!r}, {ux!r} {uy!r})")
    ns.validate()
    ns.build_edge_rtree()
    construct_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    dm = rustalgos.data.DataMap()
    node_xy = xy[w.point_node]
    landuses = {}
    for k, ((x, y), g) in enumerate(zip(node_xy.tolist(), w.point_group.tolist(), strict=True)):
        dm.insert(k, f"POINT ({x!r} {y!r})")
        landuses[k] = w.groups[g]
    dm.assign_data_to_network(ns, SNAP_MAX_M, 50)
    res = dm.accessibility(
        ns,
        landuses,
        list(w.groups),
        distances=[int(FACILITY_CUTOFF_M)],
        speed_m_s=1.0,
        pbar_disabled=True,
    )
    elapsed = time.perf_counter() - t0
    nodes = np.asarray(res.node_indices)
    out = np.full((len(w.groups), w.n), np.inf)
    keys = np.asarray(res.node_keys_py, dtype=np.int64)
    for g, name in enumerate(w.groups):
        d = np.asarray(res.result[name].distance[int(FACILITY_CUTOFF_M)], dtype=float)
        out[g, keys] = np.where(np.isfinite(d), d, np.inf)
    del ns, dm
    return (
        elapsed,
        w.cap(out),
        {"construct_s": construct_s, "setup_s": construct_s, "nodes_returned": len(nodes)},
    )


def compare(ref: np.ndarray, got: np.ndarray) -> dict:
    fr, fg = np.isfinite(ref), np.isfinite(got)
    both = fr & fg
    diff = np.abs(ref[both] - got[both])
    return {
        "found_mismatch": int((fr != fg).sum()),
        "found_by_ref_only": int((fr & ~fg).sum()),
        "found_by_tool_only": int((~fr & fg).sum()),
        "over_tolerance": int((diff > TOLERANCE_M).sum()),
        "max_diff_m": float(diff.max()) if diff.size else 0.0,
        "mean_diff_m": float(diff.mean()) if diff.size else 0.0,
        "p95_diff_m": float(np.percentile(diff, 95)) if diff.size else 0.0,
        "mismatches": int((fr != fg).sum() + (diff > TOLERANCE_M).sum()),
        # a few found/not-found mismatches as (group, node, scipy m, tool m), to explain them
        "found_mismatch_examples": [
            [int(g), int(i), float(ref[g, i]), float(got[g, i])]
            for g, i in zip(*np.nonzero(fr != fg), strict=True)
        ][:5],
    }


def run_size(n_nodes: int, args: argparse.Namespace) -> dict:
    w = Workload(n_nodes, args.seed)
    print(
        f"\n## {n_nodes:,} nodes requested: graph {w.n:,} nodes, {w.m:,} edges "
        f"(generate {w.generate_s:.1f} s, build_network {w.build_s:.1f} s)",
        flush=True,
    )
    row = {
        "size": n_nodes,
        "nodes": w.n,
        "edges": w.m,
        "generate_s": w.generate_s,
        "build_network_s": w.build_s,
        "csr_s": w.csr_s,
        "facilities": w.counts,
        "tools": {},
    }
    runners = {
        "scipy": run_scipy,
        "ditan": run_ditan,
        "ditan_full": run_ditan_full,
        "networkx": run_networkx,
        "pandana": run_pandana,
        "cityseer": run_cityseer,
    }
    limits = {
        "networkx": args.networkx_max_nodes,
        "pandana": args.peer_max_nodes,
        "cityseer": args.peer_max_nodes,
    }
    ref = None
    for name, fn in runners.items():
        if name not in args.tools and name != "scipy":
            continue
        if name in limits and n_nodes > limits[name]:
            print(f"  {name:10s} skipped (> {limits[name]:,} nodes)", flush=True)
            continue
        gc.collect()
        load = os.getloadavg()[0]  # other work on the machine skews one-shot timings: record it
        try:
            sec, dist, info = fn(w)
        except Exception as exc:  # a peer failing is a result, not a crash
            print(f"  {name:10s} FAILED: {exc!r}", flush=True)
            row["tools"][name] = {"error": repr(exc)}
            continue
        # ditan's setup is the CSR matrix, unless the runner says otherwise
        info.setdefault("setup_s", w.csr_s)
        with_setup = info["setup_s"] + sec
        entry = {"seconds": sec, **info, "total_s": with_setup, "loadavg_1min_before": load}
        if name == "scipy":
            ref = dist
        if ref is not None and name != "scipy":
            entry["vs_scipy"] = compare(ref, dist)
        row["tools"][name] = entry
        extra = ", ".join(
            f"{k} {v:.2f}" if isinstance(v, float) else f"{k} {v}"
            for k, v in info.items()
            if k != "setup_s"
        )
        print(
            f"  {name:10s} {sec:9.2f} s  setup {info['setup_s']:7.2f} s  (load before {load:.1f}"
            + (f"; {extra})" if extra else ")"),
            flush=True,
        )
        del dist
    t = {k: v["seconds"] for k, v in row["tools"].items() if "seconds" in v}
    row["ratios"] = {
        f"{k}/ditan": t[k] / t["ditan"]
        for k in ("scipy", "networkx", "pandana", "cityseer")
        if k in t
    }
    total = {k: v["total_s"] for k, v in row["tools"].items() if "total_s" in v}
    row["ratios_with_setup"] = {
        f"{k}/ditan": total[k] / total["ditan"]
        for k in ("scipy", "ditan_full", "networkx", "pandana", "cityseer")
        if k in total and "ditan" in total
    }
    if "pandana" in row["tools"] and "total_with_construct_s" in row["tools"]["pandana"]:
        row["ratios"]["pandana_with_construct/ditan"] = (
            row["tools"]["pandana"]["total_with_construct_s"] / t["ditan"]
        )
    if "ditan_full" in t:
        row["ratios"]["ditan_full/ditan"] = t["ditan_full"] / t["ditan"]
    for name, entry in row["tools"].items():
        c = entry.get("vs_scipy")
        if c and name != "scipy":
            print(
                f"  {name:10s} vs scipy: max |Δ| {c['max_diff_m']:.4f} m, found/not-found mismatches "
                f"{c['found_mismatch']}, |Δ| > {TOLERANCE_M:g} m: {c['over_tolerance']}"
                + (
                    f", p95 |Δ| {c['p95_diff_m']:.1f} m (facilities on edges, not nodes: not held to 1 m)"
                    if name == "ditan_full"
                    else ""
                ),
                flush=True,
            )
    return row


#: what each tool's setup column holds
SETUP = {
    "ditan": "CSR matrix",
    "ditan_full": "CSR matrix",
    "scipy": "CSR matrix",
    "networkx": "Graph",
    "pandana": "Network() (contraction hierarchy)",
    "cityseer": "NetworkStructure + edge R-tree",
}


def markdown(rows: list[dict]) -> str:
    """One row per size and tool: setup, query and their sum, ratios to ditan, agreement with scipy."""

    def ratio(r: dict, key: str, tool: str) -> str:
        x = r.get(key, {}).get(f"{tool}/ditan")
        return "1×" if tool == "ditan" else ("—" if x is None else f"{x:.1f}×")

    lines = [
        "| size | nodes · edges | tool | setup s | query s | setup + query s | query ÷ ditan "
        "| (setup + query) ÷ ditan | max \\|Δ\\| vs scipy m | mismatches |",
        "|" + "---|" * 10,
    ]
    for r in rows:
        graph = f"{r['nodes']:,} · {r['edges']:,}"
        for tool in TOOLS:
            e = r["tools"].get(tool)
            if e is None:
                continue
            head = f"| {r['size']:,} | {graph} | {tool}"
            if "seconds" not in e:
                lines.append(f"{head} | failed | failed | failed | — | — | — | — |")
                continue
            c = e.get("vs_scipy")
            if tool == "scipy":
                diff, mism = "reference", "—"
            elif c is None:
                diff, mism = "—", "—"
            elif tool == "ditan_full":  # facilities on edges, not nodes: not held to 1 m
                diff, mism = f"{c['max_diff_m']:.3g} (p95 {c['p95_diff_m']:.1f})", "not held to 1 m"
            else:
                diff, mism = f"{c['max_diff_m']:.3g}", f"{c['mismatches']:,}"
            lines.append(
                f"{head} | {e['setup_s']:.2f} | {e['seconds']:.2f} | {e['total_s']:.2f} "
                f"| {ratio(r, 'ratios', tool)} | {ratio(r, 'ratios_with_setup', tool)} | {diff} | {mism} |"
            )
    setup = "; ".join(f"{k}: {v}" for k, v in SETUP.items() if k != "ditan_full")
    builds = ", ".join(f"{r['size']:,}: {r['build_network_s']:.2f} s" for r in rows)
    lines += [
        "",
        f"Setup — {setup}. Building ditan's graph from the street lines (`build_network`), common to all "
        f"tools and in no column: {builds}.",
    ]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--sizes", type=int, nargs="+", default=[10_000, 100_000], help="street nodes per city"
    )
    ap.add_argument(
        "--peer-max-nodes",
        type=int,
        default=200_000,
        help="largest size pandana and cityseer run at",
    )
    ap.add_argument(
        "--networkx-max-nodes",
        type=int,
        default=None,
        help="largest size networkx runs at (default: --peer-max-nodes)",
    )
    ap.add_argument(
        "--tools",
        nargs="+",
        default=list(TOOLS),
        choices=TOOLS,
        help="tools to run (scipy, the reference, always runs)",
    )
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--json", type=Path, help="write all timings, ratios and differences here")
    ap.add_argument("--append", action="store_true", help="keep the other sizes already in --json")
    ap.add_argument(
        "--readme",
        type=Path,
        help="write the table between the peers markers of this file (benchmarks/README.md)",
    )
    args = ap.parse_args()
    if args.networkx_max_nodes is None:
        args.networkx_max_nodes = args.peer_max_nodes
    info = machine()
    print(
        f"{info['cpu']}, {info['cores']} cores, {info['ram_gb']} GB, Python {info['python']}, "
        + ", ".join(f"{k} {v}" for k, v in info["packages"].items())
    )
    result = {
        "workload": {
            "categories": CATEGORIES,
            "station_kinds": STATION_KINDS,
            "facility_cutoff_m": FACILITY_CUTOFF_M,
            "station_cutoff_m": STATION_CUTOFF_M,
            "tolerance_m": TOLERANCE_M,
            "seed": args.seed,
            "peer_max_nodes": args.peer_max_nodes,
            "networkx_max_nodes": args.networkx_max_nodes,
        },
        "machine": info,
        "sizes": [],
    }
    if args.append and args.json and args.json.exists():
        # keep the sizes of an earlier run that this run does not repeat (each size is still one run)
        earlier = json.loads(args.json.read_text(encoding="utf-8"))
        result["earlier_runs"] = earlier.get("earlier_runs", []) + [
            {"machine": earlier["machine"], "workload": earlier["workload"]}
        ]
        result["sizes"] = [r for r in earlier["sizes"] if r["size"] not in args.sizes]
    for n in args.sizes:
        result["sizes"].append(run_size(n, args))
        result["sizes"].sort(key=lambda r: r["size"])
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(
                json.dumps(result, indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
            )
    table = markdown(result["sizes"])
    print("\n" + table)
    if args.readme and args.readme.exists():
        start, end = "<!-- peers:start -->", "<!-- peers:end -->"
        text = args.readme.read_text(encoding="utf-8")
        if start in text and end in text:
            m = result["machine"]
            block = (
                f"{start}\nOne run per size, {m['cpu']}, {m['cores']} cores; setup (what each tool builds from the "
                f"graph before it can answer) and query (the distance computation) in seconds, see `results/peers.json`."
                f"\n\n{table}\n{end}"
            )
            args.readme.write_text(
                text[: text.index(start)] + block + text[text.index(end) + len(end) :],
                encoding="utf-8",
            )


if __name__ == "__main__":
    main()
