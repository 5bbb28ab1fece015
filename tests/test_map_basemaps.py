"""Basemaps that work in China and the map's chrome (issue 19, items 4 and 5).

Config: ``map.tiles`` choices, old booleans, URL templates, the Tianditu key refused at check-config with its key path.
Page (headless Chromium, no network: tile requests are only built): the layer control collapsed, one attribution
element naming OpenStreetMap once, the Tianditu layers' URL templates with the key, the GCJ-02 display shift of the
gaode map against an independent forward transform (prcoords, a public-domain implementation of the
published GCJ-02 formula, independent of ditan.spatial.crs.china) while communities.gpkg keeps the study
area's metric geometry, and the radar chart in a unit's popup.
The Beijing sample is run once (gaode); the Tianditu and OSM pages are built from its outputs with build_map.
"""

from __future__ import annotations

import json
import math
import re
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest

from ditan.maps import basemaps
from ditan.maps.charts import Spoke
from ditan.maps.popup_chart import popup_charts, radar_svg
from ditan.pipelines.cli import main
from ditan.pipelines.config.map_options import MapOptions
from tests.conftest import chromium_fixture

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "pipelines" / "configs" / "beijing_haidian.yaml"
SAMPLE = ROOT / "data" / "beijing_haidian_tsinghua"
KEY = "k3y0123456789abcdef"
FIND = """
const map = window[document.querySelector('.folium-map').id];
const units = Object.values(map._layers).find(l => l.feature === undefined && l.getLayers
    && l.getLayers().length && l.getLayers()[0].feature && 'uid' in l.getLayers()[0].feature.properties);
"""


# --- config --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "stored"),
    [(True, "osm"), (False, "none"), ("OSM", "osm"), ("gaode", "gaode"), ("none", "none")],
)
def test_tiles_choices_and_old_booleans(given, stored):
    assert MapOptions(tiles=given).tiles == stored


def test_url_template_used_as_given():
    url = "https://tiles.example.cn/{z}/{x}/{y}.png"
    opts = MapOptions(tiles=url)
    assert opts.tiles == url
    bm = basemaps.basemap(opts.tiles)
    assert bm.kind == "custom" and bm.layers[0].url == url and not bm.gcj02


@pytest.mark.parametrize(
    ("value", "match"),
    [
        ("https://tiles.example.cn/{z}/{x}.png", r"lacks \{y\}"),
        ("googlemaps", r"neither a basemap \(osm, tianditu"),
    ],
)
def test_bad_tiles_refused(value, match):
    with pytest.raises(ValueError, match=match):
        MapOptions(tiles=value)


def test_tianditu_key_from_config_or_environment(monkeypatch):
    monkeypatch.delenv(basemaps.KEY_ENV, raising=False)
    with pytest.raises(ValueError, match=r"tianditu_key[\s\S]*console\.tianditu\.gov\.cn"):
        MapOptions(tiles="tianditu")
    assert MapOptions(tiles="tianditu_img", tianditu_key=KEY).tianditu_key == KEY
    monkeypatch.setenv(basemaps.KEY_ENV, "from-env")
    assert MapOptions(tiles="tianditu").tianditu_key is None
    urls = [s.url for s in basemaps.basemap("tianditu").layers]
    assert ["T=vec_w" in urls[0], "T=cva_w" in urls[1]] == [True, True]
    assert all(u.endswith("tk=from-env") for u in urls)


def _config(tmp_path: Path, map_yaml: str) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(
        f"name: c\ninputs:\n  osm:\n    path: {SAMPLE / 'map.osm.pbf'}\nmap:\n{map_yaml}",
        encoding="utf-8",
    )
    return path


def test_check_config_refuses_tianditu_without_key(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv(basemaps.KEY_ENV, raising=False)
    monkeypatch.setenv("COLUMNS", "500")
    assert main(["check-config", str(_config(tmp_path, "  tiles: tianditu\n"))]) == 2
    err = capsys.readouterr().err
    assert "map.tianditu_key" in err and "https://console.tianditu.gov.cn" in err, err
    assert "TIANDITU_KEY" in err and "Traceback" not in err
    monkeypatch.setenv(basemaps.KEY_ENV, KEY)
    assert main(["check-config", str(_config(tmp_path, "  tiles: tianditu\n"))]) == 0


def test_check_config_refuses_a_template_without_xyz(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "500")
    bad = _config(tmp_path, "  tiles: 'https://t.example.cn/{z}/{x}.png'\n")
    assert main(["check-config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "map.tiles" in err and "{y}" in err and "Traceback" not in err


# --- the popup radar ------------------------------------------------------------------------


def test_radar_svg_radii_by_hand():
    # four spokes: shares 1, 2, 0.5 and 3 (capped at 2); the 200 % ring has radius 62 px, centre (100, 100);
    # spoke k points at angle 90° × k clockwise from up: (100, 100 - r), (100 + r, 100), (100, 100 + r), (100 - r, 100)
    spokes = [Spoke("甲", 1.0, "pass"), Spoke("乙", 2.0, "pass"), Spoke("丙", 0.5, "fail"),
              Spoke("丁", 3.0, "pass"), Spoke("戊", math.nan, "not_assessable")]  # fmt: skip
    svg = radar_svg(spokes)
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    points = re.search(r'<polygon[^>]*points="([^"]+)"', svg).group(1)
    assert points == "100.0,69.0 162.0,100.0 100.0,115.5 38.0,100.0"
    assert svg.count("<title>") == 4 and "戊" not in svg  # no value: not drawn
    assert radar_svg(spokes[:2]).startswith("可评估指标不足三项")


def test_popup_charts_left_out_above_the_limit():
    import pandas as pd

    # above the limit no cell per unit: the page says it once (test_maps_interactive)
    cells = popup_charts(["a", "b", "c"], pd.DataFrame({"unit_id": []}), {"r": None}, max_units=2)
    assert cells is None


# --- pages in headless Chromium -------------------------------------------------------------


# "eager": the inline scripts have run; tiles that cannot load offline are not awaited
browser = chromium_fixture("eager")


@pytest.fixture(scope="module")
def gaode_run(tmp_path_factory) -> Path:
    """The Beijing sample on 高德 tiles (one run for the module)."""
    from ditan.pipelines.config.schema import load_config
    from ditan.pipelines.jobs.run import run

    cfg = load_config(CONFIG)
    cfg.map.tiles = "gaode"
    out = tmp_path_factory.mktemp("gaode")
    run(cfg, out)
    return out


def _page(gaode_run: Path, tmp: Path, tiles: str, **kw) -> Path:
    """A map of the run's units alone, built on ``tiles``."""
    from ditan.maps.interactive import build_map, map_html

    units = gpd.read_file(gaode_run / "communities.gpkg", layer="communities").set_index("unit_id")
    path = tmp / f"{tiles}.html"
    m = build_map(
        units,
        indicators={},
        color_by="road_density_km_per_km2",
        tiles=tiles,
        attribution="© OpenStreetMap contributors (ODbL 1.0)",
        **kw,
    )
    path.write_text(map_html(m), encoding="utf-8")
    return path


def _open(driver, path: Path) -> list[dict]:
    driver.get_log("browser")
    driver.get(path.resolve().as_uri())
    driver.execute_script("return 1")
    time.sleep(0.3)
    return driver.get_log("browser")


def _js_errors(logs: list[dict]) -> list[dict]:
    """SEVERE entries other than tiles that cannot load offline (source 'network')."""
    return [e for e in logs if e["level"] == "SEVERE" and e.get("source") != "network"]


def test_control_collapsed_and_one_attribution(browser, gaode_run, tmp_path):
    assert not _js_errors(_open(browser, _page(gaode_run, tmp_path, "osm")))
    control = browser.find_element("css selector", ".leaflet-control-layers")
    assert "leaflet-control-layers-expanded" not in control.get_attribute("class")
    assert not browser.find_element("css selector", ".leaflet-control-layers-list").is_displayed()
    attributions = browser.find_elements("css selector", ".leaflet-control-attribution")
    assert len(attributions) == 1
    assert attributions[0].text.count("OpenStreetMap") == 1, attributions[0].text
    # the legend shows the active colouring
    assert browser.find_element("css selector", ".ditan-legend .ditan-body").text.startswith(
        browser.find_element("css selector", ".ditan-select option:checked").text[:4]
    )


def test_tianditu_layers_carry_the_key(browser, gaode_run, tmp_path):
    path = _page(gaode_run, tmp_path, "tianditu", tianditu_key=KEY)
    assert not _js_errors(_open(browser, path))
    urls = browser.execute_script(
        FIND + "return Object.values(map._layers).filter(l => l instanceof L.TileLayer)"
        ".map(l => [l._url, l.options.subdomains.join ? l.options.subdomains.join('') : l.options.subdomains]);"
    )
    assert len(urls) == 2, urls
    for (url, subdomains), layer in zip(urls, ("vec_w", "cva_w"), strict=True):
        assert url.startswith("https://t{s}.tianditu.gov.cn/"), url
        assert f"T={layer}" in url and f"tk={KEY}" in url and "{x}" in url and "{z}" in url
        assert subdomains == "01234567"
    # the request is only built: Leaflet's own URL for tile (x 843, y 388, z 10)
    built = browser.execute_script(
        FIND + "const l = Object.values(map._layers).find(l => l instanceof L.TileLayer);"
        "return L.Util.template(l._url, {s: '3', x: 843, y: 388, z: 10});"
    )
    assert built == f"https://t3.tianditu.gov.cn/DataServer?T=vec_w&x=843&y=388&l=10&tk={KEY}"
    text = browser.find_element("css selector", ".leaflet-control-attribution").text
    assert "天地图" in text and text.count("OpenStreetMap") == 1


def test_gaode_shifts_the_drawing_only(browser, gaode_run, beijing_study):
    prcoords = pytest.importorskip("prcoords")  # the test extra (pyproject.toml)
    assert not _js_errors(_open(browser, gaode_run / "map.html"))
    assert basemaps.GCJ02_NOTE in browser.find_element("css selector", ".ditan-legend").text
    assert "高德" in browser.find_element("css selector", ".leaflet-control-attribution").text
    drawn = browser.execute_script(
        FIND + "return units.getLayers().map(l => [l.feature.properties.uid, "
        "l.getLatLngs().flat(3).slice(0, 4).map(p => [p.lng, p.lat])]);"
    )
    units = gpd.read_file(gaode_run / "communities.gpkg", layer="communities").set_index("unit_id")
    wgs = units.to_crs(4326)
    checked = 0
    for uid, pts in drawn[:3]:
        ring = np.asarray(
            wgs.geometry[uid].geoms[0].exterior.coords
            if wgs.geometry[uid].geom_type == "MultiPolygon"
            else wgs.geometry[uid].exterior.coords
        )
        for (lon, lat), (x, y) in zip(pts, ring[: len(pts)], strict=True):
            g = prcoords.wgs_gcj((y, x))  # (lat, lon)
            assert lon == pytest.approx(g.lon, abs=1e-6) and lat == pytest.approx(g.lat, abs=1e-6)
            assert abs(lon - x) > 1e-3  # a visible shift (hundreds of metres), not a no-op
            checked += 1
    assert checked >= 6
    # the files keep the study area's geometry: communities.gpkg in its metric CRS, unshifted
    _, sa = beijing_study
    assert units.crs == sa.units.crs and units.crs.is_projected
    same = units.geometry.geom_equals_exact(sa.units.geometry.reindex(units.index), tolerance=1e-6)
    assert same.all()
    manifest = json.loads((gaode_run / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["map_basemap"]["tiles"] == "gaode"
    assert manifest["map_basemap"]["display_crs"] == "GCJ-02"


def test_popup_shows_the_radar(browser, gaode_run):
    _open(browser, gaode_run / "map.html")
    found = browser.execute_script(
        FIND
        + """
        const f = units.getLayers().find(l => String(l.feature.properties.chart).startsWith('<svg'));
        if (!f) return null;
        f.fire('click', {latlng: f.getBounds().getCenter()}, true);
        const p = document.querySelector('.leaflet-popup-content');
        return p ? [p.querySelectorAll('svg.ditan-radar').length, p.innerText] : null;
    """
    )
    assert found is not None and found[0] == 1, found
    assert "雷达图" in found[1]
