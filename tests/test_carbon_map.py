"""The carbon inventory on the map and in the annex (issue 18, item 6).

* The interactive map colours the units by carbon intensity (co2_per_floor_area_kg_per_m2, co2_per_capita_t) in a
  yellow-to-red scale, under the legend title 碳排放强度; a NaN unit is hatched as 无法评估 not assessable and its
  popup gives the reason; a value with bounds shows "central（low – high）". The legend's class breaks are
  those of ``style.class_breaks`` (quantiles at 20/40/60/80 %; checked by hand in test_maps_interactive).
* ``ditan annex`` draws 附图7 屋顶光伏潜力图: the roofs coloured by installable kWp, whose class is checked on the
  rendered pixels for buildings whose kWp is computed here from the footprint (shapely area) × the pilot share of
  the building's type (read from carbon_factors.yaml with yaml) × 0.15 kWp/m²; without buildings (or with
  carbon.enabled: false) the carbon sheets are skipped and the reason printed and kept in annex.json.

The Beijing sample is loaded and computed once for the session (``beijing`` in conftest.py).
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
import yaml
from pypdf import PdfReader
from shapely.geometry import box

from ditan.maps import annex
from ditan.maps import style as st
from ditan.maps.interactive import build_map
from ditan.maps.offline import PageChrome
from ditan.pipelines.cli import main
from ditan.pipelines.compute.indicators import compute
from ditan.pipelines.config.params import params_from_config
from ditan.pipelines.jobs.annex import annex_layers, run_annex
from ditan.pipelines.jobs.run import key_indicators, run_map
from ditan.spatial.standards.registry import Indicator, registry

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "pipelines" / "configs" / "beijing_haidian.yaml"
FACTORS = ROOT / "spatial" / "standards" / "carbon_factors.yaml"
CRS = "EPSG:4548"
X0, Y0 = 441000.0, 4428000.0
INTENSITY = "co2_per_floor_area_kg_per_m2"
PER_CAPITA = "co2_per_capita_t"
# ColorBrewer YlOrRd (emissions) and YlOrBr (solar), 5 classes, light to dark
YLORRD = ["#ffffb2", "#fecc5c", "#fd8d3c", "#f03b20", "#bd0026"]
YLORBR = ["#ffffd4", "#fed98e", "#fe9929", "#d95f0e", "#993404"]
# the kWp classes of the 屋顶光伏潜力图 (README): < 20, 20–50, 50–100, 100–300, ≥ 300 kWp
KWP_UPPER = [20.0, 50.0, 100.0, 300.0]


def _walk(element):
    yield element
    for child in element._children.values():
        yield from _walk(child)


def _chrome_cfg(m: folium.Map) -> dict:
    return json.loads(next(e for e in _walk(m) if isinstance(e, PageChrome)).cfg)


def _units_layer(m: folium.Map) -> tuple[list[dict], dict[str, str]]:
    """The units' feature properties and popup label → property."""
    layer = next(
        e
        for e in _walk(m)
        if isinstance(e, folium.GeoJson) and e.layer_name == "分析单元 Analysis units"
    )
    popup = next(c for c in layer._children.values() if isinstance(c, folium.GeoJsonPopup))
    return [f["properties"] for f in layer.data["features"]], dict(
        zip(popup.aliases, popup.fields, strict=True)
    )


def _legend_ranges(legend: str) -> list[tuple[float, float]]:
    return [
        (float(a.replace(",", "")), float(b.replace(",", "")))
        for a, b in re.findall(r"</span>([\d,.]+) – ([\d,.]+) ", legend)
    ]


# --- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def beijing_map(beijing):
    _, _, res = beijing
    units = res.units
    return build_map(
        units,
        indicators={k: v for k, v in res.columns.items() if k in units.columns},
        color_by=INTENSITY,
        key_indicators=key_indicators(res, 500.0),
        reasons=res.reasons,
        tiles=False,
    )


# --- the interactive map: a hand-made fixture ----------------------------------------------------


def test_hand_made_units_get_carbon_classes_palette_and_not_assessable():
    # five units with 10 … 50 kgCO2/m²·a and one NaN with a reason. Quantiles of 10, 20, 30, 40, 50 at 20/40/60/80 %:
    # 18, 26, 34, 42 (range 40 / 5 = 8: one decimal); classes 10 → 0, 20 → 1, 30 → 2, 40 → 3, 50 → 4, NaN → -1
    values = [10.0, 20.0, 30.0, 40.0, 50.0, np.nan]
    ids = [f"u{i}" for i in range(6)]
    units = gpd.GeoDataFrame(
        {
            "name": ids,
            INTENSITY: values,
            f"{INTENSITY}_low": [8.0, 16.0, 24.0, 32.0, 40.0, np.nan],
            f"{INTENSITY}_high": [12.5, 25.0, 37.5, 50.0, 62.5, np.nan],
        },
        geometry=[box(X0 + 100 * i, Y0, X0 + 100 * (i + 1), Y0 + 100) for i in range(6)],
        index=ids,
        crs=CRS,
    )
    reasons = pd.DataFrame(
        {
            "unit_id": ["u5"],
            "column": [INTENSITY],
            "reason": ["no_floor_area"],
            "reason_en": ["no floor area"],
            "reason_zh": ["无建筑面积"],
            "data_gap": [False],
        }
    )
    ind = registry()
    m = build_map(
        units,
        indicators={c: ind[c] for c in units.columns if c in ind},
        color_by=INTENSITY,
        reasons=reasons,
        tiles=False,
    )
    scheme = _chrome_cfg(m)["schemes"][0]
    assert scheme["label"].startswith("碳排放强度 Carbon intensity")
    assert scheme["colors"] == YLORRD
    assert _legend_ranges(scheme["legend"]) == [
        (10, 18),
        (18, 26),
        (26, 34),
        (34, 42),
        (42, 50),
    ]
    assert (
        scheme["legend"].count("kgCO₂/m²·a") == 1 + 5
        and "无法评估 not assessable" in scheme["legend"]
    )
    props, fields = _units_layer(m)
    assert [p["k0"] for p in props] == [0, 1, 2, 3, 4, -1]
    label = next(a for a in fields if a.startswith(ind[INTENSITY].label))
    assert "central (low – high)" in label
    assert props[1][fields[label]] == "20（16 – 25）"  # integers shown as is
    assert props[4][fields[label]] == "50（40 – 62.50）"
    assert props[5][fields[label]].startswith("— 无法评估：无建筑面积 / no floor area")
    assert not [a for a in fields if "low bound" in a or "high bound" in a]  # one row per value


def test_indicator_without_reasons_keeps_the_no_data_label():
    units = gpd.GeoDataFrame(
        {"x": [1.0, np.nan]},
        geometry=[box(X0, Y0, X0 + 10, Y0 + 10), box(X0 + 10, Y0, X0 + 20, Y0 + 10)],
        crs=CRS,
    )
    m = build_map(
        units, indicators={"x": Indicator("x", "某", "X", "%")}, color_by="x", tiles=False
    )
    legend = _chrome_cfg(m)["schemes"][0]["legend"]
    assert "无数据 no data" in legend and "无法评估" not in legend


# --- the interactive map: the Beijing sample -----------------------------------------------------


def test_beijing_map_colours_units_by_carbon_intensity(beijing, beijing_map):
    _, _, res = beijing
    cfg = _chrome_cfg(beijing_map)
    scheme = cfg["schemes"][0]
    assert scheme["label"] == (
        "碳排放强度 Carbon intensity · 单位建筑面积二氧化碳排放量 CO₂ per m² of floor area (kgCO₂/m²·a)"
    )
    values = res.indicators[INTENSITY].reindex(res.units.index).to_numpy(dtype=float)
    assert np.isfinite(values).all()  # every unit of the sample has buildings
    # a wiring test: the map uses style.class_breaks (checked by hand in test_maps_interactive)
    breaks = st.class_breaks(values, k=5, method="quantile")
    got = _legend_ranges(scheme["legend"])
    assert len(got) == len(breaks) - 1
    for (a, b), lo, hi in zip(got, breaks, breaks[1:], strict=False):
        assert a == pytest.approx(lo, abs=0.006) and b == pytest.approx(hi, abs=0.006)
    assert scheme["colors"][0] == YLORRD[0] and scheme["colors"][-1] == YLORRD[-1]
    assert set(scheme["colors"]) <= set(YLORRD)
    props, fields = _units_layer(beijing_map)
    expected = np.searchsorted(np.array(breaks[1:-1]), values, side="right")
    assert [p["k0"] for p in props] == list(expected)


def test_beijing_per_capita_is_not_assessable_with_its_reason(beijing, beijing_map):
    _, _, res = beijing
    assert res.indicators[PER_CAPITA].isna().all()  # the sample has no population data
    schemes = _chrome_cfg(beijing_map)["schemes"]
    j, scheme = next((j, s) for j, s in enumerate(schemes) if "人均二氧化碳排放量" in s["label"])
    assert scheme["label"].startswith("碳排放强度 Carbon intensity")
    assert "无法评估 not assessable" in scheme["legend"]
    assert not _legend_ranges(scheme["legend"])  # no invented 0 – 1 class
    props, fields = _units_layer(beijing_map)
    assert all(p[f"k{j}"] == -1 for p in props)
    label = next(a for a in fields if a.startswith(registry()[PER_CAPITA].label))
    r = res.reasons
    for p in props:
        why = r[(r["unit_id"] == p["uid"]) & (r["column"] == PER_CAPITA)]["reason_zh"].iloc[0]
        assert p[fields[label]].startswith(f"— 无法评估：{why}")


def test_beijing_popup_shows_central_value_with_range(beijing, beijing_map):
    _, _, res = beijing
    props, fields = _units_layer(beijing_map)
    label = next(a for a in fields if a.startswith(registry()["rooftop_pv_kwp"].label))
    for p in props[:3]:
        row = res.indicators.loc[p["uid"]]
        v, lo, hi = (row[f"rooftop_pv_kwp{s}"] for s in ("", "_low", "_high"))
        assert lo < v < hi
        assert p[fields[label]] == f"{v:,.2f}（{lo:,.2f} – {hi:,.2f}）"


def test_run_map_html_holds_the_carbon_colouring(beijing):
    cfg, sa, res = beijing
    cfg = cfg.model_copy(update={"map": cfg.map.model_copy(update={"color_by": INTENSITY})})
    page = run_map(cfg, sa, res, None)  # no compliance: no popup radar
    assert "碳排放强度 Carbon intensity · 单位建筑面积二氧化碳排放量" in page
    assert YLORRD[-1] in page and "kgCO₂/m²·a" in page


# --- the annex: 屋顶光伏潜力图 -------------------------------------------------------------------


def _share_of_type() -> dict[str, float]:
    """OSM building=* → the pilot's installable share, read from carbon_factors.yaml."""
    t = yaml.safe_load(FACTORS.read_text("utf-8"))
    share = t["solar"]["install_share"]["of"]
    return {v: share[use] for use, values in t["uses_of_types"].items() for v in values}


@pytest.fixture(scope="module")
def pv_sheet(beijing, font):
    """Sheet 7 of U003 rendered at 100 dpi: (figure, RGBA pixels, layers)."""
    from matplotlib import rc_context
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    cfg, sa, res = beijing
    layers = annex_layers(sa, res, cfg, "2025-01-01")
    with rc_context({"font.family": [font.name], "axes.unicode_minus": False}):
        fig = annex.sheet_figure(layers, "U003", 7)
        fig.set_dpi(100)
        canvas = FigureCanvasAgg(fig)
        canvas.draw()
    return fig, np.asarray(canvas.buffer_rgba())[..., :3].astype(int), layers


def test_roofs_are_coloured_by_their_kwp_class(beijing, pv_sheet):
    _, sa, _ = beijing
    fig, px, _ = pv_sheet
    ax = fig.axes[0]
    share = _share_of_type()
    b = sa.buildings
    unit = sa.units.geometry.loc["U003"]
    borders = sa.units.boundary.union_all()
    tree = shapely.STRtree(b.geometry.to_numpy())
    checked = {}
    for i, (geom, kind) in enumerate(zip(b.geometry, b["building"], strict=True)):
        if kind not in share or not geom.within(unit) or len(tree.query(geom, "intersects")) > 1:
            continue  # a type the table names, wholly in the unit, no overlap: roof = footprint
        inner = geom.buffer(-3.0)
        if inner.is_empty:
            continue
        p = inner.representative_point()
        if p.distance(borders) < 15.0:
            continue  # away from the dashed unit boundary
        kwp = geom.area * share[kind] * 0.15
        cls = int(np.searchsorted(KWP_UPPER, kwp, side="right"))
        x, y = ax.transData.transform((p.x, p.y))
        rgb = px[px.shape[0] - int(round(y)), int(round(x))]
        want = np.array([int(YLORBR[cls][k : k + 2], 16) for k in (1, 3, 5)])
        assert np.abs(rgb - want).max() <= 3, (b.index[i], kind, kwp, cls, rgb)
        checked[b.index[i]] = cls
    assert len(checked) >= 10 and len(set(checked.values())) >= 3, checked


def test_rooftop_sheet_legend_and_notes(beijing, pv_sheet):
    _, _, res = beijing
    fig, _, _ = pv_sheet
    texts = [t.get_text() for t in fig.findobj(annex.Text)]
    joined = "\n".join(texts)
    assert "附图7 屋顶光伏潜力图 — 清华大学（学堂路、成府路）" in joined
    for label in ("< 20 kWp", "20–50 kWp", "50–100 kWp", "100–300 kWp", "≥ 300 kWp"):
        assert label in texts
    row = res.indicators.loc["U003"]
    kwp = f"{row['rooftop_pv_kwp']:,.0f} kWp（{row['rooftop_pv_kwp_low']:,.0f} – {row['rooftop_pv_kwp_high']:,.0f}）"
    mwh = (
        f"{row['rooftop_pv_mwh_per_year']:,.0f} MWh/a（{row['rooftop_pv_mwh_per_year_low']:,.0f} – "
    )
    assert f"屋顶光伏可装机容量（本单元）：{kwp}" in joined and mwh in joined
    assert "整县屋顶分布式光伏" in joined and "党政机关 50%" in joined and "居民 20%" in joined
    assert "潜力估算，非已装机" in joined and "0.15 kWp/m²" in joined


# --- the annex: written, and skipped without buildings or carbon -----------------------------------


def test_annex_writes_the_carbon_sheets(beijing, font, tmp_path):
    cfg, sa, res = beijing
    out = run_annex(cfg, tmp_path / "annex", units=["U003"], computed=(sa, res))
    names = [p.name for p in out.files["U003"]]
    assert names[-3:-1] == ["U003_7_rooftop_pv.png", "U003_8_carbon.png"] and not out.skipped
    pages = [p.extract_text() for p in PdfReader(out.out_dir / "U003.pdf").pages]
    assert len(pages) == 9  # and the 指标达标图
    assert "附图7 屋顶光伏潜力图" in pages[6] and "附图8 碳排放强度图" in pages[7]
    assert "kgCO2/m²·a" in pages[7] and "交通、废弃物与行为无法由空间数据评估" in pages[7]
    manifest = json.loads((out.out_dir / "annex.json").read_text("utf-8"))
    assert manifest["skipped_sheets"] == {}


def test_without_buildings_the_carbon_sheets_are_skipped_with_the_reason(beijing, font, tmp_path):
    cfg, sa, _ = beijing
    bare = dataclasses.replace(
        sa,
        buildings=sa.buildings.iloc[:0],
        absent={**sa.absent, "buildings": "no building layer in this test"},
    )
    res = compute(bare, params_from_config(cfg))
    out = run_annex(cfg, tmp_path / "annex", units=["U003"], computed=(bare, res))
    names = [p.name for p in out.files["U003"]]
    assert len(names) == 8 and not [n for n in names if "rooftop" in n or "_8_" in n]
    why = out.skipped["rooftop_pv"]
    assert "无建筑数据" in why and "no building layer in this test" in why
    manifest = json.loads((out.out_dir / "annex.json").read_text("utf-8"))
    assert manifest["skipped_sheets"]["rooftop_pv"] == {"title": "屋顶光伏潜力图", "reason": why}
    assert set(manifest["skipped_sheets"]) == {"rooftop_pv", "carbon"}
    assert len(PdfReader(out.out_dir / "U003.pdf").pages) == 7  # 6 maps and the 指标达标图


def test_cli_prints_why_the_carbon_sheets_are_skipped(tmp_path, font, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    text = CONFIG.read_text("utf-8").replace("../../data/", f"{(ROOT / 'data').as_posix()}/")
    cfg = tmp_path / "no_carbon.yaml"
    cfg.write_text(text + "carbon:\n  enabled: false\n", "utf-8")
    out = tmp_path / "annex"
    assert main(["annex", str(cfg), "--units", "U014", "--out", str(out)]) == 0
    said = "".join(capsys.readouterr())  # the console writes to stderr, the folder to stdout
    assert "附图7 屋顶光伏潜力图 (rooftop_pv) 未绘制 not drawn" in said
    assert "carbon.enabled: false" in said and "× 7 sheets" in said
    assert not list(out.glob("*_7_rooftop_pv.png"))
