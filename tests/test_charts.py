"""The report's and the screening's charts: shares of targets computed by hand, figures written as PNG and SVG."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from ditan.maps import charts
from ditan.maps.fonts import FontMissingError, find_cjk_font

try:
    FONT: str | None = find_cjk_font().path
except (
    FontMissingError
):  # the charts are drawn all the same; matplotlib warns of the missing glyphs
    FONT = None
pytestmark = pytest.mark.filterwarnings("ignore:Glyph .* missing from font")


@pytest.mark.parametrize(
    "measured, comparator, target, target_max, share",
    [
        (30.0, ">=", 60.0, None, 0.5),  # half of a ≥ 60 target
        (90.0, ">=", 60.0, None, 1.5),
        (20.0, "<=", 10.0, None, 0.5),  # twice the ≤ 10 limit: half way
        (2.0, "range", 1.2, 3.0, 1.0),  # inside the range: met
        (0.6, "range", 1.2, 3.0, 0.5),  # below it: 0.6 ÷ 1.2
        (6.0, "range", 1.2, 3.0, 0.5),  # above it: 3 ÷ 6
        (float("nan"), ">=", 60.0, None, float("nan")),
    ],
)
def test_target_share(measured, comparator, target, target_max, share):
    got = charts.target_share(measured, comparator, target, target_max)
    assert (math.isnan(got) and math.isnan(share)) or got == pytest.approx(share)


def test_radar_and_bars_write_png_and_svg(tmp_path):
    spokes = [charts.Spoke("路网密度", 1.2, "pass"), charts.Spoke("绿地率", 0.5, "fail"),
              charts.Spoke("容积率", 1.0, "pass"), charts.Spoke("公交分担率", float("nan"), "not_assessable")]  # fmt: skip
    png, svg = charts.save_figure(
        charts.radar_figure("甲（U1）", spokes, font_path=FONT), tmp_path / "radar"
    )
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    root = ET.parse(svg).getroot()
    assert root.tag.endswith("svg")
    png, svg = charts.save_figure(
        charts.bars_figure("路网密度", ["甲", "乙"], [8.0, np.nan], unit="km/km²", target=8.0),
        tmp_path / "bars",
    )
    assert png.is_file() and svg.is_file()
    # the same chart twice: the same SVG (no date, fixed ids)
    charts.save_figure(
        charts.bars_figure("路网密度", ["甲", "乙"], [8.0, np.nan], target=8.0), tmp_path / "b2"
    )
    charts.save_figure(
        charts.bars_figure("路网密度", ["甲", "乙"], [8.0, np.nan], target=8.0), tmp_path / "b3"
    )
    assert (tmp_path / "b2.svg").read_bytes() == (tmp_path / "b3.svg").read_bytes()


def test_screening_chart(tmp_path):
    fig = charts.screening_figure(
        ["甲", "乙", "丙"], [80.0, 50.0, 20.0], [True, True, False], font_path=FONT
    )
    bars = [p for p in fig.axes[1].patches]
    assert [b.get_height() for b in bars] == [80.0, 50.0, 20.0]
    red = [b.get_facecolor()[:3] for b in bars]
    assert red[0] == red[1] != red[2]  # the shortlist stands out
    png, svg = charts.save_figure(fig, tmp_path / "s")
    assert png.is_file() and svg.is_file()


def test_screening_chart_marks_a_candidate_without_score(tmp_path):
    fig = charts.screening_figure(
        ["甲", "乙", "丙"], [80.0, np.nan, 0.0], [True, False, False], font_path=FONT
    )
    ax = fig.axes[1]
    bars = list(ax.patches)
    # 乙 has no score: marked 未参与排序, in a colour of its own; 丙's 0 is a score, unmarked
    marks = [(t.get_position()[0], t.get_text()) for t in ax.texts]
    assert marks == [(1, "未参与排序 not ranked")]
    colours = [b.get_facecolor()[:3] for b in bars]
    assert colours[1] != colours[2] and colours[1] != colours[0]
    assert [b.get_height() for b in bars] == [80.0, 0.0, 0.0]


def test_screening_chart_of_a_city_shows_the_first_bars_and_every_score():
    """8,835 candidates: the histogram counts all of them, the bars are the first 60 by rank."""
    n = 8835
    scores = np.linspace(100.0, 0.0, n)
    fig = charts.screening_figure(
        [f"U{i}" for i in range(n)], scores, np.arange(n) < 20, font_path=FONT
    )
    hist, bars = fig.axes[0].patches, fig.axes[1].patches
    assert sum(p.get_height() for p in hist) == n
    assert [b.get_height() for b in bars] == list(scores[: charts.SCREENING_MAX_BARS])
    assert "共 8,835 个" in fig.axes[1].get_title()
    assert fig.get_size_inches()[0] < 30
