"""The Word document of `ditan report` (指标核查报告): composed with python-docx from the run's tables and figures.

Chinese first (``language: zh``), English (``en``) or both (``bilingual``: the Chinese text with the English
beside it). An institute's template (``report.template``) supplies the styles, page setup, headers and
footers: the report is added after whatever body the template holds. Text from data (unit names, ids) goes in
as text runs: Word never evaluates it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ditan.spatial.standards.compliance import STATUS_ZH

__all__ = ["ReportContent", "UnitSection", "build_docx", "na_table", "T"]

#: the report's fixed texts: key → (中文, English)
T = {
    "report": ("指标核查报告", "Indicator check report"),
    "scope": ("一、研究范围与数据来源", "1. Study area and data sources"),
    "method": ("二、方法与依据", "2. Method and standards"),
    "units": ("三、单元指标核查", "3. Indicator checks by unit"),
    "gaps": ("四、数据缺失与无法评估事项", "4. Data gaps and what could not be assessed"),
    "charts": ("五、指标对比图", "5. Indicators across the units"),
    "carbon": ("六、碳盘查", "6. Carbon inventory"),
    "annex": ("七、附图", "7. Map annex"),
    "indicator": ("指标", "Indicator"),
    "measured": ("实测值", "Measured"),
    "target": ("目标值", "Target"),
    "verdict": ("结论", "Verdict"),
    "binding": ("性质", "Binding"),
    "layer": ("图层", "Layer"),
    "read": ("读取", "Read"),
    "kept": ("保留", "Kept"),
    "repaired": ("修复", "Repaired"),
    "dropped": ("剔除", "Dropped"),
    "flagged": ("标记", "Flagged"),
    "file": ("文件", "File"),
    "modified": ("修改日期", "Modified"),
    "unit": ("单元", "Unit"),
    "no_gaps": ("无数据缺失。", "No data gaps."),
    "no_profile": (
        "配置未指定评价标准（compliance.profile），本节列出主要指标实测值。",
        "The config names no programme profile (compliance.profile): the main indicators are listed.",
    ),
    "radar": ("各指标达标程度（实测值/目标值）", "Share of each target reached"),
}


def say(zh: str, en: str, language: str) -> str:
    """The text in the report's language: Chinese, English, or both (Chinese first)."""
    return zh if language == "zh" else en if language == "en" else f"{zh} {en}"


def tr(key: str, language: str) -> str:
    return say(*T[key], language)


@dataclass
class UnitSection:
    uid: str
    name: str
    kind: str
    checks: (
        pd.DataFrame
    )  # the unit's compliance rows (zh, measured, unit, target, status, binding_zh …)
    radar: Path | None = None  # PNG
    annex: list[Path] = field(default_factory=list)  # PNG sheets
    key_values: list[tuple[str, str]] = field(
        default_factory=list
    )  # without a profile: (label, value)


@dataclass
class ReportContent:
    title: str
    author: str | None
    profile: str | None  # the programme's Chinese name
    profile_source: str | None
    date: dt.date
    version: str
    scope_lines: list[str]
    sources: pd.DataFrame  # file, modified
    quality: pd.DataFrame  # data_quality.csv
    methods: list[tuple[str, str]]  # (indicator label, method and source)
    units: list[UnitSection]
    gaps: list[str]
    not_assessable: pd.DataFrame  # counts by indicator
    bars: list[tuple[str, Path]]  # (caption, PNG)
    carbon: pd.DataFrame | None  # per unit (Chinese headers)
    carbon_notes: list[str]
    language: str = "zh"
    annex_note: str = ""  # why the annex sheets are not in the report
    annex_wanted: bool = True  # report.annex: say why the sheets are missing only if wanted
    units_total: int = 0  # units of the run; more than len(units): a chosen few are detailed
    units_chosen_by: str = ""  # the setting that chose them (report.annex_units …)
    bars_max_units: int | None = None  # set when the bars were left out: more units than this


def _fonts(doc) -> None:
    """Chinese text in 宋体 / SimSun (LibreOffice substitutes an installed CJK serif, e.g. Noto Serif CJK SC)."""
    from docx.oxml.ns import qn

    for style in doc.styles:
        if getattr(style, "type", None) in (1, 2):  # paragraph and character styles
            rpr = style.element.get_or_add_rPr()
            fonts = rpr.find(qn("w:rFonts"))
            if fonts is None:
                fonts = rpr.makeelement(qn("w:rFonts"), {})
                rpr.append(fonts)
            fonts.set(qn("w:eastAsia"), "宋体")


def _table(doc, header: list[str], rows: list[list[str]], widths_cm: list[float] | None = None):
    from docx.shared import Cm, Pt

    t = doc.add_table(rows=1, cols=len(header))
    try:
        t.style = "Table Grid"
    except KeyError:  # a template without the built-in table style
        pass
    for cell, text in zip(t.rows[0].cells, header, strict=True):
        cell.text = ""
        run = cell.paragraphs[0].add_run(text)
        run.bold = True
        run.font.size = Pt(9)
    for row in rows:
        cells = t.add_row().cells
        for cell, text in zip(cells, row, strict=True):
            cell.text = ""
            cell.paragraphs[0].add_run(str(text)).font.size = Pt(9)
    if widths_cm:
        for row in t.rows:
            for cell, w in zip(row.cells, widths_cm, strict=False):
                cell.width = Cm(w)
    return t


def _fmt(v: object, digits: int = 2) -> str:
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return "—"
    if isinstance(v, (int, np.integer)):
        return f"{int(v):,}"
    if isinstance(v, (float, np.floating)):
        return f"{float(v):,.{digits}f}"
    return str(v)


def na_table(reasons: pd.DataFrame, columns: dict) -> pd.DataFrame:
    """Section 四's table: units not assessable per indicator and reason (column, n, reason).

    ``reasons``: the run's long reasons table (a row per unit and column); ``columns``: the
    registry entries. Each reason counts its own units: NaN for two reasons gives two rows.
    """
    if not len(reasons):
        return pd.DataFrame(columns=["column", "n", "reason"])
    t = reasons.groupby(["column", "reason_zh"], dropna=False).size().reset_index(name="n")
    return pd.DataFrame(
        {
            "column": [columns[c].zh if c in columns else c for c in t["column"]],
            "n": t["n"],
            "reason": t["reason_zh"].fillna("—"),
        }
    )


def build_docx(c: ReportContent, path: Path, template: Path | None = None) -> None:
    """Write the report to ``path`` (python-docx)."""
    from docx import Document
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.shared import Cm, Pt

    lang = c.language
    doc = Document(str(template)) if template else Document()
    _fonts(doc)
    # ---- cover
    p = doc.add_paragraph()
    p.alignment = WD_ALIGN_PARAGRAPH.CENTER
    r = p.add_run(c.title)
    r.bold, r.font.size = True, Pt(22)
    p = doc.add_paragraph()
    p.alignment = WD_ALIGN_PARAGRAPH.CENTER
    p.add_run(tr("report", lang)).font.size = Pt(18)
    for line in (
        c.profile and (f"评价依据：{c.profile}" if lang != "en" else f"Programme: {c.profile}"),
        c.author and (f"编制单位：{c.author}" if lang != "en" else f"Prepared by: {c.author}"),
        (f"日期：{c.date.isoformat()}" if lang != "en" else f"Date: {c.date.isoformat()}"),
        f"ditan {c.version}",
    ):
        if line:
            q = doc.add_paragraph(line)
            q.alignment = WD_ALIGN_PARAGRAPH.CENTER
    doc.add_page_break()
    # ---- 1 scope and sources
    doc.add_heading(tr("scope", lang), level=1)
    for line in c.scope_lines:
        doc.add_paragraph(line)
    if len(c.sources):
        _table(
            doc,
            [tr("file", lang), tr("modified", lang)],
            c.sources[["file", "modified"]].astype(str).values.tolist(),
        )
    doc.add_paragraph("")
    q = c.quality
    cols = ["layer", "features_read", "kept", "repaired", "dropped", "flagged"]
    if len(q) and set(cols) <= set(q.columns):
        rows = [
            [_fmt(v, 0) if k else str(v) for k, v in enumerate(r)]
            for r in q[cols].itertuples(index=False)
        ]
        _table(
            doc,
            [tr(k, lang) for k in ("layer", "read", "kept", "repaired", "dropped", "flagged")],
            rows,
            [6.5, 1.8, 1.8, 1.8, 1.8, 1.8],
        )
    # ---- 2 method
    doc.add_heading(tr("method", lang), level=1)
    if c.profile:
        doc.add_paragraph(
            f"评价标准：{c.profile}（{c.profile_source}）。"
            if lang != "en"
            else f"Programme: {c.profile} ({c.profile_source})."
        )
    for label, how in c.methods:
        doc.add_paragraph(
            f"{label}：{how}", style="List Bullet" if "List Bullet" in doc.styles else None
        )
    # ---- 3 per unit
    doc.add_heading(tr("units", lang), level=1)
    if not c.profile:
        doc.add_paragraph(tr("no_profile", lang))
    if c.units_total > len(c.units):
        where = "数据/compliance.csv" if c.profile else "数据/indicators.csv"
        doc.add_paragraph(
            say(
                f"本节详列 {len(c.units)} 个单元（共 {c.units_total} 个，按 {c.units_chosen_by} 选取）；"
                f"全部单元的结果见 {where}。",
                f"This section details {len(c.units)} of the {c.units_total} units (chosen by "
                f"{c.units_chosen_by}); every unit's results are in {where}.",
                lang,
            )
        )
    for i, u in enumerate(c.units, start=1):
        doc.add_heading(f"3.{i} {u.name}（{u.uid}）", level=2)
        if u.kind:
            doc.add_paragraph(f"试点类型：{u.kind}" if lang != "en" else f"Pilot kind: {u.kind}")
        if len(u.checks):
            rows = []
            for r in u.checks.itertuples(index=False):
                status = str(r.status)
                verdict = say(STATUS_ZH.get(status, status), status.replace("_", " "), lang)
                value = _fmt(r.measured) + (
                    f" {r.unit}"
                    if isinstance(r.unit, str) and r.unit and pd.notna(r.measured)
                    else ""
                )
                rows.append([str(r.zh), value, str(r.target), verdict, str(r.binding_zh)])
            _table(
                doc,
                [tr(k, lang) for k in ("indicator", "measured", "target", "verdict", "binding")],
                rows,
                [5.5, 3.0, 2.5, 2.5, 2.0],
            )
        elif u.key_values:
            _table(
                doc,
                [tr("indicator", lang), tr("measured", lang)],
                [list(kv) for kv in u.key_values],
            )
        if u.radar is not None:
            doc.add_picture(str(u.radar), width=Cm(11))
            cap = doc.add_paragraph(f"图 3.{i} {u.name} {tr('radar', lang)}")
            cap.alignment = WD_ALIGN_PARAGRAPH.CENTER
    # ---- 4 gaps
    doc.add_heading(tr("gaps", lang), level=1)
    if c.gaps:
        for g in c.gaps:
            doc.add_paragraph(g, style="List Bullet" if "List Bullet" in doc.styles else None)
    else:
        doc.add_paragraph(tr("no_gaps", lang))
    if len(c.not_assessable):
        _table(
            doc,
            [
                tr("indicator", lang),
                "无法评估单元数" if lang != "en" else "Units not assessable",
                "原因" if lang != "en" else "Reason",
            ],
            c.not_assessable.astype(str).values.tolist(),
        )
    # ---- 5 charts
    doc.add_heading(tr("charts", lang), level=1)
    if c.bars_max_units is not None:
        doc.add_paragraph(
            say(
                f"单元数 {c.units_total} 超过 {c.bars_max_units}，未绘制逐单元对比图；"
                "各单元指标值见 数据/indicators.csv。",
                f"{c.units_total} units, more than {c.bars_max_units}: no bar chart of every unit; "
                "every unit's values are in 数据/indicators.csv.",
                lang,
            )
        )
    for k, (caption, png) in enumerate(c.bars, start=1):
        doc.add_picture(str(png), width=Cm(15))
        cap = doc.add_paragraph(f"图 5.{k} {caption}")
        cap.alignment = WD_ALIGN_PARAGRAPH.CENTER
    # ---- 6 carbon
    if c.carbon is not None:
        doc.add_heading(tr("carbon", lang), level=1)
        _table(doc, list(c.carbon.columns), c.carbon.astype(str).values.tolist())
        for note in c.carbon_notes:
            doc.add_paragraph(note)
    # ---- 7 annex
    if c.annex_note and c.annex_wanted:
        doc.add_heading(tr("annex", lang), level=1)
        doc.add_paragraph(
            f"附图未收入本报告：{c.annex_note}"
            if lang != "en"
            else f"The annex sheets are not in this report: {c.annex_note}"
        )
    if any(u.annex for u in c.units):
        doc.add_heading(tr("annex", lang), level=1)
        for u in c.units:
            for k, png in enumerate(u.annex, start=1):
                doc.add_picture(str(png), width=Cm(15))
                cap = doc.add_paragraph(f"附图 {u.uid}-{k} {u.name} {png.stem.split('_', 2)[-1]}")
                cap.alignment = WD_ALIGN_PARAGRAPH.CENTER
    doc.core_properties.title = f"{c.title} {T['report'][0]}"
    doc.core_properties.author = c.author or "ditan"
    from ditan.pipelines.outputs.files import FIXED_TIME, redate_zip

    # the same file for the same inputs: no time inside, in the properties or on the zip entries
    doc.core_properties.created = doc.core_properties.modified = FIXED_TIME
    doc.save(str(path))
    redate_zip(path)
