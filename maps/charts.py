"""Charts of the report (指标核查报告): a radar per unit against the targets, bars of each indicator across units.

Drawn with matplotlib in the annex's CJK font, written as PNG and SVG.

A radar's spokes are the unit's assessable rules with a numeric target, each as the share of its target
reached (``measured ÷ target`` for ≥, ``target ÷ measured`` for ≤, the nearer bound for a range; 100 % =
target met, capped at 200 %): what is met lies on or outside the target circle. A rule without a value (无法
评估) is left off the radar and named under it.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
import pandas as pd

__all__ = [
    "Spoke",
    "target_share",
    "radar_figure",
    "draw_radar",
    "radar_note",
    "bars_figure",
    "save_figure",
]

#: a spoke is drawn up to this share of its target
MAX_SHARE = 2.0
#: the mark of a screening candidate without a score (NaN)
NOT_RANKED = "未参与排序 not ranked"
#: the screening chart's bars: at most this many candidates, in rank order
SCREENING_MAX_BARS = 60
#: text from data set as written: a "$" in a unit's name is not matplotlib's mathtext
PLAIN_TEXT = {"text.parse_math": False}


F = TypeVar("F", bound=Callable)


def plain_text(fn: F) -> F:
    """Draw inside ``rc_context(PLAIN_TEXT)``: the labels made there keep every "$" as text."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        import matplotlib

        with matplotlib.rc_context(PLAIN_TEXT):
            return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


@dataclass(frozen=True)
class Spoke:
    label: str  # the rule's Chinese name
    share: float  # share of the target reached (1 = met), NaN: not assessable
    status: str  # pass | fail | not_assessable


def target_share(
    measured: float, comparator: str, target: float | None, target_max: float | None
) -> float:
    """How much of the target a value reaches: 1 = met exactly, above 1 = more than met (NaN: not comparable)."""
    if measured is None or not math.isfinite(measured) or target is None:
        return math.nan
    if comparator in (">=", ">"):
        return measured / target if target > 0 else (1.0 if measured >= target else 0.0)
    if comparator in ("<=", "<"):
        return target / measured if measured > 0 else MAX_SHARE
    if comparator == "range" and target_max is not None:
        if target <= measured <= target_max:
            return 1.0
        return measured / target if measured < target else target_max / measured
    return math.nan


def _font(font_path: str | None):
    from matplotlib.font_manager import FontProperties

    return FontProperties(fname=font_path) if font_path else None


@plain_text
def radar_figure(title: str, spokes: Sequence[Spoke], *, font_path: str | None = None):
    """A radar of the unit's rules as shares of their targets (the target circle at 100 %)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fp = _font(font_path)
    fig = Figure(figsize=(6.0, 6.4), dpi=150)
    ax = fig.add_subplot(projection="polar")
    draw_radar(ax, spokes, fp)
    ax.set_title(title, fontproperties=fp, fontsize=11, pad=18)
    fig.text(0.5, 0.02, radar_note(spokes), ha="center", fontproperties=fp, fontsize=7, wrap=True)
    return fig


def draw_radar(ax, spokes: Sequence[Spoke], fp=None, *, label_size: float = 7) -> None:
    """The radar on a polar ``ax``: the shares reached (capped at MAX_SHARE), the target circle dashed.

    Fewer than three assessable rules make no polygon: the axes say so instead.
    """
    shown = [s for s in spokes if math.isfinite(s.share)]
    if len(shown) >= 3:
        ang = np.linspace(0, 2 * np.pi, len(shown), endpoint=False)
        r = np.minimum([s.share for s in shown], MAX_SHARE)
        loop = np.append(ang, ang[0])
        ax.plot(loop, np.append(r, r[0]), color="#1f6f8b", linewidth=1.6)
        ax.fill(loop, np.append(r, r[0]), color="#1f6f8b", alpha=0.18)
        colours = ["#2e7d32" if s.status == "pass" else "#c62828" for s in shown]
        ax.scatter(ang, r, c=colours, s=22, zorder=3)
        ax.plot(np.linspace(0, 2 * np.pi, 200), np.ones(200), "--", color="#555555", linewidth=1.0)
        ax.set_xticks(ang)
        ax.set_xticklabels([s.label for s in shown], fontproperties=fp, fontsize=label_size)
        ax.set_ylim(0, MAX_SHARE)
        ax.set_yticks([0.5, 1.0, 1.5, 2.0])
        ax.set_yticklabels(["50%", "100%", "150%", "≥200%"], fontsize=label_size - 1)
    else:
        ax.set_axis_off()
        ax.text(
            0.5,
            0.5,
            "可评估指标不足三项 fewer than three assessable rules",
            ha="center",
            transform=ax.transAxes,
            fontproperties=fp,
            fontsize=9,
        )


def radar_note(spokes: Sequence[Spoke]) -> str:
    """The radar's key, and the rules left off it for want of a value."""
    missing = [s.label for s in spokes if not math.isfinite(s.share)]
    note = "虚线：目标值 (100%)；绿点达标，红点未达标"
    if missing:
        note += f"\n无法评估 not assessable: {'、'.join(missing[:8])}" + (
            "…" if len(missing) > 8 else ""
        )
    return note


@plain_text
def bars_figure(
    title: str,
    names: Sequence[str],
    values: Sequence[float],
    *,
    unit: str = "",
    target: float | None = None,
    target_max: float | None = None,
    font_path: str | None = None,
):
    """Bars of one indicator across the units, the target as a line (a range: two lines); NaN bars marked."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fp = _font(font_path)
    v = np.asarray(values, dtype=float)
    n = len(v)
    fig = Figure(figsize=(max(6.0, 0.42 * n + 2.0), 4.2), dpi=150)
    ax = fig.add_subplot()
    x = np.arange(n)
    ax.bar(x, np.nan_to_num(v, nan=0.0), color=np.where(np.isnan(v), "#dddddd", "#1f6f8b"))
    for i in np.flatnonzero(np.isnan(v)):
        ax.text(
            i, 0, "无法评估", rotation=90, ha="center", va="bottom", fontproperties=fp, fontsize=6
        )
    for t, style in ((target, "--"), (target_max, ":")):
        if t is not None:
            ax.axhline(t, color="#c62828", linestyle=style, linewidth=1.2)
            ax.text(
                n - 0.5,
                t,
                f" 目标 {t:g}",
                color="#c62828",
                va="bottom",
                ha="right",
                fontproperties=fp,
                fontsize=7,
            )
    ax.set_xticks(x)
    ax.set_xticklabels(
        [str(s)[:12] for s in names], rotation=60, ha="right", fontproperties=fp, fontsize=6
    )
    ax.set_ylabel(unit, fontproperties=fp, fontsize=8)
    ax.set_title(title, fontproperties=fp, fontsize=10)
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    return fig


def save_figure(fig, stem: Path) -> tuple[Path, Path]:
    """``stem``.png (150 dpi) and ``stem``.svg; returns both paths."""
    import matplotlib

    matplotlib.rcParams["svg.hashsalt"] = "ditan"  # the same SVG for the same chart
    png, svg = stem.with_suffix(".png"), stem.with_suffix(".svg")
    fig.savefig(png, dpi=150)
    fig.savefig(svg, metadata={"Date": None})
    return png, svg


def spokes_of(checks: pd.DataFrame, rules: dict) -> list[Spoke]:
    """The spokes of one unit's compliance rows (``checks`` of one unit; ``rules`` id → profile Rule)."""
    out = []
    for row in checks.itertuples(index=False):  # a unit's rules: a few dozen rows
        rule = rules.get(row.rule_id)
        if rule is None or rule.target is None:
            continue
        share = target_share(
            float(row.measured) if pd.notna(row.measured) else math.nan,
            rule.comparator,
            rule.target,
            rule.target_max,
        )
        out.append(Spoke(label=str(row.zh), share=share, status=str(row.status)))
    return out


@plain_text
def screening_figure(
    names: Sequence[str],
    scores: Sequence[float],
    shortlisted: Sequence[bool],
    *,
    title: str = "试点遴选得分 Screening scores",
    font_path: str | None = None,
):
    """The distribution of the candidates' scores, and the first SCREENING_MAX_BARS by rank with the shortlist highlighted.

    ``names``, ``scores`` and ``shortlisted`` are in rank order; a candidate without a score (NaN) is
    marked NOT_RANKED, never drawn as a score of 0.
    """
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fp = _font(font_path)
    every = np.asarray(scores, dtype=float)
    finite = every[np.isfinite(every)]
    # a city's candidates: the bars show the first SCREENING_MAX_BARS by rank (the histogram has them all)
    s = every[:SCREENING_MAX_BARS]
    short = np.asarray(shortlisted, dtype=bool)[:SCREENING_MAX_BARS]
    names = list(names)[:SCREENING_MAX_BARS]
    n = len(s)
    fig = Figure(figsize=(max(7.0, 0.35 * n + 4.0), 4.2), dpi=150)
    ax1, ax2 = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, max(1.5, n / 8)]})
    ax1.hist(
        finite, bins=min(20, max(3, len(finite) // 2 or 1)), color="#1f6f8b", edgecolor="white"
    )
    ax1.set_title("得分分布 distribution", fontproperties=fp, fontsize=9)
    ax1.set_xlabel("得分 score", fontproperties=fp, fontsize=8)
    ax1.set_ylabel("单元数 units", fontproperties=fp, fontsize=8)
    x = np.arange(n)
    na = np.isnan(s)  # no score (NaN): marked, never a bar of 0
    ax2.bar(
        x, np.nan_to_num(s), color=np.where(na, "#dddddd", np.where(short, "#c62828", "#9e9e9e"))
    )
    for i in np.flatnonzero(na):
        ax2.text(
            i, 0, NOT_RANKED, rotation=90, ha="center", va="bottom", fontproperties=fp, fontsize=6
        )
    ax2.set_xticks(x)
    ax2.set_xticklabels(
        [str(t)[:12] for t in names], rotation=60, ha="right", fontproperties=fp, fontsize=6
    )
    shown = (
        ""
        if len(every) <= SCREENING_MAX_BARS
        else f"（前 {n} 名，共 {len(every):,} 个 first {n} of {len(every):,}）"
    )
    ax2.set_title(
        f"按排名：红色为入围 by rank, shortlist in red{shown}", fontproperties=fp, fontsize=9
    )
    for ax in (ax1, ax2):
        ax.spines[["top", "right"]].set_visible(False)
    fig.suptitle(title, fontproperties=fp, fontsize=11)
    fig.tight_layout()
    return fig
