"""附图9 指标达标图 — a unit's compliance rules on one sheet: the radar against the targets and the table of rules.

The radar is the report's (:func:`ditan.maps.charts.draw_radar`: each assessable rule with a numeric target as the share
of its target reached, the target circle at 100 %); the table lists every rule of the profile for the unit with its
measured value, target and result (达标 / 未达标 / 无法评估, coloured as in indicators.xlsx), the binding rules
first. Drawn when the run has a compliance profile (``compliance.profile``); otherwise the sheet is skipped with
the reason in annex.json.
"""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from ditan.maps.annex_page import page_inches
from ditan.maps.charts import draw_radar, radar_note, spokes_of
from ditan.maps.display_text import MISSING, value_text

__all__ = ["TARGETS_SHEET", "targets_figure", "rule_rows"]

TARGETS_SHEET = "targets"
#: result → (text, cell colour), the colours of indicators.xlsx's compliance sheet
RESULT = {
    "pass": ("达标", "#c6efce"),
    "fail": ("未达标", "#ffc7ce"),
    "not_assessable": ("无法评估", "#ffeb9c"),
}
#: the table shows this many rules; more are counted under it
MAX_ROWS = 40
HEADER = ("指标", "实测值", "目标", "结论", "约束性")
#: targets written as words in the compliance table
TARGET_TEXT = {"present": "应具备"}


def _measured(row: pd.Series) -> str:
    """The measured value as the map's popups write it (value_text), with its unit."""
    text = value_text(pd.to_numeric(row.get("measured"), errors="coerce"))
    unit = str(row.get("unit") or "")
    keep = text != MISSING and unit and unit not in ("ratio", "count")
    return f"{text} {unit}" if keep else text


def rule_rows(checks: pd.DataFrame) -> list[tuple[str, str, str, str, str, str]]:
    """The table's rows of one unit's compliance rows: (rule, measured, target, result, binding, status), binding first."""
    rows = checks.assign(
        _order=(checks["binding"].astype(str) != "binding").astype(int)
        if "binding" in checks
        else 0
    ).sort_values("_order", kind="stable")
    out = []
    for _, r in rows.iterrows():  # a unit's rules: a few dozen rows
        status = str(r.get("status"))
        out.append(
            (
                str(r.get("zh")),
                _measured(r),
                TARGET_TEXT.get(str(r.get("target")), str(r.get("target")))
                if pd.notna(r.get("target"))
                else "—",
                RESULT.get(status, (status, ""))[0],
                str(r.get("binding_zh") or ""),
                status,
            )
        )
    return out


def targets_figure(
    checks: pd.DataFrame,
    rules: dict,
    *,
    title: str,
    subtitle: str,
    info: list[str],
    paper: str = "A4",
    orient: str = "portrait",
) -> Figure:
    """The sheet of one unit: ``checks`` are its compliance rows, ``rules`` rule id → profile Rule.

    ``orient`` follows the unit's map sheets (one booklet): portrait puts the table under the radar,
    landscape beside it.
    """
    W, H = page_inches(paper, orient)
    fig = Figure(figsize=(W, H))
    m = 0.45
    fig.text(m / W, 1 - 0.42 / H, title, fontsize=15, va="top")
    fig.text(m / W, 1 - 0.78 / H, subtitle, fontsize=9, va="top", color="#444444")
    spokes = spokes_of(checks, rules)
    if orient == "landscape":
        radar_box, note_xy, table_box = (
            (0.07, 0.30, 0.36, 0.52),
            (m / W, 0.25),
            (0.50, 0.14, 0.46, 0.70),
        )
    else:
        radar_box, note_xy, table_box = (
            (0.18, 0.56, 0.64, 0.33),
            (0.5, 0.535),
            (m / W, 0.09, 1 - 2 * m / W, 0.40),
        )
    radar = fig.add_axes(radar_box, projection="polar")
    draw_radar(radar, spokes, label_size=6.5)
    align = "left" if orient == "landscape" else "center"
    fig.text(*note_xy, radar_note(spokes), ha=align, va="top", fontsize=7, wrap=True)
    rows = rule_rows(checks)
    shown = rows[:MAX_ROWS]
    tax = fig.add_axes(table_box)
    tax.axis("off")
    if shown:
        table = tax.table(
            cellText=[list(r[:5]) for r in shown],
            colLabels=list(HEADER),
            colWidths=[0.40, 0.17, 0.17, 0.12, 0.10],
            loc="upper center",
            cellLoc="left",
        )
        table.auto_set_font_size(False)
        table.set_fontsize(6.5 if len(shown) <= 25 else 5.5)
        table.scale(1.0, 1.15 if len(shown) <= 25 else 0.95)
        for j in range(len(HEADER)):
            table[0, j].set_facecolor("#e7e6e6")
        for i, r in enumerate(shown, start=1):
            table[i, 3].set_facecolor(RESULT.get(r[5], ("", "#ffffff"))[1] or "#ffffff")
    else:
        tax.text(0.5, 0.9, "该单元无达标核查结果", ha="center", fontsize=9)
    more = len(rows) - len(shown)
    notes = ([f"另有 {more} 项未列出，见 compliance.csv"] if more > 0 else []) + info
    fig.text(m / W, 0.075, "\n".join(notes), fontsize=6.5, va="top", linespacing=1.6, wrap=True)
    return fig
