"""附图 — the printed map annex of an implementation plan: six to nine sheets per unit (PDF and 300 dpi PNG).

The carbon sheets (7 屋顶光伏潜力图, 8 碳排放强度图) are drawn when the run has a carbon inventory and buildings,
the 指标达标图 (9, a chart: :mod:`ditan.maps.annex_targets`) when it has a compliance profile.

Each sheet (SHEETS) has a Chinese title with the unit name, a legend, a scale bar measured in metres, a
north arrow, the data sources, the run date and the CRS, on an A4 or A3 page turned to the unit's shape.
Text is set in a CJK font found on the system (Noto Sans CJK SC of Debian's fonts-noto-cjk first). Its
.ttc holds CFF outlines, which matplotlib's PDF backend would write as a TrueType (FontFile2) stream, not
valid PDF (matplotlib issues 2869, 20870); so for the PDF every text is switched to a subset of the font
converted to TrueType outlines (fontTools cu2qu), embedded as a proper CIDFontType2/FontFile2. Figures are
drawn on Agg/PDF canvases directly (no pyplot, no interactive backend).

Here each sheet is laid out on its page and the unit's sheets are written; the page furniture (paper,
extent, scale bar, north arrow) is :mod:`ditan.maps.annex_page`, what each sheet draws
:mod:`ditan.maps.annex_sheets` and :mod:`ditan.maps.annex_carbon`.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

import geopandas as gpd
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.lines import Line2D
from matplotlib.table import Table
from matplotlib.text import Text

from ditan.maps.annex_carbon import CARBON_DRAW
from ditan.maps.annex_context import PRINT_DPI, draw_context
from ditan.maps.annex_page import (
    draw_north_arrow,
    draw_scale_bar,
    map_extent,
    orientation,
    page_inches,
    rounded_scale,
    scale_bar,
)
from ditan.maps.annex_sheets import DRAW, SHEETS, WHOLE_AREA, AnnexLayers, sheet_numbers
from ditan.maps.annex_targets import TARGETS_SHEET, targets_figure
from ditan.maps.fonts import CjkFont, truetype_subset

__all__ = ["sheet_figure", "draw_unit"]

UNIT_LINE = {"color": "#d0021b", "linewidth": 1.6, "linestyle": (0, (6, 3))}
#: every sheet's drawer, by key (the carbon sheets from ditan.maps.annex_carbon)
DRAWERS = {**DRAW, **CARBON_DRAW}


# --- pages ---------------------------------------------------------------------------------------


def sheet_figure(L: AnnexLayers, uid: str, number: int, *, paper: str = "A4") -> Figure:
    """One sheet (``number`` 1 … len(SHEETS)) of unit ``uid`` on a page of ``paper``."""
    key, title = SHEETS[number - 1]
    if key == TARGETS_SHEET:
        return _targets_sheet(L, uid, number, paper)
    bounds = L.units.geometry.loc[uid].bounds
    orient = orientation(bounds)
    W, H = page_inches(paper, orient)
    fig = Figure(figsize=(W, H))
    m, top, panel = (
        0.45,
        1.05,
        (3.1 if orient == "landscape" else 2.7) * (1.15 if paper == "A3" else 1.0),
    )
    if orient == "landscape":
        box = (m, m, W - 2 * m - panel - 0.15, H - m - top)
        pbox = (W - m - panel, m, panel, H - m - top)
    else:
        box = (m, m + panel + 0.15, W - 2 * m, H - 2 * m - panel - 0.15 - top + m)
        pbox = (m, m, W - 2 * m, panel)
    ax = fig.add_axes((box[0] / W, box[1] / H, box[2] / W, box[3] / H))
    whole = key in WHOLE_AREA
    src = L.units.total_bounds if whole else bounds
    ext = map_extent(src, box[2], box[3], margin=0.04 if whole else 0.12)
    ax.set(xlim=(ext[0], ext[2]), ylim=(ext[1], ext[3]), xticks=[], yticks=[])
    ax.set_aspect("equal", adjustable="box")
    # beneath the sheet's own content: the basemap (tile cache) and the vector context
    context_notes: list[str] = []
    if L.context is not None:
        context_notes = draw_context(
            ax,
            L.context,
            uid,
            key,
            ext,
            ground_m_per_px=(ext[2] - ext[0]) / (box[2] * PRINT_DPI),
            neighbours=not whole,  # the whole-area sheets draw every unit
        )
    handles, notes = DRAWERS[key](ax, L, uid, ext)
    if not whole and L.context is None:
        L.units.boundary.plot(ax=ax, color="#7f7f7f", linewidth=0.5, zorder=11)
    gpd.GeoSeries([L.units.geometry.loc[uid]], crs=L.units.crs).boundary.plot(
        ax=ax, zorder=12, **UNIT_LINE
    )
    handles.append(Line2D([], [], label="单元边界", **UNIT_LINE))
    ax.set(xlim=(ext[0], ext[2]), ylim=(ext[1], ext[3]), xlabel="", ylabel="")
    bar = scale_bar(ext[2] - ext[0], box[2])
    draw_scale_bar(ax, bar, ext)
    draw_north_arrow(ax)
    name = str(L.units.at[uid, "name"]) if "name" in L.units.columns else uid
    fig.text(m / W, 1 - 0.42 / H, f"附图{number} {title} — {name}", fontsize=15, va="top")
    sub = f"单元 {uid} · 面积 {L.units.geometry.loc[uid].area / 1e6:.3f} km²"
    fig.text(m / W, 1 - 0.78 / H, sub, fontsize=9, va="top", color="#444444")
    pax = fig.add_axes((pbox[0] / W, pbox[1] / H, pbox[2] / W, pbox[3] / H))
    pax.axis("off")
    wide = (
        orient == "portrait"
    )  # portrait: legend on the left of the band below the map, notes on its right
    pax.legend(
        handles=handles,
        loc="upper left",
        frameon=False,
        fontsize=7,
        title="图例",
        title_fontsize=9,
        ncol=2 if wide else 1,
        handlelength=2.0,
        borderaxespad=0.0,
        alignment="left",
        bbox_to_anchor=(0, 1, 0.64 if wide else 1, 0),
    )
    info = [
        *notes,
        *context_notes,
        f"比例尺 1:{rounded_scale(bar.scale):,}（{paper} 打印）",
        f"坐标系：{L.crs_name}",
        f"数据来源：{L.attribution}",
        f"制图日期：{L.date} · ditan",
    ]
    pax.text(
        0.66 if wide else 0.0,
        1.0 if wide else 0.0,
        "\n".join(info),
        transform=pax.transAxes,
        fontsize=6.5,
        va="top" if wide else "bottom",
        ha="left",
        linespacing=1.6,
        wrap=True,
    )
    return fig


def _targets_sheet(L: AnnexLayers, uid: str, number: int, paper: str) -> Figure:
    """附图9: the unit's rules against the profile's targets (a chart, no map)."""
    name = str(L.units.at[uid, "name"]) if "name" in L.units.columns else uid
    checks = L.checks if L.checks is not None else pd.DataFrame({"unit_id": []})
    return targets_figure(
        checks[checks["unit_id"].astype(str) == str(uid)],
        L.rules,
        title=f"附图{number} {SHEETS[number - 1][1]} — {name}",
        subtitle=f"单元 {uid} · 达标核查标准：{L.profile_name}",
        info=[f"数据来源：{L.attribution}", f"制图日期：{L.date} · ditan"],
        paper=paper,
        orient=orientation(L.units.geometry.loc[uid].bounds),
    )


def _texts(fig: Figure) -> list[Text]:
    """Every text of a figure, the cells of its tables included (findobj does not reach them)."""
    cells = [c.get_text() for t in fig.findobj(Table) for c in t.get_celld().values()]
    return [t for t in [*fig.findobj(Text), *cells] if t.get_text()]


def _use_font(figs: Sequence[Figure], path: str) -> None:
    for fig in figs:
        for t in _texts(fig):
            t.set_fontproperties(FontProperties(fname=path, size=t.get_fontsize()))


def draw_unit(
    L: AnnexLayers,
    uid: str,
    *,
    paper: str,
    font: CjkFont,
    pdf_path: Path,
    png_paths: Sequence[Path],
    dpi: int = 300,
) -> None:
    """Draw the sheets of ``uid`` (:func:`sheet_numbers`): one PNG each at ``dpi`` and one multi-page PDF with an embedded TrueType subset."""
    from matplotlib import rc_context
    from matplotlib.backends.backend_pdf import PdfPages

    with rc_context(
        {
            "font.family": [font.name],
            "pdf.fonttype": 42,
            "hatch.linewidth": 0.4,
            "axes.unicode_minus": False,
            "text.parse_math": False,  # a "$" in a name is text, not mathtext
        }
    ):
        figs = [sheet_figure(L, uid, n, paper=paper) for n in sheet_numbers(L)]
        for fig, png in zip(figs, png_paths, strict=True):
            fig.savefig(png, dpi=dpi, facecolor="white")
        text = "".join(t.get_text() for f in figs for t in _texts(f))
        with tempfile.TemporaryDirectory(prefix="ditan-font-") as tmp:
            _use_font(figs, str(truetype_subset(font, text, Path(tmp))))
            with PdfPages(
                pdf_path,
                metadata={"Title": f"附图 {uid}", "Creator": "ditan", "CreationDate": None},
            ) as pdf:
                for fig in figs:
                    pdf.savefig(fig, facecolor="white")
