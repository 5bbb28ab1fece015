"""`ditan report CONFIG`: the 指标核查报告 a planner hands in — Word (报告.docx), PDF with LibreOffice, charts.

One computation of the run (indicators, compliance, carbon), then into one output folder (default
``out/<name>_report/``, replaced whole like every ditan output):

- ``报告.docx`` (and ``报告.pdf`` when LibreOffice's ``soffice`` is installed): cover, study area and data
  sources with their dates and the data-quality table, the method and the standards cited, each unit's
  indicator table with targets and 达标 / 未达标 / 无法评估 and its radar chart, the data gaps, the bars of each
  indicator across the units, the carbon inventory, and the annex sheets;
- ``图表/``: the charts as PNG and SVG; ``附图/``: the annex sheets (``report.annex``, needs a CJK font);
- ``数据/``: the run's own outputs (indicators.csv/.xlsx, compliance.csv, carbon_inventory.csv, map.html …).
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ditan.maps import charts
from ditan.pipelines.config.schema import Config
from ditan.pipelines.jobs.run import RunComputed, RunInputs, RunJob
from ditan.pipelines.jobs.skeleton import Context, Job
from ditan.pipelines.outputs import files as write
from ditan.pipelines.outputs.manifest import base_entries, versions
from ditan.pipelines.outputs.names import file_stems
from ditan.pipelines.outputs.report_docx import ReportContent, UnitSection, build_docx, na_table

log = logging.getLogger(__name__)
DOCX, PDF = "报告.docx", "报告.pdf"
CHARTS, ANNEX, DATA = "图表", "附图", "数据"
#: the method of the main indicators, in brief, with the standard each follows (the report's section 二)
METHODS_ZH = {
    "road_density_km_per_km2": "城市道路（快速路、主干路、次干路、支路）总长度 ÷ 单元面积；分隔式道路双幅各计一半"
    "（GB/T 51328-2018；低碳社区试点建设指南 表1）",
    "intersection_density_per_km2": "三条及以上道路相交的交叉口数 ÷ 单元面积；相距 30 米内的节点合并为一个交叉口",
    "far_ratio": "总建筑面积（基底面积 × 层数，重叠部分只计一次；有地块数据时用地块建筑面积）÷ 单元面积",
    "building_density_pct": "建筑基底面积（重叠只计一次）÷ 单元面积",
    "green_space_ratio_pct": "绿地（公园绿地、防护绿地、附属绿地）面积 ÷ 单元面积（低碳社区试点建设指南 表1/表2）",
    "green_coverage_pct": "植被垂直投影面积（土地覆盖栅格或植被面）÷ 单元面积（CJJ/T 85；低碳社区试点建设指南 表2）",
    "lc_15min_score_pct": "沿步行路网计算各住宅到各类设施的最短距离，按 GB 50180-2018 的 5/10/15 分钟生活圈步行距离"
    "（300/500/1000 米）判断可达，按居住建筑面积加权",
    "bus_stop_500m_network_pct": "公交站点 500 米覆盖率：半径法（直线距离）与路网法（步行路网距离）",
    "building_co2_t_per_year": "建筑面积 × GB/T 51161 能耗指标 × 2022 年电网排放因子，严寒、寒冷地区加集中供热；"
    "屋顶光伏潜力按整县屋顶分布式光伏试点可安装比例估算（见第六节）",
}
#: how long LibreOffice may take to convert the report
PDF_TIMEOUT_S = 300
#: bar charts of every unit up to this many units (a city's 8,835 bars: a figure too wide to save)
BARS_MAX_UNITS = 60
#: the annex's note when no CJK font is installed
NO_CJK_FONT = "no CJK font for the sheets (apt-get install fonts-noto-cjk)"


def default_out(cfg: Config) -> Path:
    return Path("out") / f"{cfg.name}_report"


@dataclass
class ReportComputed:
    run: RunComputed
    pdf_note: str = ""  # why no PDF was written ("" when it was)
    annex_note: str = ""  # why the annex sheets are not in the report ("" when they are)
    files: list[str] = field(default_factory=list)


class ReportJob(Job[RunInputs, ReportComputed]):
    """Compute the run once; write its data, the charts, the annex and the report."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.runjob = RunJob(cfg)

    def allowed(self, name: str) -> bool:
        return name in (DOCX, PDF, CHARTS, ANNEX, DATA, "manifest.json")

    def load(self, ctx: Context) -> RunInputs:
        return self.runjob.load(ctx)

    def compute(self, loaded: RunInputs, ctx: Context) -> ReportComputed:
        return ReportComputed(self.runjob.compute(loaded, ctx))

    def write(self, c: ReportComputed, stage: Path, ctx: Context) -> list[str]:
        cfg, run = self.cfg, c.run
        names = [DATA, CHARTS]
        (stage / DATA).mkdir()
        data_names = self.runjob.write(run, stage / DATA, ctx)
        base = base_entries(
            ctx.started, {n: stage / DATA / n for n in data_names}, ctx.timer.seconds
        )
        write.write_json(stage / DATA / "manifest.json", self.runjob.manifest(run, base, ctx))
        n = len(run.res.indicators)
        detailed, chosen_by = _detailed(cfg, run.res.indicators.index)
        with ctx.timer.stage("charts"):
            radars, bars = _charts(run, stage / CHARTS, _font_path(), detailed)
        annex: dict[str, list[Path]] = {}
        c.annex_note = _annex_left_out(cfg, n)
        if not c.annex_note:
            annex, c.annex_note = _annex(cfg, run, stage / ANNEX, ctx)
        if c.annex_note:
            log.warning("附图 not in the report: %s", c.annex_note)
        elif annex:
            names.append(ANNEX)
        with ctx.timer.stage("report"), tempfile.TemporaryDirectory() as small:
            # the sheets go into the document at print size (about 150 dpi), not at the annex's 300 dpi
            annex = {u: [_reduced(p, Path(small)) for p in pngs] for u, pngs in annex.items()}
            date = ctx.started.astimezone().date()
            content = _content(cfg, run, radars, bars, annex, date, detailed)
            content.annex_note, content.annex_wanted = c.annex_note, cfg.report.annex
            content.units_total, content.units_chosen_by = n, chosen_by
            content.bars_max_units = BARS_MAX_UNITS if n > BARS_MAX_UNITS else None
            build_docx(content, stage / DOCX, cfg.report.template)
            names.append(DOCX)
            if cfg.report.pdf:
                c.pdf_note = _pdf(stage / DOCX)
                if not c.pdf_note:
                    names.append(PDF)
                else:
                    log.warning("报告.pdf not written: %s", c.pdf_note)
        c.files = names
        return names

    def manifest(self, c: ReportComputed, base: dict, ctx: Context) -> dict:
        return {
            **base,
            "config_file": str(self.cfg.source_path),
            "language": self.cfg.report.language,
            "template": str(self.cfg.report.template) if self.cfg.report.template else None,
            "pdf": c.pdf_note or "written",
            "annex": c.annex_note or "in the report",
            "packages": versions(),
        }


def _font_path() -> str | None:
    from ditan.maps.fonts import FontMissingError, find_cjk_font

    try:
        return find_cjk_font().path
    except FontMissingError:
        log.warning(
            "no CJK font: the charts' Chinese labels will not show (apt-get install fonts-noto-cjk)"
        )
        return None


def _detailed(cfg: Config, ids: pd.Index) -> tuple[pd.Index, str]:
    """The units whose table and radar the report holds, and the setting that chose them.

    Every unit up to report.annex_max_units (""); above, those of report.annex_units (the annex's),
    else the first annex_max_units. Every unit's results stay in 数据/compliance.csv (said so).
    """
    r = cfg.report
    if len(ids) <= r.annex_max_units:
        return ids, ""
    if r.annex_units:
        return ids[ids.astype(str).isin(r.annex_units)], "report.annex_units"
    return ids[: r.annex_max_units], f"report.annex_max_units {r.annex_max_units}"


def _charts(
    run: RunComputed, folder: Path, font: str | None, detailed: pd.Index
) -> tuple[dict[str, Path], list[tuple[str, Path]]]:
    """Radars of the ``detailed`` units, bars per profile indicator (≤ BARS_MAX_UNITS units)."""
    folder.mkdir()
    ind = run.res.indicators
    stems = file_stems([str(u) for u in ind.index])
    radars: dict[str, Path] = {}
    bars: list[tuple[str, Path]] = []
    comp = run.compliance
    if comp is None:
        return radars, bars
    rules = {r.id: r for r in comp.profile.rules}
    checks = comp.checks
    for uid, rows in checks[checks["unit_id"].isin(detailed)].groupby("unit_id", sort=False):
        name = str(ind.at[uid, "name"]) if uid in ind.index else str(uid)
        fig = charts.radar_figure(f"{name}（{uid}）", charts.spokes_of(rows, rules), font_path=font)
        png, _ = charts.save_figure(fig, folder / f"radar_{stems[str(uid)]}")
        radars[str(uid)] = png
    if len(ind) > BARS_MAX_UNITS:
        return radars, bars
    # one bar chart per indicator the profile checks with a numeric target (its rule for the units' kind)
    seen: set[str] = set()
    ruled = set(checks["rule_id"])
    for r in comp.profile.rules:
        if r.indicator in seen or r.target is None or r.indicator not in ind.columns:
            continue
        if not pd.api.types.is_numeric_dtype(ind[r.indicator]) or ind[r.indicator].dtype == bool:
            continue
        if r.id not in ruled:
            continue
        seen.add(r.indicator)
        reg = run.res.columns.get(r.indicator)
        label = f"{r.zh}" + (f"（{reg.unit}）" if reg and reg.unit else "")
        fig = charts.bars_figure(
            label,
            ind["name"].astype(str).tolist(),
            ind[r.indicator].to_numpy(dtype=float),
            unit=reg.unit if reg else "",
            target=r.target,
            target_max=r.target_max,
            font_path=font,
        )
        png, _ = charts.save_figure(fig, folder / f"bars_{r.indicator}")
        bars.append((label, png))
    return radars, bars


def _annex_left_out(cfg: Config, n_units: int) -> str:
    """Why the report holds no annex sheets ("" when it does)."""
    r = cfg.report
    if not r.annex:
        return "report.annex: false"
    if r.annex_units is not None and not r.annex_units:
        return "report.annex_units: [] (no unit listed)"
    if r.annex_units is None and n_units > r.annex_max_units:
        return (
            f"{n_units} units > report.annex_max_units {r.annex_max_units}: list the units in report.annex_units, "
            "or draw them all with ditan annex"
        )
    return ""


def _annex(
    cfg: Config, run: RunComputed, folder: Path, ctx: Context
) -> tuple[dict[str, list[Path]], str]:
    """The annex sheets (PNG) of every unit, drawn into ``folder``, and why there are none, or ""."""
    from ditan.maps.annex_targets import TARGETS_SHEET
    from ditan.maps.fonts import FontMissingError
    from ditan.pipelines.jobs.annex import AnnexJob

    try:
        job = AnnexJob(cfg, units=cfg.report.annex_units, computed=(run.sa, run.res))
        drawing = job.compute(run.sa, ctx)
        folder.mkdir()
        with ctx.timer.stage("annex"):
            job.write(drawing, folder, ctx)
    except FontMissingError as exc:
        log.warning("附图 not drawn: %s", exc)
        return {}, NO_CJK_FONT
    out: dict[str, list[Path]] = {}
    chart = f"_{TARGETS_SHEET}.png"  # the 指标达标图: its radar is in the unit's section already
    for uid in drawing.chosen:
        out[str(uid)] = sorted(
            (
                folder / n
                for n in drawing.files(uid)
                if n.endswith(".png") and not n.endswith(chart)
            ),
            key=lambda p: p.name,
        )
    return out, ""


#: the annex sheets in the report: this many pixels across (15 cm at about 230 dpi)
REPORT_IMAGE_PX = 1400


def _reduced(png: Path, folder: Path) -> Path:
    """A JPEG copy of an annex sheet ``REPORT_IMAGE_PX`` wide, for the document (the PNG stays in 附图/)."""
    from PIL import Image

    out = folder / f"{png.stem}.jpg"
    with Image.open(png) as im:
        w, h = im.size
        k = min(1.0, REPORT_IMAGE_PX / w)
        im.convert("RGB").resize((max(1, round(w * k)), max(1, round(h * k))), Image.LANCZOS).save(
            out, "JPEG", quality=85, optimize=True
        )
    return out


def _pdf(docx: Path) -> str:
    """Convert with LibreOffice; "" when written, else why not."""
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if soffice is None:
        return "LibreOffice is not installed (apt-get install libreoffice-writer-nogui)"
    # its own profile: concurrent conversions do not collide
    with tempfile.TemporaryDirectory() as profile:
        try:
            r = subprocess.run(
                [
                    soffice,
                    f"-env:UserInstallation={Path(profile).as_uri()}",
                    "--headless",
                    "--convert-to",
                    "pdf",
                    "--outdir",
                    str(docx.parent),
                    str(docx),
                ],
                capture_output=True,
                text=True,
                timeout=PDF_TIMEOUT_S,
            )
        except subprocess.TimeoutExpired:
            return f"LibreOffice took longer than {PDF_TIMEOUT_S} s"
    if r.returncode != 0 or not docx.with_suffix(".pdf").is_file():
        return f"LibreOffice failed: {(r.stderr or r.stdout).strip()[:200]}"
    return ""


def _content(
    cfg: Config,
    run: RunComputed,
    radars: dict[str, Path],
    bars: list[tuple[str, Path]],
    annex: dict[str, list[Path]],
    date: dt.date,
    detailed: pd.Index,
) -> ReportContent:
    from ditan.pipelines.outputs.manifest import input_files

    res, sa = run.res, run.sa
    ind = res.indicators
    lang = cfg.report.language
    area_km2 = float(ind["area_km2"].sum())
    scope = [
        f"研究范围：{cfg.title or cfg.name}，共 {len(ind)} 个评价单元，总面积 {area_km2:.2f} 平方公里；"
        f"坐标系 {sa.crs.name}（EPSG:{sa.crs.to_epsg()}）。",
    ]
    if lang != "zh":
        scope.append(
            f"Study area: {cfg.title or cfg.name}, {len(ind)} units, {area_km2:.2f} km² in all; CRS {sa.crs.name}."
        )
    from ditan.pipelines.outputs.manifest import attribution

    scope.append(f"数据来源 Data: {attribution(cfg)}")
    files = [Path(p) for p in input_files(cfg)]
    sources = pd.DataFrame(
        {
            "file": [p.name for p in files],
            "modified": [
                dt.datetime.fromtimestamp(p.stat().st_mtime).date().isoformat()
                if p.exists()
                else "—"
                for p in files
            ],
        }
    )
    methods = [
        (res.columns[col].zh, zh if lang != "en" else f"{res.columns[col].method}")
        for col, zh in METHODS_ZH.items()
        if col in res.columns
    ]
    comp = run.compliance
    units: list[UnitSection] = []
    checks = comp.checks if comp is not None else pd.DataFrame({"unit_id": []})
    per_unit = dict(tuple(checks[checks["unit_id"].isin(detailed)].groupby("unit_id", sort=False)))
    for uid in detailed:
        rows = per_unit.get(uid, checks.iloc[:0])
        kind = str(rows["kind"].iat[0]) if len(rows) and "kind" in rows else ""
        key_values = []
        if comp is None:
            for col in (
                "road_density_km_per_km2",
                "far_ratio",
                "green_space_ratio_pct",
                "green_coverage_pct",
                "lc_15min_score_pct",
            ):
                if col in ind.columns and col in res.columns:
                    v = ind.at[uid, col]
                    key_values.append(
                        (res.columns[col].label, "—" if pd.isna(v) else f"{float(v):.2f}")
                    )
        units.append(
            UnitSection(
                uid=str(uid),
                name=str(ind.at[uid, "name"]),
                kind=kind,
                checks=rows,
                radar=radars.get(str(uid)),
                annex=annex.get(str(uid), []),
                key_values=key_values,
            )
        )
    na = na_table(res.reasons, res.columns)
    carbon = None
    notes: list[str] = []
    if res.carbon is not None:
        cols = {
            "name": "单元",
            "floor_area_m2": "建筑面积(m²)",
            "building_energy_mwh_per_year": "建筑能耗(MWh/a)",
            "building_co2_t_per_year": "CO₂(t/a)",
            "co2_per_floor_area_kg_per_m2": "单位面积(kg/m²·a)",
            "carbon_sink_t_per_year": "碳汇(t/a)",
            "rooftop_pv_kwp": "光伏潜力(kWp)",
            "renewable_substitution_potential_pct": "替代率潜力(%)",
        }
        t = ind[[c for c in cols if c in ind.columns]].copy()
        for c in t.columns[1:]:
            lo, hi = f"{c}_low", f"{c}_high"
            if lo in ind.columns:
                t[c] = [
                    "—"
                    if pd.isna(v)
                    else f"{v:,.0f}（{a:,.0f}–{b:,.0f}）"
                    if abs(v) >= 100
                    else f"{v:.1f}（{a:.1f}–{b:.1f}）"
                    for v, a, b in zip(ind[c], ind[lo], ind[hi], strict=True)
                ]
            else:
                t[c] = ["—" if pd.isna(v) else f"{v:,.0f}" for v in ind[c]]
        carbon = t.rename(columns=cols)
        f = res.carbon_factors
        if f is not None:
            notes.append(
                f"计算地点：{f.province or '—'}，气候区 {f.climate_zone or '—'}（{f.province_how}）；"
                f"电网排放因子 {f.grid_kg_per_kwh:g} kgCO₂/kWh。括号内为因子取值范围对应的下限–上限。"
            )
        notes.append(
            "说明：建筑能耗按 GB/T 51161 能耗指标估算，非实测；交通、废弃物、水资源及居民行为排放无法由空间数据评估"
            "（可通过 carbon.other_sectors 补充）。各因子来源见 数据/carbon_factors.csv。"
        )
    return ReportContent(
        title=cfg.title or cfg.name,
        author=cfg.report.author,
        profile=comp.profile.zh if comp is not None else None,
        profile_source=comp.profile.source if comp is not None else None,
        date=date,
        version=versions()["ditan"],
        scope_lines=scope,
        sources=sources,
        quality=run.quality,
        methods=methods,
        units=units,
        gaps=list(res.gaps),
        not_assessable=na,
        bars=bars,
        carbon=carbon,
        carbon_notes=notes,
        language=lang,
    )


def run_report(cfg: Config, out_dir: Path | None = None) -> tuple[Path, ReportComputed]:
    """Write the report folder; returns it and what was computed."""
    done = ReportJob(cfg).run(out_dir or default_out(cfg))
    return done.out_dir, done.computed
