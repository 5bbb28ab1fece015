"""The `ditan` command line."""

from __future__ import annotations

import argparse
import logging
import sys
import warnings
from pathlib import Path

DEFAULT_CONFIG = Path("pipelines/configs/beijing_haidian.yaml")


def summary_columns(res, radius_m: float) -> list[str]:
    """The columns of the run summary: built from the run's own tiers and radius (whatever their ids and values)."""
    from ditan.spatial.standards import columns

    tiers = [c.removeprefix("lc_").removesuffix("_all_pct") for c in res.columns if c.startswith("lc_") and c.endswith("_all_pct")]
    wanted = ["road_density_km_per_km2", "far_ratio", "green_space_ratio_pct", "green_coverage_pct"]
    if tiers:
        wanted += [columns.lc_all(tiers[-1]), columns.lc_score(tiers[-1])]
    wanted += [columns.proximity("bus_stop", radius_m, "radius"), columns.proximity("bus_stop", radius_m, "network")]
    return [c for c in wanted if c in res.columns]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="ditan",
        description="ditan 低碳: measure communities against the spatial indicators of low-carbon and "
        "green community programmes (road density, FAR, land use, green space, life circles, transit).",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="show debug messages")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    r = sub.add_parser("run", help="compute every indicator per unit and write tables and a map",
                       description="Load the inputs named in CONFIG, compute every indicator family per unit, and write "
                       "indicators.csv/.xlsx, communities.gpkg, map.html, data_quality.csv and manifest.json.")  # fmt: skip
    r.add_argument("config", nargs="?", type=Path, default=DEFAULT_CONFIG, help=f"YAML config (default: {DEFAULT_CONFIG})")
    r.add_argument("--out", type=Path, default=None, help="output folder (default: out/<name>/)")
    r.add_argument("-q", "--quiet", action="store_true", help="no progress display or summary table")
    r.add_argument("--scenario", type=Path, default=None, metavar="FILE",
                   help="what-if scenario (GeoPackage, GeoJSON or CSV with x/y; rows: action add|remove, layer "
                   "facility|station|parcel, …): also writes scenario_comparison.csv, scenario.xlsx and scenario_indicators.csv")  # fmt: skip
    par = r.add_mutually_exclusive_group()
    par.add_argument("--workers", type=_count, default=None, metavar="N",
                     help="batch config (areas:): run the areas on a local dask cluster of N worker processes (default: one after another)")
    par.add_argument("--scheduler", default=None, metavar="ADDRESS",
                     help="batch config (areas:): run the areas on a running dask scheduler, e.g. tcp://HOST:8786 "
                     "(start it with `dask scheduler`, workers with `dask worker tcp://HOST:8786`)")  # fmt: skip

    u = sub.add_parser("units", help="derive analysis units (blocks) from the road network",
                       description="Derive units as blocks enclosed by roads of tertiary class and above (oversized blocks "
                       "subdivided by the next road tier), drop slivers, name them from the OSM data, and write a file "
                       "you can edit and name in inputs.units.")  # fmt: skip
    u.add_argument("config", type=Path, help="YAML config")
    u.add_argument("--out", type=Path, default=None, help="file to write (.gpkg or .geojson; default: out/<name>/units.gpkg)")
    u.add_argument("--min-area-m2", type=float, default=None, help="drop blocks smaller than this (default: config units.min_area_m2)")

    c = sub.add_parser("check-config", help="validate a config and list every problem",
                       description="Validate CONFIG against the typed model and report every problem with its key path.")
    c.add_argument("config", type=Path, help="YAML config")

    s = sub.add_parser("screen", help="试点遴选: score and rank every unit against a programme profile and shortlist the best",
                       description="Compute the indicators of every unit of CONFIG (the candidates), check them against a programme "
                       "profile, score them (config screening.method: points, weights or rules), rank them and write screening.csv/.xlsx "
                       "(rank, score, reasons met and missed), screening_map.html and compliance.csv.")  # fmt: skip
    s.add_argument("config", nargs="?", type=Path, default=DEFAULT_CONFIG, help=f"YAML config (default: {DEFAULT_CONFIG})")
    s.add_argument("--profile", default=None, metavar="ID_OR_PATH",
                   help="packaged profile id (e.g. lowcarbon_pilot_2015, lowcarbon_application) or profile YAML path "
                   "(default: config screening.profile, else compliance.profile, else lowcarbon_pilot_2015)")  # fmt: skip
    s.add_argument("--kind", default=None, help="pilot kind of every unit, e.g. new, existing, rural (default: inputs.units.kind_column, "
                   "else screening.kind, else compliance.kind, else existing)")  # fmt: skip
    s.add_argument("--top", type=int, default=None, metavar="N", help="shortlist size (default: config screening.top, 10)")
    s.add_argument("--out", type=Path, default=None, help="output folder (default: out/<name>_screening/)")

    k = sub.add_parser("check-parcels", help="土地出让前指标核查: check parcels about to be sold against a programme profile",
                       description="Check each parcel of config land_sale.parcels: its plan (FAR, green ratio, height) against the "
                       "profile's ranges, its location (bus stop, bike rental, metro within 500 m; life-circle categories reached) and "
                       "its unit before and after it is built; write parcel_check.csv/.xlsx, parcel_summary.csv and parcels/<id>.html.")  # fmt: skip
    k.add_argument("config", type=Path, help="YAML config with a land_sale section")
    k.add_argument("--parcels", type=Path, default=None, metavar="FILE",
                   help="parcel layer to check instead of land_sale.parcels.path (same columns)")  # fmt: skip
    k.add_argument("--out", type=Path, default=None, metavar="DIR", help="output folder (default: out/<name>_land_sale/)")

    a = sub.add_parser("annex", help="附图: print the map annex of an implementation plan (six sheets per unit, PDF and PNG)",
                       description="Compute the indicators of CONFIG once, then draw six sheets per unit (区位图, 用地现状图, 道路系统图, "
                       "15分钟生活圈覆盖图, 公交/单车500米覆盖图, 绿地与绿化覆盖图) with legend, scale bar, north arrow, sources, date and CRS; "
                       "write <unit>.pdf (six pages) and <unit>_<n>_<sheet>.png (300 dpi). "
                       "Needs a CJK font (apt-get install fonts-noto-cjk).")  # fmt: skip
    a.add_argument("config", type=Path, help="YAML config")
    a.add_argument("--units", default=None, metavar="U001,U002", help="comma-separated unit ids to draw (default: every unit)")
    a.add_argument("--paper", choices=("A4", "A3"), default=None,
                   help="paper size (default: A4); portrait or landscape follows each unit's shape")  # fmt: skip
    a.add_argument("--out", type=Path, default=None, metavar="DIR", help="output folder (default: out/<name>_annex/)")
    return p


def _count(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of 1 or more, not {text!r}")
    return n


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    except KeyboardInterrupt:  # while libraries were still being imported: nothing was written
        print("interrupted before any output was written", file=sys.stderr)
        return 130


def _main(argv: list[str] | None) -> int:
    args = _parser().parse_args(argv)
    from rich.console import Console
    from rich.logging import RichHandler

    # a log file or CI has no terminal width: lay the summary table out at a width where it fits
    console = Console(stderr=True, width=None if sys.stderr.isatty() else 132)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(message)s",
                        handlers=[RichHandler(console=console, show_path=False, show_time=False)])  # fmt: skip
    logging.getLogger("pyogrio").setLevel(logging.WARNING)
    from ditan.pipelines.config.schema import load_config
    from ditan.spatial.errors import DitanError

    try:
        if _is_batch(args):
            return _run_batch(args, console)
        cfg = load_config(args.config, deriving_units=args.command == "units")
        if args.command == "check-config":
            if cfg.bounds or (cfg.inputs.osm and cfg.inputs.osm.bounds):  # bounds far from the data: the stored extents say so
                from ditan.pipelines.assemble.load import check_bounds_overlap, config_extents

                check_bounds_overlap(cfg, *config_extents(cfg))
            console.print(f"[green]✓[/] {args.config} is valid")
            return 0
        if args.command == "units":
            return _units(cfg, args, console)
        if args.command == "screen":
            return _screen(cfg, args, console)
        if args.command == "check-parcels":
            return _check_parcels(cfg, args, console)
        if args.command == "annex":
            return _annex(cfg, args, console)
        return _run(cfg, args, console)
    except DitanError as exc:
        console.print(f"[bold red]error:[/] {_escape(str(exc))}", soft_wrap=True)
        return 2
    except KeyboardInterrupt:
        console.print("[yellow]interrupted: the output folder holds the complete outputs of one run "
                      "(the previous one unless this one had finished); no partial files[/]")
        return 130


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def _is_batch(args) -> bool:
    """A batch config (a YAML with `areas:`) for `run` or `check-config`; --workers/--scheduler need one."""
    from ditan.pipelines.jobs.batch import is_batch_file
    from ditan.spatial.errors import ConfigError

    batch = is_batch_file(args.config)
    if batch and args.command not in ("run", "check-config"):
        raise ConfigError(f"{args.config} is a batch config (areas:); `ditan {args.command}` takes the config of one study area: "
                          "name one of its areas' configs (run the batch with `ditan run`)")  # fmt: skip
    if not batch and args.command == "run" and (args.workers is not None or args.scheduler is not None):
        raise ConfigError(f"--workers/--scheduler run the areas of a batch config (a YAML file with `areas:`) in parallel; {args.config} "
                          "is the config of one study area, which runs in this process: drop the option, or list the config "
                          "under `areas:` of a batch config (see README, 多区域批量运行)")  # fmt: skip
    return batch


def _run_batch(args, console) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from ditan.pipelines.jobs.batch import load_batch, run_batch
    from ditan.spatial.errors import ConfigError, require

    if args.command == "run" and args.scenario is not None:
        raise ConfigError("--scenario applies to one study area: run it with that area's config, not with a batch config (areas:)")
    batch = load_batch(args.config)
    if args.command == "check-config":
        console.print(f"[green]✓[/] {args.config} is a valid batch config: {len(batch.areas)} areas "
                      f"({_escape(', '.join(a.name for a in batch.areas))}), each config valid")  # fmt: skip
        return 0
    if not args.verbose and (args.workers or args.scheduler):
        require("distributed")  # importing it sets its loggers' levels: quieten them after

        logging.getLogger("distributed").setLevel(logging.WARNING)
    out = args.out or Path("out") / batch.name
    how = f"on {args.scheduler}" if args.scheduler else f"on {args.workers} local workers" if args.workers else "one after another"
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, disable=args.quiet, transient=True) as prog:  # fmt: skip
        task = prog.add_task(f"{len(batch.areas)} areas {how} …", total=len(batch.areas))

        def on_area(done: int, total: int, row: dict) -> None:
            prog.update(task, completed=done)
            mark = "[green]✓[/]" if row["status"] == "ok" else "[red]✗ failed[/]"
            prog.console.print(f"{mark} {_escape(row['area'])} ({done}/{total})" + (f": {_escape(row['error'])}" if row["error"] else ""))

        with warnings.catch_warnings():
            warnings.simplefilter("default")
            warnings.filterwarnings("ignore", category=PendingDeprecationWarning, module="rasterio")  # its own Affine use
            result = run_batch(batch, out, workers=args.workers, scheduler=args.scheduler, on_area=on_area)
    if not args.quiet:
        table = Table(title=f"ditan batch · {_escape(batch.title or batch.name)} · {len(batch.areas)} areas · {_escape(result.mode)}")
        for head, just in (("区域 area", "left"), ("名称 title", "left"), ("状态 status", "left"), ("单元 units", "right"), ("秒 s", "right")):
            table.add_column(head, justify=just, max_width=40, no_wrap=True, overflow="ellipsis")
        for area, r in result.areas.iterrows():
            ok = r["status"] == "ok"
            table.add_row(_escape(str(area)), _escape(str(r["title"])), "[green]ok[/]" if ok else "[red]failed 失败[/]",
                          str(r["units"]) if ok else "—", f"{r['seconds']:.1f}" if r["seconds"] == r["seconds"] else "—")  # fmt: skip
        console.print(table)
        console.print(f"outputs in [bold]{out}/[/] ({', '.join(sorted(result.files))}; each area's outputs in areas/<area>/)")
    if result.failed:
        listing = "\n".join(f"  - {a}: {e}" for a, e in result.failed.items())
        console.print(f"[bold red]区域失败 failed areas ({len(result.failed)} of {len(batch.areas)}):[/]\n{_escape(listing)}", soft_wrap=True)
    print(out)
    return 1 if result.failed else 0


def _run(cfg, args, console) -> int:
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from ditan.pipelines.compute.indicators import Timer
    from ditan.pipelines.jobs.run import run

    out = args.out or Path("out") / cfg.name
    stages = ["load", "roads", "intensity", "land use", "green coverage", "walk network", "network distances",
              "life circles and 500 m", "service areas", "compliance", "scenario", "map", "write", "database"]  # fmt: skip
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console,
                  disable=args.quiet, transient=True) as prog:  # fmt: skip
        task = prog.add_task("starting", total=len(stages))

        def on_stage(name: str) -> None:
            prog.update(task, description=f"{name} …", completed=stages.index(name) if name in stages else 0)

        with warnings.catch_warnings():
            warnings.simplefilter("default")
            warnings.filterwarnings("ignore", category=PendingDeprecationWarning, module="rasterio")  # its own Affine use
            result = run(cfg, out, timer=Timer(on_stage=on_stage), scenario=args.scenario)
    if not args.quiet:
        res = result.result
        shown = summary_columns(res, cfg.transit.radius_m)
        inds = [res.columns[c] for c in shown]
        caption = (" · ".join(f"{i.zh} = {i.en}" for i in inds)
                   + " · — = 无法评估 not assessable (reason in indicators.xlsx, sheet 无法评估 not_assessable)")  # fmt: skip
        table = Table(title=f"ditan · {_escape(cfg.title or cfg.name)} · {len(res.indicators)} units · {result.study.crs.name}",
                      caption=caption)  # fmt: skip
        table.add_column("单元 unit", no_wrap=True)
        table.add_column("名称 name", max_width=24, no_wrap=True)
        for ind in inds:
            table.add_column(f"{ind.zh}\n{ind.unit}", justify="right")
        for uid, row in res.indicators.iterrows():
            table.add_row(str(uid), _escape(str(row["name"])), *[("—" if row[c] != row[c] else f"{row[c]:.2f}") for c in shown])
        console.print(table)
        if res.gaps:
            console.print(f"[bold yellow]数据缺失 data gaps[/] ({len(res.gaps)}; their indicators are NaN — not 0 and not a fail; "
                          "see data_quality.csv):")  # fmt: skip
            for line in res.gaps:
                console.print(f"  - {_escape(line)}")
        total = sum(result.manifest["timings_s"].values())
        console.print(f"outputs in [bold]{out}/[/] ({', '.join(sorted(p.name for p in result.files.values()))}) · {total:.1f} s")
    if args.scenario is not None:
        s = result.manifest["scenario"]
        console.print(f"scenario {_escape(args.scenario.name)}: {s['changed_values']} indicator values changed in "
                      f"{s['changed_units']} units; comparison in [bold]{out / 'scenario_comparison.csv'}[/] and scenario.xlsx")  # fmt: skip
    print(out)
    return 0


def _screen(cfg, args, console) -> int:
    from rich.table import Table

    from ditan.pipelines.jobs.screen import run_screening

    out = args.out or Path("out") / f"{cfg.name}_screening"
    with warnings.catch_warnings(), console.status("screening: computing the indicators of every candidate …"):
        warnings.simplefilter("default")
        warnings.filterwarnings("ignore", category=PendingDeprecationWarning, module="rasterio")  # its own Affine use
        result = run_screening(cfg, out, profile=args.profile, kind=args.kind, top=args.top)
    scr = result.screening
    t, prof = scr.table, scr.profile
    short = t[t["shortlisted"] == "yes"]
    kind = f" · {_escape(prof.kinds.get(result.kind, result.kind))}" if result.kind else ""
    table = Table(title=f"ditan screen 试点遴选 · {_escape(cfg.title or cfg.name)} · {_escape(prof.zh)}{kind} · {len(short)} of {len(t)} "
                  f"candidates shortlisted", caption=f"method 评分方法: {scr.method} · met/assessable 达标/可评估")  # fmt: skip
    cols = [("排名\nrank", "right"), ("单元\nunit", "left"), ("名称\nname", "left"), ("得分\nscore", "right"),
            ("规则可评估\nrules assessed", "right"), ("约束性达标\nbinding met", "right"), ("引导性达标\nguiding met", "right")]  # fmt: skip
    scoring, levels = bool(t["points"].notna().any()), bool(prof.levels)
    cols += [("积分\npoints", "right")] * scoring + [("等级\nlevel", "left")] * levels + [("未达标 (前两项)\nmissed (first two)", "left")]
    for head, just in cols:
        table.add_column(head, justify=just, max_width=24, no_wrap=True, overflow="ellipsis")
    for r in short.itertuples(index=False):
        row = [str(r.rank), str(r.unit_id), _escape(str(r.name)), "—" if r.score != r.score else f"{r.score:.1f}", r.rules_assessed,
               f"{r.binding_met}/{r.binding_assessable}", f"{r.guiding_met}/{r.guiding_assessable}"]  # fmt: skip
        row += [f"{r.points:g}/{r.points_possible:g}"] * scoring + [_escape(r.level_zh or r.level or "—")] * levels
        table.add_row(*row, _escape("；".join(str(r.reasons_missed).split("；")[:2]) or "—"))
    console.print(table)
    if short.empty:
        console.print("[yellow]no candidate was shortlisted (see screening.min_binding_pct and the scores in screening.csv)[/]")
    if scr.apart is not None and not scr.apart.empty:
        console.print(f"{len(scr.apart)} units not ranked 未参与排序 (no residents 无居住人口): "
                      f"{_escape(', '.join(f'{u} {n}' for u, n in zip(scr.apart['unit_id'], scr.apart['name'], strict=True)))}")  # fmt: skip
    console.print(f"{len(t)} candidates ranked; outputs in [bold]{out}/[/] ({', '.join(sorted(p.name for p in result.files.values()))})")
    print(out)
    return 0


def _check_parcels(cfg, args, console) -> int:
    from rich.table import Table

    from ditan.pipelines.jobs.land_sale import OUTPUTS, check_parcels

    out = args.out or Path("out") / f"{cfg.name}_land_sale"
    with warnings.catch_warnings(), console.status("checking the parcels for sale …"):
        warnings.simplefilter("default")
        warnings.filterwarnings("ignore", category=PendingDeprecationWarning, module="rasterio")  # its own Affine use
        _, summary = check_parcels(cfg, out, parcels=args.parcels)
    table = Table(title=f"ditan check-parcels 土地出让前指标核查 · {_escape(cfg.title or cfg.name)} · {len(summary)} parcels")
    for head in ("地块\nparcel", "名称\nname", "单元\nunits", "结果（约束性检查判定）\nverdict (binding checks decide)", "主要原因\nmain reasons"):
        table.add_column(head, max_width=60 if head.startswith(("主要", "结果")) else 24)
    for r in summary.itertuples(index=False):
        table.add_row(_escape(str(r.parcel_id)), _escape(str(r.parcel_name)), _escape(r.units or "—"), _escape(str(r.verdict)),
                      _escape(str(r.main_reasons).split(" | ")[0]))  # fmt: skip
    console.print(table)
    console.print(f"outputs in [bold]{out}/[/] ({', '.join(OUTPUTS)}; one map per parcel in parcels/)")
    print(out)
    return 0


def _annex(cfg, args, console) -> int:
    from ditan.pipelines.jobs.annex import default_out, run_annex

    out = args.out or default_out(cfg)
    units = [u.strip() for u in args.units.split(",") if u.strip()] if args.units else None
    with warnings.catch_warnings(), console.status("map annex 附图: computing the indicators, then drawing six sheets per unit …"):
        warnings.simplefilter("default")
        warnings.filterwarnings("ignore", category=PendingDeprecationWarning, module="rasterio")  # its own Affine use
        result = run_annex(cfg, out, units=units, paper=args.paper)
    secs = result.seconds_per_unit
    console.print(f"附图 map annex: {len(secs)} units × 6 sheets ({result.paper}, font {_escape(result.font)}) in [bold]{out}/[/] · "
                  f"{sum(secs.values()):.1f} s drawing ({sum(secs.values()) / max(len(secs), 1):.1f} s per unit)")  # fmt: skip
    print(out)
    return 0


def _units(cfg, args, console) -> int:
    from ditan.pipelines.assemble.load import load_study_area, make_units
    from ditan.pipelines.outputs.files import atomic_path
    from ditan.spatial.errors import ConfigError

    if args.min_area_m2 is not None:
        if not args.min_area_m2 > 0:
            raise ConfigError(f"--min-area-m2 must be greater than 0, not {args.min_area_m2:g}")
        cfg.units.min_area_m2 = args.min_area_m2
    if args.out is not None and args.out.suffix.lower() not in (".gpkg", ".geojson"):
        raise ConfigError(f"--out must end in .gpkg or .geojson, not '{args.out.name}'")
    sa = load_study_area(cfg, derive_missing_units=False)
    units = make_units(cfg.units, sa.roads, sa.landuse, sa.bounds)
    out = args.out or Path("out") / cfg.name / "units.gpkg"
    with atomic_path(out) as tmp:
        gj = out.suffix.lower() == ".geojson"
        units.reset_index().to_crs(4326).to_file(tmp, engine="pyogrio", driver="GeoJSON" if gj else "GPKG", layer=None if gj else "units")
    console.print(f"{len(units)} units written to [bold]{out}[/] (WGS 84; edit them in QGIS and name the file in inputs.units)")
    for uid, row in units.iterrows():
        console.print(f"  {uid}  {_escape(str(row['name']))}  {row.geometry.area / 1e6:.3f} km²")
    return 0


if __name__ == "__main__":
    sys.exit(main())
