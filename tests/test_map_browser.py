"""map.html in a real browser (headless Debian chromium via selenium), opened from disk with no internet.

The Beijing sample is run once (tiles off, as a planner without internet would open it). Checks: no
SEVERE console entry, the Leaflet map exists, the layer control lists the overlays, hovering and
clicking a unit shows its values, a unit named with an HTML payload runs nothing, and a screenshot
is saved to test-artifacts/map_beijing.png.

Tiles on but offline (the session's run of the sample, conftest.py: its map.tiles is osm): a tile
that cannot load is a *network* error in the console (source "network", "Failed to load
resource"), not a JS error. That page is opened once and only JS errors (any other SEVERE source)
fail it.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.conftest import chromium_fixture

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "pipelines" / "configs" / "beijing_haidian.yaml"
ARTIFACTS = ROOT / "test-artifacts"
XSS = '<img src=x onerror="window.__xss=1">'
#: finds folium's map object (its div id is the variable name) and the units layer in it
FIND = """
const map = window[document.querySelector('.folium-map').id];
const units = Object.values(map._layers).find(l => l.feature === undefined && l.getLayers
    && l.getLayers().length && l.getLayers()[0].feature && 'uid' in l.getLayers()[0].feature.properties);
"""


browser = chromium_fixture()


def _run(tmp: Path, tiles: bool, rename: dict[str, str] | None = None) -> Path:
    from ditan.pipelines.config.schema import load_config
    from ditan.pipelines.jobs.run import run

    cfg = load_config(CONFIG)
    cfg.map.tiles = tiles
    if rename:
        import ditan.pipelines.assemble.load as load

        original = load.load_study_area

        def renamed(c):
            sa = original(c)
            sa.units["name"] = [
                rename.get(i, n) for i, n in zip(sa.units.index, sa.units["name"], strict=True)
            ]
            return sa

        try:
            import ditan.pipelines.jobs.run as rj

            rj.load_study_area = renamed
            return run(cfg, tmp).files["map.html"]
        finally:
            rj.load_study_area = original
    return run(cfg, tmp).files["map.html"]


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> Path:
    return _run(tmp_path_factory.mktemp("map"), tiles=False)


def _open(driver, path: Path) -> list[dict]:
    driver.get_log("browser")  # drop what an earlier page left
    driver.get(path.resolve().as_uri())
    driver.execute_script(
        "return 1"
    )  # the page's scripts have run (they are inline and synchronous)
    time.sleep(0.3)
    return driver.get_log("browser")


def test_map_in_browser(browser, page):
    started = time.perf_counter()
    logs = _open(browser, page)
    severe = [e for e in logs if e["level"] == "SEVERE"]
    assert not severe, severe
    assert browser.execute_script(FIND + "return map instanceof L.Map && !!units;")
    assert browser.execute_script("return L.version") == "1.9.4"
    # no request may leave the machine: every script and stylesheet is inline
    assert (
        browser.execute_script("return document.querySelectorAll('script[src], link[href]').length")
        == 0
    )

    labels = [  # textContent: the control is collapsed (issue 19), its rows hidden until hovered
        e.get_attribute("textContent").strip()
        for e in browser.find_elements("css selector", ".leaflet-control-layers-overlays label")
    ]
    for name in (
        "分析单元 Analysis units",
        "用地 Land use (GB 50137)",
        "建筑 Buildings",
        "站点500米范围 Station 500 m radius",
        "15分钟生活圈未覆盖的居住建筑 Residential buildings outside the 15-minute life circle",
        "快速路 Expressway",
        "公交站 Bus stop",
        "地铁站 Metro",
        "便利店 Convenience store",
        "15分钟生活圈服务范围 15-minute service areas",
    ):
        assert name in labels, (name, "|".join(labels))
    assert browser.find_elements(
        "css selector", ".leaflet-control-fullscreen, .leaflet-control-measure"
    )

    # hover a unit: its tooltip shows the name and road density with a number
    tip = browser.execute_script(
        FIND
        + """
        const f = units.getLayers()[0];
        f.fire('mouseover', {latlng: f.getBounds().getCenter(), originalEvent: new MouseEvent('mouseover')}, true);
        const t = document.querySelector('.leaflet-tooltip');
        return [f.feature.properties.name, t ? t.innerText : ''];
    """
    )
    name, text = tip
    assert name and name in text, tip
    assert "路网密度" in text and any(ch.isdigit() for ch in text.split("路网密度")[1]), text
    # click: the popup lists every indicator
    popup = browser.execute_script(
        FIND
        + """
        const f = units.getLayers()[0];
        f.fire('click', {latlng: f.getBounds().getCenter()}, true);
        const p = document.querySelector('.leaflet-popup-content');
        return p ? p.innerText : '';
    """
    )
    assert "容积率" in popup and "绿地率" in popup, popup

    # the colouring selector switches the scheme and its legend
    options = browser.execute_script(
        "return [...document.querySelectorAll('.ditan-select option')].map(o => o.textContent)"
    )
    assert any(o.startswith("容积率") for o in options) and any(
        "Compliance" in o for o in options
    ), options
    legend = browser.execute_script("""
        const s = document.querySelector('.ditan-select');
        s.value = String([...s.options].findIndex(o => o.textContent.startsWith('容积率')));
        s.dispatchEvent(new Event('change'));
        return document.querySelector('.ditan-body').innerText;""")
    assert legend.startswith("容积率") and "–" in legend, legend
    assert not [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]

    ARTIFACTS.mkdir(exist_ok=True)
    browser.execute_script(
        FIND
        + "map.closePopup(); units.eachLayer(l => l.fire('mouseout', {}, true)); map.closeTooltip && 0;"
        "document.querySelectorAll('.leaflet-tooltip').forEach(t => t.remove());"
    )
    time.sleep(0.4)  # the popup fades out
    assert browser.save_screenshot(str(ARTIFACTS / "map_beijing.png"))
    assert time.perf_counter() - started < 30


def test_unit_name_runs_no_script(browser, beijing_study, tmp_path):
    first = beijing_study[1].units.index[0]
    path = _run(tmp_path, tiles=False, rename={first: XSS})
    logs = _open(browser, path)
    assert not [e for e in logs if e["level"] == "SEVERE"], logs
    assert browser.execute_script("return window.__xss") is None
    text = browser.execute_script(
        FIND
        + """
        const f = units.getLayers().find(l => l.feature.properties.uid === arguments[0]);
        f.fire('mouseover', {latlng: f.getBounds().getCenter(), originalEvent: new MouseEvent('mouseover')}, true);
        f.fire('click', {latlng: f.getBounds().getCenter()}, true);
        return document.querySelector('.leaflet-tooltip').innerText + document.querySelector('.leaflet-popup-content').innerText;
    """,
        str(first),
    )
    assert XSS in text  # shown as text
    assert browser.execute_script("return window.__xss") is None
    assert not browser.find_elements(
        "css selector", ".leaflet-tooltip img, .leaflet-popup-content img"
    )


def test_tiles_on_offline_only_network_errors(browser, beijing_run):
    from ditan.pipelines.config.map_options import MapOptions
    from ditan.pipelines.config.schema import load_config

    # the sample's own run: its config's map.tiles is osm, what tiles: true means
    assert load_config(CONFIG).map.tiles == MapOptions(tiles=True).tiles == "osm"
    path = beijing_run.files["map.html"]
    logs = _open(browser, path)
    js_errors = [e for e in logs if e["level"] == "SEVERE" and e.get("source") != "network"]
    assert not js_errors, js_errors
    assert browser.execute_script(
        FIND + "return !!units && Object.values(map._layers).some(l => l instanceof L.TileLayer);"
    )
