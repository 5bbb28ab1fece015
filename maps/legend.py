"""Legends, layer-control swatches and the colouring schemes of the interactive map's units.

The colours come from :mod:`ditan.maps.style`; here they become HTML: legend rows, the no-data hatch,
swatches, and per-indicator (quantile) and compliance colourings with their legends.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from ditan.maps.display_text import inert_html
from ditan.maps.style import (
    COMPLIANCE_CLASSES,
    NODATA_CLASS,
    NODATA_COLOR,
    NODATA_LABEL,
    SEQUENTIAL,
    bilingual,
    class_breaks,
    class_colors,
    classify,
)
from ditan.spatial.standards import columns

__all__ = [
    "line_swatch",
    "fill_swatch",
    "number_text",
    "legend_rows",
    "indicator_scheme",
    "compliance_scheme",
]

# --- legend ------------------------------------------------------------------------------------

_HATCH_ID = "ditan-nodata-hatch"
_LEGEND_CSS = (
    f"path.{NODATA_CLASS}{{fill:url(#{_HATCH_ID});}}"
    ".ditan-legend{position:fixed;bottom:28px;left:10px;z-index:1000;background:rgba(255,255,255,.9);"
    "padding:6px 8px;border-radius:4px;font:12px/1.5 sans-serif;box-shadow:0 0 4px rgba(0,0,0,.3);}"
    ".ditan-sw{display:inline-block;width:16px;height:12px;margin-right:6px;vertical-align:middle;"
    "border:1px solid #555;}"
    ".ditan-ln{display:inline-block;width:24px;margin-right:6px;vertical-align:middle;}"
)
_HATCH_SVG = (
    '<svg width="0" height="0" style="position:absolute" aria-hidden="true"><defs>'
    f'<pattern id="{_HATCH_ID}" patternUnits="userSpaceOnUse" width="8" height="8" '
    f'patternTransform="rotate(45)"><rect width="8" height="8" fill="{NODATA_COLOR}"/>'
    '<line x1="0" y1="0" x2="0" y2="8" stroke="#737373" stroke-width="2"/></pattern></defs></svg>'
)


# --- interactive map: indicator choice and swatches -----------------------------------------------


#: the carbon-inventory colourings (碳盘查), offered after the spatial indicators when the run has them
CARBON_KEYS: tuple[str, ...] = (
    "co2_per_floor_area_kg_per_m2",
    "co2_per_capita_t",
    "building_co2_t_per_year",
    "renewable_substitution_potential_pct",
)
#: a legend title before the indicator's own label: carbon intensities are read as one family on the map
SCHEME_TITLES: dict[str, str] = {
    "co2_per_floor_area_kg_per_m2": "碳排放强度 Carbon intensity · ",
    "co2_per_capita_t": "碳排放强度 Carbon intensity · ",
}


def key_indicators(tiers: Sequence[str], radius_m: float) -> list[str]:
    """Indicators the interactive map can colour the units by, in this order (those present are offered).

    Built from a run's own tier ids (widest first) and station radius.
    """
    keys = [
        "road_density_km_per_km2",
        "intersection_density_per_km2",
        "far_ratio",
        "building_density_pct",
        "green_space_ratio_pct",
        "green_coverage_pct",
        "park_service_coverage_pct",
    ]
    for t in reversed(list(tiers)):
        keys += [columns.lc_all(t), columns.lc_score(t)]
    keys += [columns.proximity("bus_stop", radius_m, m) for m in columns.METHODS]
    keys += [columns.proximity(k, radius_m, "network") for k in ("metro", "bike_rental")]
    return keys + ["lu_mix_index", *CARBON_KEYS]


#: the colourings of a run with the packaged tiers and the 500 m radius
KEY_INDICATORS: tuple[str, ...] = tuple(key_indicators(("5min", "10min", "15min"), 500.0))


def line_swatch(color: str, weight: float) -> str:
    """Layer-control swatch of a line layer."""
    return f'<span class="ditan-ln" style="border-top:{weight:g}px solid {color}"></span>'


def fill_swatch(fill: str, outline: str | None = None, dashed: bool = False) -> str:
    """Layer-control swatch of a polygon layer."""
    border = f"{'dashed' if dashed else 'solid'} {outline or fill}"
    return f'<span class="ditan-sw" style="background:{fill};border:1px {border}"></span>'


def number_text(v: float) -> str:
    """Short display of a class break: no more digits than a legend needs."""
    if not math.isfinite(v):
        return "—"
    return (
        f"{v:,.0f}"
        if abs(v) >= 100 or float(v).is_integer()
        else f"{v:,.2f}".rstrip("0").rstrip(".")
    )


def legend_rows(rows: Iterable[tuple[str, str]]) -> str:
    """Legend HTML: one row per (CSS background, already escaped text)."""
    return "".join(
        f'<div><span class="ditan-sw" style="background:{bg}"></span>{text}</div>'
        for bg, text in rows
    )


#: CSS background of the no-data swatch (the same hatch as the units' no-data fill).
NODATA_HATCH = f"repeating-linear-gradient(45deg,{NODATA_COLOR} 0 3px,#737373 3px 4px)"
#: SVG hatch pattern and CSS that fill no-data unit paths (``path.ditan-nodata``) on the interactive map.
HATCH_SVG = _HATCH_SVG
NODATA_CSS = f"path.{NODATA_CLASS}{{fill:url(#{_HATCH_ID});}}"


# --- interactive map: colouring schemes ---------------------------------------------------------


def indicator_scheme(
    values: Sequence[float] | np.ndarray,
    label: str,
    unit: str,
    key: str,
    *,
    palette: Sequence[str] = SEQUENTIAL,
    nodata_label: str = NODATA_LABEL,
) -> tuple[dict, list[int]]:
    """Quantile classes of one indicator: the scheme (key, escaped label, colours, legend HTML) and the class per unit.

    ``unit`` is shown after every class range (not for "count" and "ratio"); -1 is a unit without value, shown
    in the legend as ``nodata_label``. ``palette``: 5 sequential colours, light to dark (:func:`~ditan.maps.style.palette_of`).
    """
    v = np.asarray(values, dtype=float)
    breaks = class_breaks(v, k=5, method="quantile")
    colors = class_colors(len(breaks) - 1, palette)
    cls = [int(c) for c in classify(v, breaks)]
    suffix = inert_html(f" {unit}" if unit and unit not in ("count", "ratio") else "")
    rows = [
        (c, f"{number_text(lo)} – {number_text(hi)}{suffix}")
        for c, lo, hi in zip(colors, breaks, breaks[1:], strict=False)
    ]
    if not np.isfinite(v).any():  # no class to show: a 0 – 1 range would invent values
        rows = []
    if min(cls, default=0) < 0:
        rows.append((NODATA_HATCH, inert_html(nodata_label)))
    label = inert_html(label)
    legend = f'<div class="ditan-cap">{label}</div>' + legend_rows(rows)
    return {"key": key, "label": label, "colors": colors, "legend": legend}, cls


def compliance_scheme(
    unit_ids: Iterable[str], checks: pd.DataFrame
) -> tuple[dict, dict[str, list]]:
    """Binding result per unit (COMPLIANCE_CLASSES index; -1 when no binding rule applies) and its tooltip text.

    ``checks`` is the long table of ``ditan.spatial.standards.compliance.evaluate`` (unit_id, binding,
    status, zh). Returns the scheme (key "kc") and the properties kc (class), cb / cg (binding /
    guiding pass / fail / n.a. counts) and cf (the failing rules, escaped).
    """
    keys = [k for k, _, _ in COMPLIANCE_CLASSES]
    by_unit = dict(tuple(checks.groupby(checks["unit_id"].astype(str), sort=False)))
    empty = checks.iloc[:0]
    props: dict[str, list] = {"kc": [], "cb": [], "cg": [], "cf": []}
    for uid in unit_ids:
        rows = by_unit.get(str(uid), empty)
        binding = rows["binding"].eq("binding")
        n = [
            int((rows.loc[binding, "status"] == s).sum())
            for s in ("pass", "fail", "not_assessable")
        ]
        g = [
            int((rows.loc[~binding, "status"] == s).sum())
            for s in ("pass", "fail", "not_assessable")
        ]
        props["kc"].append(
            -1
            if not sum(n)
            else keys.index("fail" if n[1] else "not_assessable" if n[2] else "pass")
        )
        props["cb"].append(" / ".join(map(str, n)))
        props["cg"].append(" / ".join(map(str, g)))
        names = [str(z) for z in rows.loc[rows["status"] == "fail", "zh"]]
        props["cf"].append(
            inert_html("；".join(names[:8]) + ("…" if len(names) > 8 else "")) or "—"
        )
    rows = [(color, inert_html(bilingual(names))) for _, names, color in COMPLIANCE_CLASSES]
    if min(props["kc"], default=0) < 0:
        rows.append((NODATA_HATCH, "无约束性规则 No binding rule"))
    label = "达标情况（约束性） Compliance (binding rules)"
    legend = f'<div class="ditan-cap">{label}</div>' + legend_rows(rows)
    return {
        "key": "kc",
        "label": label,
        "colors": [c for _, _, c in COMPLIANCE_CLASSES],
        "legend": legend,
    }, props
