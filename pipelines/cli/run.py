"""`ditan run`: the handlers of one study area's run and of a batch config (areas:), with their summary tables."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

from ditan.pipelines.cli.console import _escape


def summary_columns(res, radius_m: float) -> list[str]:
    """The columns of the run summary: built from the run's own tiers and radius (whatever their ids and values)."""
    from ditan.pipelines.jobs.run import run_tiers
    from ditan.spatial.standards import columns

    tiers = run_tiers(res)
    wanted = ["road_density_km_per_km2", "far_ratio", "green_space_ratio_pct", "green_coverage_pct"]
    if tiers:
        wanted += [columns.lc_all(tiers[-1]), columns.lc_score(tiers[-1])]
    wanted += [
        columns.proximity("bus_stop", radius_m, "radius"),
        columns.proximity("bus_stop", radius_m, "network"),
    ]
    return [c for c in wanted if c in res.columns]


def _is_batch(args) -> bool:
    """A batch config (a YAML with `areas:`) for `run` or `check-config`; --workers/--scheduler need one."""
    from ditan.pipelines.config.batch import is_batch_file
    from ditan.spatial.errors import ConfigError

    batch = is_batch_file(args.config)
    if batch and args.command not in ("run", "check-config"):
        raise ConfigError(
            f"{args.config} is a batch config (areas:); `ditan {args.command}` takes the config of one study area: "
            "name one of its areas' configs (run the batch with `ditan run`)"
        )
    if (
        not batch
        and args.command == "run"
        and (args.workers is not None or args.scheduler is not None)
    ):
        raise ConfigError(
            f"--workers/--scheduler run the areas of a batch config (a YAML file with `areas:`) in parallel; {args.config} "
            "is the config of one study area, which runs in this process: drop the option, or list the config "
            "under `areas:` of a batch config (see README, 多区域批量运行)"
        )
    return batch


def _run_batch(args, console) -> int:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )
    from rich.table import Table

    from ditan.pipelines.config.batch import load_batch
    from ditan.pipelines.jobs.batch import run_batch
    from ditan.spatial.errors import ConfigError, require

    if args.command == "run" and args.scenario is not None:
        raise ConfigError(
            "--scenario applies to one study area: run it with that area's config, not with a batch config (areas:)"
        )
    if args.command == "run" and args.refresh_osm:
        raise ConfigError(
            "--refresh-osm applies to one study area: set inputs.osm.refresh: true in the configs of the areas "
            "to fetch again"
        )
    batch = load_batch(args.config)
    if args.command == "check-config":
        from ditan.pipelines.cli.checks import check_batch_inputs

        check_batch_inputs(batch, console)
        console.print(
            f"[green]✓[/] {args.config} is a valid batch config: {len(batch.areas)} areas "
            f"({_escape(', '.join(a.name for a in batch.areas))}), each config valid"
        )
        return 0
    if not args.verbose and (args.workers or args.scheduler):
        require("distributed")  # importing it sets its loggers' levels: quieten them after

        logging.getLogger("distributed").setLevel(logging.WARNING)
    out = args.out or Path("out") / batch.name
    how = (
        f"on {args.scheduler}"
        if args.scheduler
        else f"on {args.workers} local workers"
        if args.workers
        else "one after another"
    )
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=args.quiet,
        transient=True,
    ) as prog:
        task = prog.add_task(f"{len(batch.areas)} areas {how} …", total=len(batch.areas))

        def on_area(done: int, total: int, row: dict) -> None:
            prog.update(task, completed=done)
            mark = "[green]✓[/]" if row["status"] == "ok" else "[red]✗ failed[/]"
            prog.console.print(
                f"{mark} {_escape(row['area'])} ({done}/{total})"
                + (f": {_escape(row['error'])}" if row["error"] else "")
            )

        with warnings.catch_warnings():
            warnings.simplefilter("default")
            warnings.filterwarnings(
                "ignore", category=PendingDeprecationWarning, module="rasterio"
            )  # its own Affine use
            result = run_batch(
                batch, out, workers=args.workers, scheduler=args.scheduler, on_area=on_area
            )
    if not args.quiet:
        table = Table(
            title=f"ditan batch · {_escape(batch.title or batch.name)} · {len(batch.areas)} areas · {_escape(result.mode)}"
        )
        for head, just in (
            ("区域 area", "left"),
            ("名称 title", "left"),
            ("状态 status", "left"),
            ("单元 units", "right"),
            ("秒 s", "right"),
        ):
            table.add_column(head, justify=just, max_width=40, no_wrap=True, overflow="ellipsis")
        for area, r in result.areas.iterrows():
            ok = r["status"] == "ok"
            table.add_row(
                _escape(str(area)),
                _escape(str(r["title"])),
                "[green]ok[/]" if ok else "[red]failed 失败[/]",
                str(r["units"]) if ok else "—",
                f"{r['seconds']:.1f}" if r["seconds"] == r["seconds"] else "—",
            )
        console.print(table)
        console.print(
            f"outputs in [bold]{out}/[/] ({', '.join(sorted(result.files))}; each area's outputs in areas/<area>/)"
        )
    if result.failed:
        listing = "\n".join(f"  - {a}: {e}" for a, e in result.failed.items())
        console.print(
            f"[bold red]区域失败 failed areas ({len(result.failed)} of {len(batch.areas)}):[/]\n{_escape(listing)}",
            soft_wrap=True,
        )
    print(out)
    return 1 if result.failed else 0


def _run(cfg, args, console) -> int:
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from ditan.pipelines.compute.timer import Timer
    from ditan.pipelines.jobs.run import run

    out = args.out or Path("out") / cfg.name
    stages = [
        "load",
        "roads",
        "intensity",
        "land use",
        "green coverage",
        "walk network",
        "network distances",
        "life circles and 500 m",
        "service areas",
        "scenario",
        "compliance",
        "map",
        "write",
        "database",
    ]
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=console,
        disable=args.quiet,
        transient=True,
    ) as prog:
        task = prog.add_task("starting", total=len(stages))

        def on_stage(name: str) -> None:
            prog.update(
                task, description=f"{name} …", completed=stages.index(name) if name in stages else 0
            )

        with warnings.catch_warnings():
            warnings.simplefilter("default")
            warnings.filterwarnings(
                "ignore", category=PendingDeprecationWarning, module="rasterio"
            )  # its own Affine use
            result = run(cfg, out, timer=Timer(on_stage=on_stage), scenario=args.scenario)
    if not args.quiet:
        res = result.result
        shown = summary_columns(res, cfg.transit.radius_m)
        inds = [res.columns[c] for c in shown]
        caption = (
            " · ".join(f"{i.zh} = {i.en}" for i in inds)
            + " · — = 无法评估 not assessable (reason in indicators.xlsx, sheet 无法评估 not_assessable)"
        )
        table = Table(
            title=f"ditan · {_escape(cfg.title or cfg.name)} · {len(res.indicators)} units · {result.study.crs.name}",
            caption=caption,
        )
        table.add_column("单元 unit", no_wrap=True)
        table.add_column("名称 name", max_width=24, no_wrap=True)
        for ind in inds:
            table.add_column(f"{ind.zh}\n{ind.unit}", justify="right")
        for uid, row in res.indicators.iterrows():
            table.add_row(
                _escape(str(uid)),
                _escape(str(row["name"])),
                *[("—" if row[c] != row[c] else f"{row[c]:.2f}") for c in shown],
            )
        console.print(table)
        if res.gaps:
            console.print(
                f"[bold yellow]数据缺失 data gaps[/] ({len(res.gaps)}; their indicators are NaN — not 0 and not a fail; "
                "see data_quality.csv):"
            )
            for line in res.gaps:
                console.print(f"  - {_escape(line)}")
        total = sum(result.manifest["timings_s"].values())
        console.print(
            f"outputs in [bold]{out}/[/] ({', '.join(sorted(p.name for p in result.files.values()))}) · {total:.1f} s"
        )
    if args.scenario is not None:
        s = result.manifest["scenario"]
        console.print(
            f"scenario {_escape(args.scenario.name)}: {s['changed_values']} indicator values changed in "
            f"{s['changed_units']} units; comparison in [bold]{out / 'scenario_comparison.csv'}[/] and scenario.xlsx"
        )
        rate = s.get("co2_reduction_rate_pct")
        if rate and rate["units_assessed"]:
            console.print(
                f"社区二氧化碳排放下降率 CO2 reduction rate of the plan: {rate['min']:.1f}–{rate['max']:.1f} % over "
                f"{rate['units_assessed']} units (scenario_carbon.csv)"
            )
    print(out)
    return 0
