"""Tests of the map annex (`ditan annex`, ditan.maps.annex): pages, paper, resolution, embedded CJK font, scale bar.

The Beijing sample is computed once for the session (``beijing`` in conftest.py); two units are
drawn (U001 is wider than tall, U003 taller than wide). Rendering needs a CJK font (Debian
fonts-noto-cjk): without one the tests that draw are skipped with the reason, and fail under CI=true.
"""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from PIL import Image
from pypdf import PdfReader

from ditan.maps import annex, annex_page, annex_sheets, annex_targets, fonts
from ditan.pipelines.cli import main
from ditan.pipelines.jobs.annex import annex_layers, file_names, raster_reader, run_annex
from ditan.pipelines.jobs.annex_sheets import targets_checks
from ditan.spatial.standards.compliance import evaluate
from ditan.spatial.standards.profiles import load_profile
from ditan.spatial.study_area.model import RasterInput

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "pipelines" / "configs" / "beijing_haidian.yaml"
UNITS = {
    "U001": ("landscape", "清华大学（中关村北大街、荷清路）"),  # orientation of the page, unit name
    "U003": ("portrait", "清华大学（学堂路、成府路）"),
}
A4_PT = (595.28, 841.89)
ARTIFACTS = ROOT / "test-artifacts"


@pytest.fixture(scope="module")
def drawn(beijing, font, tmp_path_factory):
    cfg, sa, res = beijing
    out = tmp_path_factory.mktemp("annex") / "beijing_annex"
    return run_annex(cfg, out, units=list(UNITS), paper="A4", computed=(sa, res))


# --- the Beijing sample: files, pages, paper, resolution, font, text -----------------------------


def test_every_file_is_written(drawn):
    assert sorted(drawn.files) == sorted(UNITS)
    for uid in UNITS:
        names = file_names(uid)
        assert names[0] == f"{uid}.pdf" and names[2] == f"{uid}_2_landuse.png"
        assert len(names) == len(annex_sheets.SHEETS) + 1  # with the 2 carbon sheets and 指标达标图
        for name in names:
            assert (drawn.out_dir / name).stat().st_size > 10_000, name
    assert (drawn.out_dir / "annex.json").exists()
    assert not list(drawn.out_dir.parent.glob(".*.partial")), "the staging folder is gone"


@pytest.mark.parametrize("uid", list(UNITS))
def test_pdf_has_six_a4_pages_turned_to_the_unit(drawn, uid):
    reader = PdfReader(drawn.out_dir / f"{uid}.pdf")
    assert len(reader.pages) == len(annex_sheets.SHEETS)  # 6 + the 2 carbon sheets + 指标达标图
    w, h = A4_PT if UNITS[uid][0] == "portrait" else A4_PT[::-1]
    for page in reader.pages:
        assert float(page.mediabox.width) == pytest.approx(w, abs=1)
        assert float(page.mediabox.height) == pytest.approx(h, abs=1)


@pytest.mark.parametrize("uid", list(UNITS))
def test_pngs_are_300_dpi_pages(drawn, uid):
    w_in, h_in = (v / 25.4 for v in annex_page.PAPER_MM["A4"])
    if UNITS[uid][0] == "landscape":
        w_in, h_in = h_in, w_in
    for name in file_names(uid)[1:]:
        with Image.open(drawn.out_dir / name) as im:
            assert abs(im.size[0] - w_in * 300) <= 2 and abs(im.size[1] - h_in * 300) <= 2, (
                name,
                im.size,
            )
            assert im.info["dpi"] == pytest.approx((300, 300), abs=0.01)


def _fonts(reader: PdfReader) -> list[tuple[str, str, bytes]]:
    """(BaseFont, descendant subtype, first bytes of the embedded font program) of every font of every page."""
    out = []
    for page in reader.pages:
        for ref in page["/Resources"]["/Font"].values():
            f = ref.get_object()
            desc = f["/DescendantFonts"][0].get_object() if "/DescendantFonts" in f else f
            fd = desc["/FontDescriptor"].get_object()
            stream = next(
                (fd[k] for k in ("/FontFile2", "/FontFile3", "/FontFile") if k in fd), None
            )
            out.append(
                (
                    str(f["/BaseFont"]),
                    str(desc["/Subtype"]),
                    stream.get_object().get_data()[:4] if stream else b"",
                )
            )
    return out


@pytest.mark.parametrize("uid", list(UNITS))
def test_pdf_embeds_a_truetype_cjk_font(drawn, uid):
    fonts = _fonts(PdfReader(drawn.out_dir / f"{uid}.pdf"))
    assert fonts and all("CJK" in name for name, _, _ in fonts), fonts
    # TrueType outlines in FontFile2 (matplotlib would otherwise put the .ttc's CFF outlines there)
    assert all(sub == "/CIDFontType2" and data == b"\x00\x01\x00\x00" for _, sub, data in fonts), (
        fonts
    )


@pytest.mark.parametrize("uid", list(UNITS))
def test_pdf_text_holds_the_chinese_titles_and_unit_name(drawn, uid):
    pages = [p.extract_text() for p in PdfReader(drawn.out_dir / f"{uid}.pdf").pages]
    for n, ((key, title), text) in enumerate(zip(annex_sheets.SHEETS, pages, strict=True), start=1):
        assert f"附图{n} {title} — {UNITS[uid][1]}" in text, text[:200]
        if key == "targets":  # a chart: no scale, no CRS
            assert "达标核查标准：低碳社区试点建设指南" in text and "制图日期" in text
            continue
        assert (
            "比例尺 1:" in text
            and "制图日期" in text
            and "CGCS2000" in text
            and "OpenStreetMap" in text
        )
    assert "km/km²" in pages[2] and "绿地率" in pages[5] and "绿化覆盖率" in pages[5]


def test_targets_sheet_lists_each_rule_of_the_unit(drawn, beijing):
    """附图9: every compliance rule of the unit with its result, as ditan run's compliance.csv has it."""
    cfg, sa, res = beijing
    checks = evaluate(
        res.indicators, load_profile(cfg.compliance.profile), kind=cfg.compliance.kind,
        reasons=res.reasons,
    )  # fmt: skip
    text = PdfReader(drawn.out_dir / "U003.pdf").pages[-1].extract_text()
    mine = checks[checks["unit_id"] == "U003"]
    assert len(mine) >= 5
    words = {"pass": "达标", "fail": "未达标", "not_assessable": "无法评估"}
    for row in mine.itertuples():
        assert row.zh in text.replace("\n", ""), row.zh
    assert text.count("未达标") >= (mine["status"] == "fail").sum()
    assert text.count("无法评估") >= (mine["status"] == "not_assessable").sum()
    assert set(mine["status"]) <= set(words)


def test_rule_rows_by_hand():
    rows = pd.DataFrame(
        {
            "zh": ["绿地率", "公交分担率", "充电站"],
            "measured": [31.456, np.nan, 2.0],
            "unit": ["%", "%", "count"],
            "target": ["≥ 30", "≥ 60", "present"],
            "status": ["pass", "not_assessable", "pass"],
            "binding": ["guiding", "binding", "binding"],
            "binding_zh": ["引导性", "约束性", "约束性"],
        }
    )
    assert annex_targets.rule_rows(rows) == [
        ("公交分担率", "—", "≥ 60", "无法评估", "约束性", "not_assessable"),
        ("充电站", "2", "应具备", "达标", "约束性", "pass"),
        ("绿地率", "31.46 %", "≥ 30", "达标", "引导性", "pass"),
    ]


@pytest.mark.parametrize(
    "profile, kind", [("gb50180_life_circle", "existing"), ("chongqing_carbon_peak", "city")]
)
def test_targets_sheet_of_another_profile(beijing, profile, kind):
    """Any profile: the drawn units' rows are those evaluate gives, and the table shows each of them."""
    cfg, sa, res = beijing
    cfg = cfg.model_copy(
        update={"compliance": cfg.compliance.model_copy(update={"profile": profile, "kind": kind})}
    )
    checks, rules, name, skipped = targets_checks(sa, res, cfg, ["U003"])
    assert not skipped and name == load_profile(profile).zh
    every = evaluate(res.indicators, load_profile(profile), kind=kind, reasons=res.reasons)
    mine = every[every["unit_id"] == "U003"].reset_index(drop=True)
    pd.testing.assert_frame_equal(checks.reset_index(drop=True), mine)
    fig = annex_targets.targets_figure(checks, rules, title="t", subtitle="s", info=[])
    [table] = [t for ax in fig.axes for t in ax.tables]
    shown = min(len(mine), annex_targets.MAX_ROWS)
    assert max(r for r, _ in table.get_celld()) == shown
    assert {table[i, 0].get_text().get_text() for i in range(1, shown + 1)} <= set(mine["zh"])


def test_without_a_profile_the_targets_sheet_is_skipped(beijing, font, tmp_path):
    cfg, sa, res = beijing
    cfg = cfg.model_copy(update={"compliance": cfg.compliance.model_copy(update={"profile": None})})
    out = run_annex(cfg, tmp_path / "a", units=["U003"], paper="A4", computed=(sa, res))
    manifest = json.loads((out.out_dir / "annex.json").read_text(encoding="utf-8"))
    assert "compliance.profile" in manifest["skipped_sheets"]["targets"]["reason"]
    assert not (out.out_dir / "U003_9_targets.png").exists()


def test_names_with_dollar_signs_are_drawn_as_text(beijing, font, tmp_path):
    """A "$" in a unit's name is not matplotlib's mathtext (an unbalanced one would stop the drawing)."""
    cfg, sa, res = beijing
    name = "社区 $\\frac{a 100$"
    units = sa.units.copy()
    units.loc["U003", "name"] = name
    res_units = res.units.copy()
    res_units.loc["U003", "name"] = name
    out = run_annex(
        cfg, tmp_path / "a", units=["U003"], paper="A4",
        computed=(dataclasses.replace(sa, units=units), dataclasses.replace(res, units=res_units)),
    )  # fmt: skip
    text = PdfReader(out.out_dir / "U003.pdf").pages[0].extract_text()
    assert "$\\frac{a 100$" in text


def test_artifact_landuse_sheet(drawn):
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copyfile(drawn.out_dir / "U003_2_landuse.png", ARTIFACTS / "annex_U003_landuse.png")
    assert (ARTIFACTS / "annex_U003_landuse.png").stat().st_size > 10_000


def test_cli_annex_one_unit(tmp_path, font, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    # 清华大学（紫荆路、至善路）, looked up by name in the shipped units: its id follows the derivation's order
    units = gpd.read_file(ROOT / "data" / "beijing_haidian_tsinghua" / "units.gpkg")
    uid = units.loc[units["name"] == "清华大学（紫荆路、至善路）", "unit_id"].item()
    x0, y0, x1, y1 = units[units["unit_id"] == uid].to_crs(4548).total_bounds
    assert x1 - x0 > y1 - y0  # it is wider than tall (about 330 × 290 m): A3 landscape
    out = tmp_path / "cli_annex"
    assert main(["annex", str(CONFIG), "--units", uid, "--paper", "A3", "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted([*file_names(uid), "annex.json"])
    page = PdfReader(out / f"{uid}.pdf").pages[0]
    assert float(page.mediabox.width) == pytest.approx(1190.55, abs=1)  # A3 landscape: 420 mm wide


def test_cli_unknown_unit_exits_2(tmp_path, font, capsys):
    assert main(["annex", str(CONFIG), "--units", "U999", "--out", str(tmp_path / "x")]) == 2
    assert "U999" in capsys.readouterr().err


# --- the green sheet from a land-cover raster in another CRS ------------------------------------


def test_raster_vegetation_is_reprojected_into_the_map_extent(tmp_path):
    import rasterio
    from rasterio.transform import from_origin

    # WGS 84 raster over the sample, vegetation (10) west of 116.32°E, built-up (50) east of it
    west, north, step = 116.30, 40.02, 0.0001
    data = np.where(np.arange(400)[None, :] < 200, 10, 50).astype(np.uint8).repeat(400, axis=0)
    path = tmp_path / "lc.tif"
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=400,
        height=400,
        count=1,
        dtype="uint8",
        crs="EPSG:4326",
        transform=from_origin(west, north, step, step),
        nodata=0,
    ) as dst:
        dst.write(data, 1)
    from pyproj import Transformer

    x, y = Transformer.from_crs(4326, 4548, always_xy=True).transform(116.32, 40.0)
    read = raster_reader(RasterInput(str(path), vegetation_classes=(10,)), "EPSG:4548")
    mask, (left, right, bottom, top) = read((x - 500, y - 500, x + 500, y + 500))
    assert left <= x - 500 and right >= x + 500 and bottom <= y - 500 and top >= y + 500
    assert right - left < 1500 and top - bottom < 1500  # the window, not the whole raster
    cols = (np.array([x - 300, x + 300]) - left) / (right - left) * mask.shape[1]
    row = int((top - y) / (top - bottom) * mask.shape[0])
    assert mask[row, int(cols[0])] == 1 and mask[row, int(cols[1])] == 0


def test_green_sheet_draws_the_raster(beijing, font, tmp_path):
    cfg, sa, res = beijing
    layers = annex_layers(sa, res, cfg, "2025-01-01")
    layers.vegetation_raster = lambda ext: (
        np.ones((10, 10), dtype=np.uint8),
        (ext[0], ext[2], ext[1], ext[3]),
    )
    fig = annex.sheet_figure(layers, "U003", 6)
    assert fig.axes[0].images, "the vegetation pixels are drawn"
    assert any("土地覆盖栅格" in t.get_text() for t in fig.findobj(annex.Text))


# --- scale bar, orientation, font ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("x", "nice"),
    [(999, 500), (1000, 1000), (0.37, 0.2), (7, 5), (2.5, 2), (180, 100), (4999, 2000)],
)
def test_nice_length(x, nice):
    assert annex_page.nice_length(x) == pytest.approx(nice)


@pytest.mark.parametrize(
    ("width_m", "axes_in"), [(1234.0, 6.0), (870.0, 10.5), (5300.0, 7.3), (96.0, 4.0)]
)
def test_scale_bar_is_round_and_drawn_to_scale(width_m, axes_in):
    from matplotlib.figure import Figure

    bar = annex_page.scale_bar(width_m, axes_in)
    mant = bar.length_m / 10 ** math.floor(math.log10(bar.length_m))
    assert min(abs(mant - m) for m in (1, 2, 5)) < 1e-9
    assert 0.1 * width_m < bar.length_m <= 0.25 * width_m
    assert bar.length_in == pytest.approx(bar.length_m / width_m * axes_in)
    assert bar.scale == pytest.approx(width_m / (axes_in * 0.0254))
    fig = Figure(figsize=(axes_in + 2, axes_in + 2), dpi=100)
    ax = fig.add_axes(
        (1 / (axes_in + 2), 1 / (axes_in + 2), axes_in / (axes_in + 2), axes_in / (axes_in + 2))
    )
    ext = (500_000.0, 4_400_000.0, 500_000.0 + width_m, 4_400_000.0 + width_m)
    ax.set(xlim=(ext[0], ext[2]), ylim=(ext[1], ext[3]))
    rects = annex_page.draw_scale_bar(ax, bar, ext)
    x0 = ax.transData.transform((rects[0].get_x(), 0))[0]
    x1 = ax.transData.transform((rects[-1].get_x() + rects[-1].get_width(), 0))[0]
    assert (x1 - x0) / fig.dpi == pytest.approx(
        bar.length_in, rel=1e-6
    )  # drawn length on paper, inches


def test_map_extent_keeps_the_unit_and_fills_the_frame():
    ext = annex_page.map_extent((0, 0, 1000, 400), 6.0, 8.0)
    assert ext[0] < 0 and ext[1] < 0 and ext[2] > 1000 and ext[3] > 400
    assert (ext[2] - ext[0]) / (ext[3] - ext[1]) == pytest.approx(6.0 / 8.0)


@pytest.mark.parametrize(
    ("bounds", "orient"), [((0, 0, 1500, 800), "landscape"), ((0, 0, 600, 1400), "portrait")]
)
def test_orientation_follows_the_unit(bounds, orient):
    assert annex_page.orientation(bounds) == orient
    w, h = annex_page.page_inches("A3", orient)
    assert (w > h) == (orient == "landscape")
    assert sorted((w * 25.4, h * 25.4)) == pytest.approx([297, 420])


def test_missing_font_is_a_clear_error(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(fonts, "_font_entries", lambda: [])
    with pytest.raises(
        fonts.FontMissingError, match=r"apt-get install fonts-noto-cjk.*make system-packages"
    ):
        fonts.find_cjk_font()
    assert (
        main(["annex", str(CONFIG), "--units", "U001", "--out", str(tmp_path / "x")]) == 2
    )  # stops before any work
    assert "fonts-noto-cjk" in capsys.readouterr().err and not (tmp_path / "x").exists()


def test_truetype_subset_draws_the_same_glyphs(font, tmp_path):
    """The converted subset renders like the original font: no tofu, no broken outlines."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.font_manager import FontProperties

    text = "附图2 用地现状图 — 清华大学（学堂路）km/km²"
    sub = fonts.truetype_subset(font, text, tmp_path)

    def render(props):
        fig = Figure(figsize=(6, 0.6), dpi=100)
        fig.text(0.01, 0.3, text, fontproperties=props)
        canvas = FigureCanvasAgg(fig)
        canvas.draw()
        return np.asarray(canvas.buffer_rgba())[..., 0].astype(float)

    from matplotlib import rc_context

    with rc_context({"text.hinting": "no_hinting"}):  # compare outlines, not the two hinters
        a = render(FontProperties(family=font.name, size=16))
        b = render(FontProperties(fname=str(sub), size=16))
    ink_a, ink_b = 255 - a, 255 - b
    assert (a < 128).sum() > 500  # ink
    assert ink_b.sum() == pytest.approx(
        ink_a.sum(), rel=0.05
    )  # same amount of ink (tofu boxes or lost glyphs would change it)
    cols_a, cols_b = np.flatnonzero(ink_a.sum(axis=0)), np.flatnonzero(ink_b.sum(axis=0))
    assert (
        abs(cols_a[0] - cols_b[0]) <= 2 and abs(cols_a[-1] - cols_b[-1]) <= 2
    )  # same advance widths
    assert np.corrcoef(ink_a.ravel(), ink_b.ravel())[0, 1] > 0.9  # same shapes (up to hinting)
