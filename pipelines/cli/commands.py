"""The handlers of the other jobs: `ditan screen`, `check-parcels`, `annex` and `units`, with their console output."""

from __future__ import annotations

import warnings
from pathlib import Path

from ditan.pipelines.cli.console import _escape


def _screen(cfg, args, console) -> int:
    from rich.table import Table

    from ditan.pipelines.jobs.screen import run_screening

    out = args.out or Path("out") / f"{cfg.name}_screening"
    with (
        warnings.catch_warnings(),
        console.status("screening: computing the indicators of every candidate …"),
    ):
        warnings.simplefilter("default")
        warnings.filterwarnings(
            "ignore", category=PendingDeprecationWarning, module="rasterio"
        )  # its own Affine use
        result = run_screening(cfg, out, profile=args.profile, kind=args.kind, top=args.top)
    scr = result.screening
    t, prof = scr.table, scr.profile
    short = t[t["shortlisted"] == "yes"]
    kind = f" · {_escape(prof.kinds.get(result.kind, result.kind))}" if result.kind else ""
    table = Table(
        title=f"ditan screen 试点遴选 · {_escape(cfg.title or cfg.name)} · {_escape(prof.zh)}{kind} · {len(short)} of {len(t)} "
        f"candidates shortlisted",
        caption=f"method 评分方法: {scr.method} · met/assessable 达标/可评估",
    )
    cols = [
        ("排名\nrank", "right"),
        ("单元\nunit", "left"),
        ("名称\nname", "left"),
        ("得分\nscore", "right"),
        ("规则可评估\nrules assessed", "right"),
        ("约束性达标\nbinding met", "right"),
        ("引导性达标\nguiding met", "right"),
    ]
    scoring, levels = bool(t["points"].notna().any()), bool(prof.levels)
    cols += (
        [("积分\npoints", "right")] * scoring
        + [("等级\nlevel", "left")] * levels
        + [("未达标 (前两项)\nmissed (first two)", "left")]
    )
    for head, just in cols:
        table.add_column(head, justify=just, max_width=24, no_wrap=True, overflow="ellipsis")
    for r in short.itertuples(index=False):
        row = [
            str(r.rank),
            _escape(str(r.unit_id)),
            _escape(str(r.name)),
            "—" if r.score != r.score else f"{r.score:.1f}",
            r.rules_assessed,
            f"{r.binding_met}/{r.binding_assessable}",
            f"{r.guiding_met}/{r.guiding_assessable}",
        ]
        row += [f"{r.points:g}/{r.points_possible:g}"] * scoring + [
            _escape(r.level_zh or r.level or "—")
        ] * levels
        table.add_row(*row, _escape("；".join(str(r.reasons_missed).split("；")[:2]) or "—"))
    console.print(table)
    if short.empty:
        console.print(
            "[yellow]no candidate was shortlisted (see screening.min_binding_pct and the scores in screening.csv)[/]"
        )
    if scr.apart is not None and not scr.apart.empty:
        console.print(
            f"{len(scr.apart)} units not ranked 未参与排序 (no residents 无居住人口): "
            f"{_escape(', '.join(f'{u} {n}' for u, n in zip(scr.apart['unit_id'], scr.apart['name'], strict=True)))}"
        )
    console.print(
        f"{len(t)} candidates ranked; outputs in [bold]{out}/[/] ({', '.join(sorted(p.name for p in result.files.values()))})"
    )
    print(out)
    return 0


def _check_parcels(cfg, args, console) -> int:
    from rich.table import Table

    from ditan.pipelines.jobs.land_sale import OUTPUTS, check_parcels

    out = args.out or Path("out") / f"{cfg.name}_land_sale"
    with warnings.catch_warnings(), console.status("checking the parcels for sale …"):
        warnings.simplefilter("default")
        warnings.filterwarnings(
            "ignore", category=PendingDeprecationWarning, module="rasterio"
        )  # its own Affine use
        _, summary = check_parcels(cfg, out, parcels=args.parcels)
    table = Table(
        title=f"ditan check-parcels 土地出让前指标核查 · {_escape(cfg.title or cfg.name)} · {len(summary)} parcels"
    )
    for head in (
        "地块\nparcel",
        "名称\nname",
        "单元\nunits",
        "结果（约束性检查判定）\nverdict (binding checks decide)",
        "主要原因\nmain reasons",
    ):
        table.add_column(head, max_width=60 if head.startswith(("主要", "结果")) else 24)
    for r in summary.itertuples(index=False):
        table.add_row(
            _escape(str(r.parcel_id)),
            _escape(str(r.parcel_name)),
            _escape(r.units or "—"),
            _escape(str(r.verdict)),
            _escape(str(r.main_reasons).split(" | ")[0]),
        )
    console.print(table)
    console.print(
        f"outputs in [bold]{out}/[/] ({', '.join(OUTPUTS)}, manifest.json; one map per parcel in parcels/)"
    )
    print(out)
    return 0


def _annex(cfg, args, console) -> int:
    from ditan.maps.annex_sheets import SHEETS
    from ditan.pipelines.jobs.annex import default_out, run_annex

    out = args.out or default_out(cfg)
    units = [u.strip() for u in args.units.split(",") if u.strip()] if args.units else None
    with (
        warnings.catch_warnings(),
        console.status(
            "map annex 附图: computing the indicators, then drawing the sheets of each unit …"
        ),
    ):
        warnings.simplefilter("default")
        warnings.filterwarnings(
            "ignore", category=PendingDeprecationWarning, module="rasterio"
        )  # its own Affine use
        result = run_annex(cfg, out, units=units, paper=args.paper)
    secs = result.seconds_per_unit
    sheets = max((len(f) - 1 for f in result.files.values()), default=0)  # a PDF, a PNG a sheet
    titles = {key: (n, title) for n, (key, title) in enumerate(SHEETS, start=1)}
    for key, why in result.skipped.items():
        n, title = titles[key]
        console.print(f"[yellow]附图{n} {title} ({key}) 未绘制 not drawn:[/] {_escape(why)}")
    console.print(
        f"附图 map annex: {len(secs)} units × {sheets} sheets ({result.paper}, font {_escape(result.font)}) in [bold]{out}/[/] · "
        f"{sum(secs.values()):.1f} s drawing ({sum(secs.values()) / max(len(secs), 1):.1f} s per unit)"
    )
    print(out)
    return 0


def _units(cfg, args, console) -> int:
    from ditan.pipelines.assemble.load import load_study_area
    from ditan.pipelines.assemble.units import (
        DERIVED_UNITS_LAYER,
        UNBOUNDED_WARN_KM2,
        make_units_report,
    )
    from ditan.pipelines.outputs.staging import atomic_path, writing
    from ditan.spatial.errors import ConfigError

    if args.min_area_m2 is not None:
        if not args.min_area_m2 > 0:
            raise ConfigError(f"--min-area-m2 must be greater than 0, not {args.min_area_m2:g}")
        cfg.units.min_area_m2 = args.min_area_m2
    if args.out is not None and args.out.suffix.lower() not in (".gpkg", ".geojson"):
        raise ConfigError(f"--out must end in .gpkg or .geojson, not '{args.out.name}'")
    sa = load_study_area(cfg, derive_missing_units=False)
    rec = sa.ledger.records.get(DERIVED_UNITS_LAYER)
    bounds_note = rec.note if rec is not None else ""  # set when the config gives no study bounds
    units, report = make_units_report(cfg.units, sa.roads, sa.landuse, sa.bounds)
    # beside the run's folder out/<name>/, not in it (a run replaces that folder whole)
    out = args.out or Path("out") / f"{cfg.name}_units.gpkg"
    with writing(out), atomic_path(out) as tmp:
        gj = out.suffix.lower() == ".geojson"
        units.reset_index().to_crs(4326).to_file(
            tmp, engine="pyogrio", driver="GeoJSON" if gj else "GPKG", layer=None if gj else "units"
        )
    console.print(
        f"{len(units)} units written to [bold]{out}[/] (WGS 84; edit them in QGIS and name the file in inputs.units)"
    )
    for uid, row in units.iterrows():
        flag = "  [yellow]above max_area_m2[/]" if isinstance(row["above_max_reason"], str) else ""
        console.print(
            f"  {_escape(str(uid))}  {_escape(str(row['name']))}  {row.geometry.area / 1e6:.3f} km²  "
            f"({row['split_by']}){flag}"
        )
    if bounds_note:
        big = sa.bounds.area / 1e6 > UNBOUNDED_WARN_KM2
        console.print(f"{'[yellow]warning[/]' if big else 'note'}: {_escape(bounds_note)}")
    for line in report.lines(units.reset_index(), cfg.units.max_area_m2):
        console.print(_escape(line))
    return 0
