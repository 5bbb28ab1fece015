"""The radar in a unit's popup on the interactive map: its rules as shares of their targets, as a small inline SVG.

The shares are the report's (:func:`ditan.maps.charts.spokes_of`: ``measured ÷ target`` for ≥, ``target ÷
measured`` for ≤, capped at 200 %); the dashed circle is the target (100 %), a green dot a rule met, a red dot
one missed. A few hundred bytes per unit, written by hand rather than by matplotlib (whose SVG is ~30 kB), so
map.html stays small; above :data:`MAX_CHART_UNITS` units the page says once that the charts are left out.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import pandas as pd

from ditan.maps.charts import MAX_SHARE, Spoke, spokes_of
from ditan.maps.display_text import inert_html

__all__ = ["MAX_CHART_UNITS", "radar_svg", "popup_charts", "TOO_MANY", "TOO_FEW"]

#: above this many units the popups carry no chart (map.html would grow by ~1 kB per unit)
MAX_CHART_UNITS = 300
TOO_MANY = "单元超过 {n} 个，弹窗未附雷达图（见报告） More than {n} units: no radar chart here (see the report)"
TOO_FEW = "可评估指标不足三项，无雷达图 Fewer than three assessable rules: no radar chart"
NO_RULES = "无目标值规则 No rule with a target"
_SIZE, _R = 200, 62.0  # the SVG's width/height (px) and the radius of the 200 % ring
_PASS, _FAIL = "#2e7d32", "#c62828"


def _xy(share: float, k: int, n: int) -> tuple[float, float]:
    a = 2 * math.pi * k / n - math.pi / 2  # the first spoke points up, clockwise
    r = _R * min(share, MAX_SHARE) / MAX_SHARE
    return _SIZE / 2 + r * math.cos(a), _SIZE / 2 + r * math.sin(a)


def radar_svg(spokes: Iterable[Spoke]) -> str:
    """The radar as an <svg> element (labels escaped); a short note instead when fewer than three spokes have a value."""
    spokes = list(spokes)
    shown = [s for s in spokes if math.isfinite(s.share)]
    if not spokes:
        return inert_html(NO_RULES)
    if len(shown) < 3:  # none or too few with a value
        return inert_html(TOO_FEW)
    n, c = len(shown), _SIZE / 2
    pts = [_xy(s.share, k, n) for k, s in enumerate(shown)]
    parts = [
        f'<svg class="ditan-radar" xmlns="http://www.w3.org/2000/svg" width="{_SIZE}" height="{_SIZE}" '
        f'viewBox="0 0 {_SIZE} {_SIZE}" role="img" aria-label="雷达图 radar">',
        f'<circle cx="{c:g}" cy="{c:g}" r="{_R:g}" fill="none" stroke="#ccc"/>',
        f'<circle cx="{c:g}" cy="{c:g}" r="{_R / 2:g}" fill="none" stroke="#555" stroke-dasharray="3 2"/>',
        '<polygon fill="rgba(31,111,139,.18)" stroke="#1f6f8b" points="'
        + " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)
        + '"/>',
    ]
    for k, (s, (x, y)) in enumerate(zip(shown, pts, strict=True)):
        lx, ly = _xy(MAX_SHARE * 1.12, k, n)
        anchor = "middle" if abs(lx - c) < 8 else ("start" if lx > c else "end")
        label = inert_html(s.label[:6] + ("…" if len(s.label) > 6 else ""))
        tip = inert_html(f"{s.label}: {s.share:.0%}")
        colour = _PASS if s.status == "pass" else _FAIL
        parts.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}"><title>{tip}</title></circle>'
            f'<text x="{lx:.1f}" y="{ly:.1f}" font-size="8" text-anchor="{anchor}" '
            f'dominant-baseline="middle">{label}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def popup_charts(
    unit_ids: Iterable[object],
    checks: pd.DataFrame,
    rules: Mapping[str, object],
    *,
    max_units: int = MAX_CHART_UNITS,
) -> list[str] | None:
    """One popup cell per unit (in ``unit_ids`` order): its radar SVG, or the note why there is none.

    None above ``max_units`` units: the page then says once (:data:`TOO_MANY`) that the charts are left out.

    ``checks``: the compliance long table (unit_id, rule_id, zh, measured, status); ``rules``: rule id →
    the profile's Rule (comparator, target, target_max).
    """
    ids = [str(i) for i in unit_ids]
    if len(ids) > max_units:
        return None
    by_unit = dict(tuple(checks.groupby(checks["unit_id"].astype(str), sort=False)))
    empty = checks.iloc[:0]
    return [radar_svg(spokes_of(by_unit.get(i, empty), dict(rules))) for i in ids]
