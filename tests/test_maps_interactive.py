"""Tests of ditan.maps.interactive: layers, escaping, legend, station circles, service areas, attribution, land-use colours."""

from __future__ import annotations

import json
import math
import re

import folium
import geopandas as gpd
import numpy as np
import pytest
from branca.colormap import StepColormap
from shapely.geometry import LineString, Point, Polygon, box, shape

from ditan.maps import icons as map_icons
from ditan.maps import style
from ditan.maps.input_layers import SIMPLIFY_M
from ditan.maps.interactive import build_map, map_html
from ditan.maps.life_circle_gaps import coverage_gaps
from ditan.maps.offline import PageChrome
from ditan.spatial.standards.registry import Indicator

CRS = "EPSG:4548"  # CGCS2000 / 3-degree Gauss-Kruger CM 117E
X0, Y0 = 441000.0, 4428000.0
PAYLOAD = "<img src=x onerror=alert(1)>"

INDICATORS = {
    "road_density_km_per_km2": Indicator(
        "road_density_km_per_km2", "路网密度", "Road network density", "km/km²"
    ),
    "far_ratio": Indicator("far_ratio", "容积率", "Floor-area ratio (FAR)", "ratio"),
    "green_space_ratio_pct": Indicator("green_space_ratio_pct", "绿地率", "Green-space ratio", "%"),
}
CATEGORIES = {"kindergarten": ("幼儿园", "Kindergarten"), "clinic": ("社区卫生服务站", "Clinic")}
STATION_LAYERS = [
    "公交站 Bus stop",
    "地铁站 Metro",
    "共享单车/自行车租赁 Bike rental",
    "充电站 EV charging",
]
ROAD_LAYERS = ["快速路 Expressway", "主干路 Arterial", "次干路 Collector", "支路 Local"]


def _decode(text: str) -> str:
    """The strings the browser sees: undo the \\uXXXX escapes of folium's JSON embedding."""
    return re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), text)


def _walk(element):
    yield element
    for child in element._children.values():
        yield from _walk(child)


@pytest.fixture()
def layers() -> dict[str, gpd.GeoDataFrame]:
    units = gpd.GeoDataFrame(
        {
            "name": ["和平社区", PAYLOAD],
            "road_density_km_per_km2": [8.123456, np.nan],
            "far_ratio": [1.5, 2.25],
            "green_space_ratio_pct": [np.nan, 31.4159],
        },
        geometry=[box(X0, Y0, X0 + 1000, Y0 + 1000), box(X0 + 1000, Y0, X0 + 2000, Y0 + 1000)],
        index=["u1", "u2"],
        crs=CRS,
    )
    roads = gpd.GeoDataFrame(
        {
            "road_class": ["expressway", "arterial", "collector", "local", "service"],
            "name": ["京藏高速", "<b>主路</b>", None, "小巷", "x"],
            "highway": ["motorway", "primary", "secondary", "residential", "service"],
        },
        geometry=[
            LineString([(X0, Y0 + 100 * i), (X0 + 2000, Y0 + 100 * i + 50)]) for i in range(1, 6)
        ],
        crs=CRS,
    )
    buildings = gpd.GeoDataFrame(
        {
            "building": ["apartments", "retail", "yes"],
            "floors": [18.0, 2.0, np.nan],
            "residential": [True, False, None],
        },
        geometry=[
            box(X0 + 100, Y0 + 100, X0 + 150, Y0 + 130),
            box(X0 + 1200, Y0 + 200, X0 + 1260, Y0 + 240),
            box(X0 + 1500, Y0 + 600, X0 + 1530, Y0 + 620),
        ],
        crs=CRS,
    )
    facilities = gpd.GeoDataFrame(
        {
            "category": ["kindergarten", "clinic", "clinic", "market"],
            "name": ["阳光幼儿园", "<script>x</script>", None, "菜市场"],
        },
        geometry=[
            Point(X0 + 300, Y0 + 300),
            Point(X0 + 1300, Y0 + 700),
            Point(X0 + 1700, Y0 + 200),
            Point(X0 + 900, Y0 + 900),
        ],
        crs=CRS,
    )
    stations = gpd.GeoDataFrame(
        {
            "kind": ["bus_stop", "metro", "bike_rental", "ev_charging"],
            "name": ["公交一站", "地铁站A", "单车点", "充电桩"],
        },
        geometry=[
            Point(X0 + 500, Y0 + 500),
            Point(X0 + 1500, Y0 + 500),
            Point(X0 + 1000, Y0 + 200),
            Point(X0 + 200, Y0 + 800),
        ],
        crs=CRS,
    )
    return {
        "units": units,
        "roads": roads,
        "buildings": buildings,
        "facilities": facilities,
        "stations": stations,
    }


def _build(layers, **kw) -> folium.Map:
    return build_map(
        layers["units"],
        indicators=INDICATORS,
        color_by=kw.pop("color_by", "road_density_km_per_km2"),
        roads=layers["roads"],
        buildings=layers["buildings"],
        facilities=layers["facilities"],
        categories=kw.pop("categories", CATEGORIES),
        stations=layers["stations"],
        **kw,
    )


def test_renders_with_every_layer_and_writes_demo(layers):
    m = _build(layers)
    page = map_html(m)
    assert page.startswith("<!DOCTYPE html>")
    seen = _decode(page)
    for name in [
        "分析单元 Analysis units",
        "站点500米范围 Station 500 m radius",
        "建筑 Buildings",
        "其他道路 Other roads",
        "幼儿园 Kindergarten",
        "社区卫生服务站 Clinic",
        "market",
        *STATION_LAYERS,
        *ROAD_LAYERS,
    ]:
        assert name in seen, name
    assert "L.control.layers" in page
    with open("/tmp/ditan_map_demo.html", "w", encoding="utf-8") as fh:
        fh.write(page)


def test_data_text_is_escaped(layers):
    page = map_html(_build(layers))
    seen = _decode(page)
    for raw in (PAYLOAD, "<b>主路</b>", "<script>x</script>"):
        assert raw not in page and raw not in seen, raw
    assert "&lt;img src=x onerror=alert(1)&gt;" in seen
    assert "&lt;b&gt;主路&lt;/b&gt;" in seen
    assert "&lt;script&gt;x&lt;/script&gt;" in seen


#: Jinja code that would print INJECTED if anything compiled it as a template
JINJA = '{{ "INJ" ~ "ECTED" }}{% if true %}{{ "ran" ~ "_if" }}{% endif %}{# gone #}'


def test_text_from_data_and_config_never_runs_as_a_template(layers):
    """folium/branca compile each element's output once more: data and config text stay text."""
    layers["units"].loc["u1", "name"] = JINJA
    layers["facilities"].loc[0, "name"] = JINJA
    layers["roads"].loc[0, "name"] = JINJA
    cats = {**CATEGORIES, "kindergarten": (JINJA, "Kindergarten " + JINJA)}
    page = map_html(_build(layers, categories=cats, attribution="OSM " + JINJA))
    seen = _decode(page)
    assert "INJECTED" not in seen and "ran_if" not in seen and "gone" in seen
    assert "&#123;&#123; &quot;INJ&quot; ~ &quot;ECTED&quot; &#125;&#125;" in seen


def test_page_data_equal_the_layers(layers):
    """The units layer's GeoJSON, put in after rendering, parses to one feature per unit with its text."""
    page = map_html(_build(layers))
    found = re.search(r"_add\((\{\"features\": .*?\"type\": \"FeatureCollection\"\})\);", page)
    assert found is not None
    data = json.loads(found.group(1))
    names = {f["properties"].get("name") for f in data["features"]}
    assert {"和平社区", "&lt;img src=x onerror=alert(1)&gt;"} <= names
    assert "ditan_data" not in data and len(data["features"]) == 2


def test_a_map_rendered_by_folium_itself_keeps_its_data(layers):
    """Saved with folium (a notebook, m.save) the layers carry their data, as they do in map_html's page."""
    plain = _decode(_build(layers).get_root().render())
    assert "和平社区" in plain and "ditan_data" not in plain
    page = _decode(map_html(_build(layers)))
    assert "和平社区" in page and "ditan_data" not in page


def _chrome(m: folium.Map) -> PageChrome:
    return next(e for e in _walk(m) if isinstance(e, PageChrome))


def test_tooltip_popup_and_schemes(layers):
    m = _build(layers)
    label = "路网密度 Road network density (km/km²)"
    assert INDICATORS["road_density_km_per_km2"].label == label
    units_json = next(
        e
        for e in _walk(m)
        if isinstance(e, folium.GeoJson) and e.layer_name == "分析单元 Analysis units"
    )
    tip = next(c for c in units_json._children.values() if isinstance(c, folium.GeoJsonTooltip))
    popup = next(c for c in units_json._children.values() if isinstance(c, folium.GeoJsonPopup))
    for ind in INDICATORS.values():
        assert ind.label in tip.aliases and ind.label in popup.aliases
    props = [f["properties"] for f in units_json.data["features"]]
    fields = dict(zip(popup.aliases, popup.fields, strict=True))
    assert [p[fields[label]] for p in props] == ["8.12", "—"]
    assert [p[fields[INDICATORS["green_space_ratio_pct"].label]] for p in props] == ["—", "31.42"]
    # one colouring scheme per key indicator present, color_by first; each with its legend and unit
    cfg = json.loads(_chrome(m).cfg)
    assert [s["label"] for s in cfg["schemes"]] == [
        label,
        "容积率 Floor-area ratio (FAR)",
        "绿地率 Green-space ratio (%)",
    ]
    assert [p["k0"] for p in props] == [0, -1]  # NaN unit drawn as no data (hatched)
    assert props[0]["k1"] == 0 < props[1]["k1"]
    first = cfg["schemes"][0]["legend"]
    assert (
        first.startswith(f'<div class="ditan-cap">{label}</div>')
        and "km/km²" in first
        and style.NODATA_LABEL in first
    )
    assert "%" in cfg["schemes"][2]["legend"]
    assert units_json.style_function({"properties": {"k0": -1}})["className"] == style.NODATA_CLASS
    assert not [
        e for e in _walk(m) if isinstance(e, StepColormap)
    ]  # no d3 legend: the page's own legend instead


def test_page_is_self_contained_and_deterministic(layers):
    from ditan.maps import offline

    for tiles in (False, True):
        page = map_html(_build(layers, tiles=tiles))
        assert not re.search(r"<(script|link)\b[^>]*(src|href)=", page)
        assert (
            "https://cdn" not in page
            and "jquery" not in page.lower()
            and "bootstrap" not in page.lower()
        )
        assert page == map_html(_build(layers, tiles=tiles))
        url = re.compile(r"https?://[^\s\"'\\)]+")
        in_vendored = {
            u for f in offline.vendored_files() for u in url.findall(offline.asset_text(f.name))
        }  # comments, namespaces
        allowed = {
            "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
            "https://www.openstreetmap.org/copyright",
            "http://www.w3.org/2000/svg",
            "https://github.com/ljagis/leaflet-measure/issues/171",
        }  # the last in a comment of folium's MeasureControl
        assert set(url.findall(page)) - in_vendored <= allowed
    assert "Leaflet 1.9.4" in page or "1.9.4" in offline.asset_text("leaflet.js")[:200]
    assert "L.Control.Measure" in page and "L.control.fullscreen" in page
    for f in offline.vendored_files():
        assert f.is_file()
    with pytest.raises(offline.OfflineError, match="not vendored"):
        offline.inline_assets('<script src="https://cdn.example.org/x.js"></script>')
    with pytest.raises(offline.OfflineError, match="internet"):
        offline.inline_assets('<img src="https://example.org/x.png">')
    with pytest.raises(offline.OfflineError):
        offline.inline_assets(
            '<script>L.tileLayer("https://tiles.example.org/{z}/{x}/{y}.png")</script>'
        )
    assert offline.inline_assets(
        '<script>L.tileLayer("https://a.org/{z}")</script>', allow=["https://a.org/"]
    )


def test_icons_distinct_per_category_and_swatches(layers):
    cats = {f"c{i}": (f"类{i}", f"Cat {i}") for i in range(25)}
    order = list(cats)
    icons = map_icons.facility_icons(order, style.category_colors(order))
    assert len(set(icons.values())) == len(icons)
    assert all(i.startswith("<svg") and "font-face" not in i for i in icons.values())
    m = _build(layers)
    sw = json.loads(_chrome(m).cfg)["swatches"]
    for name in (
        "幼儿园 Kindergarten",
        "公交站 Bus stop",
        "快速路 Expressway",
        "分析单元 Analysis units",
    ):
        assert name in sw, name
    assert sw["幼儿园 Kindergarten"] != sw["社区卫生服务站 Clinic"]
    div = [
        e.marker.icon for e in _walk(m) if isinstance(e, folium.GeoJson) and e.marker
    ]  # DivIcons with inline SVG, no web font
    assert len(div) == 7 and all(
        isinstance(d, folium.DivIcon)
        and d.options.get("class_name", d.options.get("className")) == "ditan-icon"
        for d in div
    )


def test_compliance_landuse_and_gaps(layers):
    import pandas as pd

    checks = pd.DataFrame(
        {
            "unit_id": ["u1", "u1", "u2", "u2"],
            "binding": ["binding", "guiding", "binding", "binding"],
            "status": ["pass", "fail", "not_assessable", "fail"],
            "zh": ["路网密度", "绿地率", "容积率", "<b>x</b>"],
        }
    )
    landuse = gpd.GeoDataFrame(
        {"lu_class": ["residential", "park", "residential"]},
        crs=CRS,
        geometry=[
            box(X0, Y0, X0 + 800, Y0 + 800),
            box(X0 + 200, Y0 + 200, X0 + 400, Y0 + 400),
            box(X0 + 1000, Y0, X0 + 1500, Y0 + 500),
        ],
    )
    gaps = layers["buildings"].iloc[:1].assign(missing=["医院、<i>中学</i>"], n_missing=[2])
    gaps.attrs["tier"] = "15min"
    m = _build(layers, compliance=checks, landuse=landuse, gaps=gaps)
    page = _decode(map_html(m))
    cfg = json.loads(_chrome(m).cfg)
    assert cfg["schemes"][-1]["key"] == "kc"
    units_json = next(
        e
        for e in _walk(m)
        if isinstance(e, folium.GeoJson) and e.layer_name == "分析单元 Analysis units"
    )
    props = [f["properties"] for f in units_json.data["features"]]
    keys = [k for k, _, _ in style.COMPLIANCE_CLASSES]
    assert [keys[p["kc"]] for p in props] == ["pass", "fail"]
    assert [p["cb"] for p in props] == ["1 / 0 / 0", "0 / 1 / 1"]
    assert props[1]["cf"] == "&lt;b&gt;x&lt;/b&gt;" and props[0]["cf"] == "绿地率"
    assert "用地 Land use (GB 50137)" in page and style.LANDUSE_COLOURS["park"] in page
    lu = [
        e
        for e in _walk(m)
        if isinstance(e, folium.GeoJson)
        and getattr(e._parent, "layer_name", "") == "用地 Land use (GB 50137)"
    ]
    assert {lay.style_function({})["fillColor"] for lay in lu} == {
        style.LANDUSE_COLOURS["residential"],
        style.LANDUSE_COLOURS["park"],
    }
    assert (
        "15分钟生活圈未覆盖的居住建筑 Residential buildings outside the 15-minute life circle"
        in page
    )
    assert "<i>中学</i>" not in page and "&lt;i&gt;中学&lt;/i&gt;" in page
    assert cfg["legends"] and "居住用地" in cfg["legends"][0] or "Residential" in cfg["legends"][0]


def test_coverage_gaps_from_origin_distances(layers):
    import pandas as pd

    from ditan.spatial.standards.catalogue import Catalogue, Category, Tier

    cat = Catalogue(
        tiers={
            "5min": Tier("5min", 300.0, "5分钟", "5 min"),
            "15min": Tier("15min", 1000.0, "15分钟", "15 min"),
        },
        categories={
            "k": Category("k", "5min", "幼儿园", "Kindergarten", ()),
            "h": Category("h", "15min", "医院", "Hospital", ()),
            "s": Category("s", "15min", "中学", "Middle school", ()),
        },
        stations={},
    )
    b = layers["buildings"].assign(residential=[True, False, True])
    dist = pd.DataFrame(
        {"k": [9e9, 10, 10, 5], "h": [500, 9e9, float("inf"), 1], "s": [900, 9e9, 1200, 1]}
    )
    g = coverage_gaps(b, dist, cat)
    assert g.attrs["tier"] == "15min" and list(g.index) == [
        2
    ]  # building 1 is not residential; building 0 reaches both
    assert g["missing"].tolist() == ["医院、中学"] and g["n_missing"].tolist() == [2]
    with pytest.raises(ValueError, match="building"):
        coverage_gaps(b, dist.iloc[:2], cat)


def test_coverage_gaps_text_equals_a_row_by_row_join():
    """The categories out of reach, named once per pattern, equal a join of each building's own row."""
    import pandas as pd

    from ditan.spatial.standards.catalogue import Catalogue, Category, Tier

    rng = np.random.default_rng(5)
    ids = [f"c{i}" for i in range(11)]  # more than 8 categories: the pattern spans two bytes
    cat = Catalogue(
        tiers={"15min": Tier("15min", 1000.0, "15分钟", "15 min")},
        categories={c: Category(c, "15min", f"设施{c}", c, ()) for c in ids},
        stations={},
    )
    n = 3000
    b = gpd.GeoDataFrame(
        {"residential": rng.random(n) < 0.8},
        geometry=[Point(X0 + i, Y0) for i in range(n)],
        crs=CRS,
    )
    dist = pd.DataFrame({c: np.where(rng.random(n) < 0.15, 2000.0, 10.0) for c in ids})
    g = coverage_gaps(b, dist, cat)
    expect = [
        "、".join(f"设施{c}" for c in ids if dist.at[i, c] > 1000)
        for i in range(n)
        if b.at[i, "residential"] and (dist.loc[i] > 1000).any()
    ]
    assert g["missing"].tolist() == expect and len(set(expect)) > 50


@pytest.mark.parametrize("station_crs", [CRS, "EPSG:4326"])
def test_station_circle_is_true_500_m(layers, station_crs):
    layers = {**layers, "stations": layers["stations"].to_crs(station_crs)}
    m = _build(layers)
    circles = [
        f
        for e in _walk(m)
        if isinstance(e, folium.GeoJson)
        and isinstance(e._parent, folium.FeatureGroup)
        and e._parent.layer_name.startswith("站点500米范围")
        for f in e.data["features"]
    ]
    assert len(circles) == 4
    metric = gpd.GeoSeries([shape(f["geometry"]) for f in circles], crs="EPSG:4326").to_crs(CRS)
    for area in metric.area:
        assert area == pytest.approx(math.pi * 500**2, rel=0.01)
    centre = metric.centroid.iloc[0]
    assert centre.distance(layers["stations"].to_crs(CRS).geometry.iloc[0]) < 1.0


def test_unknown_color_by_lists_columns(layers):
    with pytest.raises(ValueError) as err:
        _build(layers, color_by="nope")
    msg = str(err.value)
    assert "nope" in msg
    for col in INDICATORS:
        assert col in msg


def test_no_tiles_still_attributed(layers):
    page_tiles = map_html(_build(layers))
    assert "tile.openstreetmap.org" in page_tiles
    page = map_html(
        _build(layers, tiles=False, attribution="© OpenStreetMap contributors (ODbL) & 高德")
    )
    assert "L.tileLayer" not in page
    assert "© OpenStreetMap contributors (ODbL) &amp; 高德" in page


def test_inputs_not_mutated(layers):
    before = {k: v.copy() for k, v in layers.items()}
    _build(layers)
    for k, v in layers.items():
        assert v.crs == before[k].crs
        assert list(v.columns) == list(before[k].columns)
        assert v.geometry.geom_equals(before[k].geometry).all()


def test_class_breaks_and_classify():
    assert style.class_breaks([np.nan, np.nan]) == [0.0, 1.0]
    assert style.class_breaks([3.0, 3.0]) == [3.0, 3.03]
    b = style.class_breaks(np.arange(100.0))
    assert len(b) == 6 and b[0] == 0 and b[-1] == 99 and all(np.diff(b) > 0)
    assert list(style.classify([0.0, 99.0, np.nan, 50.0], b)) == [0, 4, -1, 2]
    assert len(style.class_colors(3)) == 3


def test_geographic_units_rejected(layers):
    with pytest.raises(ValueError, match="geographic"):
        build_map(layers["units"].to_crs("EPSG:4326"), indicators=INDICATORS, color_by="far_ratio")


def test_facility_without_category_and_minimal_map(layers):
    fac = layers["facilities"].copy()
    fac.loc[fac.index[-1], "category"] = None
    m = build_map(
        layers["units"],
        indicators=INDICATORS,
        color_by="far_ratio",
        facilities=fac,
        categories=CATEGORIES,
        tiles=False,
    )
    seen = _decode(map_html(m))
    assert "其他设施 Other facilities" in seen and "幼儿园 Kindergarten" in seen
    assert "容积率 Floor-area ratio (FAR)" in seen


# --- service areas ---------------------------------------------------------------------------------

SA_GROUPS = [
    "5分钟生活圈服务范围 5-minute service areas",
    "10分钟生活圈服务范围 10-minute service areas",
    "站点500米步行范围 500 m walking areas (stations)",
]


@pytest.fixture()
def service_areas() -> gpd.GeoDataFrame:
    """Rows as ``service_area_frame`` gives them, in catalogue order (not tier order); one row empty."""
    centre = Point(X0 + 1000, Y0 + 500)
    return gpd.GeoDataFrame(
        {
            "category": ["clinic", "kindergarten", "empty_cat", "bus_stop", "market"],
            "tier": ["10min", "5min", "15min", "500m", "10min"],
            "distance_m": [500.0, 300.0, 1000.0, 500.0, 500.0],
            "reachable_network_km": [3.25, 1.5, 0.0, 2.0, 1.0],
            "area_km2": [0.6, 0.2, 0.0, 0.5, 0.04],
        },
        geometry=[
            centre.buffer(450, quad_segs=64),
            centre.buffer(250, quad_segs=64),
            Polygon(),
            centre.buffer(400, quad_segs=64),
            centre.buffer(100, quad_segs=64),
        ],
        crs=CRS,
    )


def _groups(m: folium.Map) -> dict[str, folium.FeatureGroup]:
    return {e.layer_name: e for e in _walk(m) if isinstance(e, folium.FeatureGroup)}


def _area_layers(m: folium.Map) -> list[folium.GeoJson]:
    return [
        e
        for e in _walk(m)
        if isinstance(e, folium.GeoJson)
        and isinstance(e._parent, folium.FeatureGroup)
        and e._parent.layer_name in SA_GROUPS
    ]


def test_service_area_layers_named_and_hidden(layers, service_areas):
    m = _build(layers, service_areas=service_areas)
    page = map_html(m)
    overlays = _decode(page[page.index("overlays") :])
    found = [
        name for name in re.findall(r'"([^"]+)" : feature_group_', overlays) if name in SA_GROUPS
    ]
    assert (
        found == SA_GROUPS
    )  # by walking distance, station tiers last; no group for the all-empty 15min tier
    assert "15分钟" not in _decode(page)
    groups = _groups(m)
    for name in SA_GROUPS:
        assert groups[name].show is False
        assert (
            f"{groups[name].get_name()}.addTo(" not in page
        )  # only in the layer control, not on the map
    assert groups["建筑 Buildings"].show is False
    assert groups["公交站 Bus stop"].show is True


def test_service_area_tooltip_and_empty_rows(layers, service_areas):
    m = _build(layers, service_areas=service_areas)
    props = {}
    for layer in _area_layers(m):
        tip = next(c for c in layer._children.values() if isinstance(c, folium.GeoJsonTooltip))
        assert tip.aliases == [
            "类别 Category",
            "层级 Tier",
            "步行距离 Walking distance (m)",
            "可达路网 Reachable network (km)",
            "面积 Area (km²)",
        ]
        for f in layer.data["features"]:
            props[f["properties"]["cls"]] = [f["properties"][k] for k in tip.fields]
    assert props == {
        "幼儿园 Kindergarten": [
            "幼儿园 Kindergarten",
            "5分钟生活圈 5-minute life circle",
            "300",
            "1.50",
            "0.200",
        ],
        "社区卫生服务站 Clinic": [
            "社区卫生服务站 Clinic",
            "10分钟生活圈 10-minute life circle",
            "500",
            "3.25",
            "0.600",
        ],
        "market": ["market", "10分钟生活圈 10-minute life circle", "500", "1", "0.040"],
        "公交站 Bus stop": [
            "公交站 Bus stop",
            "站点500米 500 m walk from stations",
            "500",
            "2",
            "0.500",
        ],
    }
    assert "empty_cat" not in _decode(map_html(m))
    # smaller areas drawn after (on top of) larger ones within a tier
    ten = [
        lay.data["features"][0]["properties"]["cls"]
        for lay in _area_layers(m)
        if lay._parent.layer_name == SA_GROUPS[1]
    ]
    assert ten == ["社区卫生服务站 Clinic", "market"]


def test_service_areas_simplified_in_wgs84_and_coloured_like_facilities(layers, service_areas):
    m = _build(layers, service_areas=service_areas)
    for layer in _area_layers(m):
        feat = layer.data["features"][0]
        poly = shape(feat["geometry"])
        lon, lat = poly.exterior.coords[0]
        assert 115 < lon < 118 and 39 < lat < 41  # WGS 84
        assert len(poly.exterior.coords) < 257  # 64 segments per quadrant, thinned
        metric = gpd.GeoSeries([poly], crs="EPSG:4326").to_crs(CRS).iloc[0]
        original = service_areas.geometry[service_areas["category"] == _category_of(feat)].iloc[0]
        assert (
            original.hausdorff_distance(metric) < SIMPLIFY_M + 0.5
        )  # within the tolerance (+ rounding)
        assert metric.symmetric_difference(original).area < original.length * SIMPLIFY_M
    colors = {
        lay.data["features"][0]["properties"]["cls"]: lay.style_function({})["fillColor"]
        for lay in _area_layers(m)
    }
    assert colors["公交站 Bus stop"] == style.STATION_COLORS["bus_stop"]
    assert len(set(colors.values())) == len(colors)
    icons = json.loads(_chrome(m).cfg)["swatches"]
    for name in ("幼儿园 Kindergarten", "社区卫生服务站 Clinic"):
        assert f'fill="{colors[name]}"' in icons[name], (
            name
        )  # the marker icon has the colour of the category's areas


def _category_of(feature: dict) -> str:
    cls = feature["properties"]["cls"]
    names = {
        "幼儿园 Kindergarten": "kindergarten",
        "社区卫生服务站 Clinic": "clinic",
        "公交站 Bus stop": "bus_stop",
    }
    return names.get(cls, cls)


def test_service_area_text_is_escaped(layers, service_areas):
    areas = service_areas.copy()
    areas.loc[0, "tier"] = "<b>t</b>"
    evil = {**CATEGORIES, "clinic": ("<script>alert(1)</script>", "Clinic")}
    page = map_html(_build(layers, service_areas=areas, categories=evil))
    seen = _decode(page)
    assert "<script>alert(1)</script>" not in seen and "<b>t</b>" not in seen
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Clinic" in seen
    assert "&lt;b&gt;t&lt;/b&gt;服务范围 &lt;b&gt;t&lt;/b&gt; service areas" in seen


def test_service_areas_optional_and_not_mutated(layers, service_areas):
    before = service_areas.copy()
    _build(layers, service_areas=service_areas)
    assert service_areas.crs == before.crs and list(service_areas.columns) == list(before.columns)
    assert service_areas.geometry.geom_equals(before.geometry).all()
    for areas in (None, service_areas.iloc[:0], service_areas[service_areas.geometry.is_empty]):
        m = _build(layers, service_areas=areas)
        assert not set(_groups(m)) & set(SA_GROUPS)
    with pytest.raises(ValueError, match="CRS"):
        _build(layers, service_areas=service_areas.set_crs(None, allow_override=True))


def test_landuse_colour_for_every_class():
    from ditan.spatial.landuse.classes import LANDUSE_CLASSES

    assert len(LANDUSE_CLASSES) == 13
    assert set(style.LANDUSE_COLOURS) == set(LANDUSE_CLASSES)
    assert style.LANDUSE_CLASSES is LANDUSE_CLASSES
    for cls, colour in style.LANDUSE_COLOURS.items():
        assert re.fullmatch(r"#[0-9A-Fa-f]{6}", colour), cls
    assert len(set(style.LANDUSE_COLOURS.values())) == len(style.LANDUSE_COLOURS)
    assert style.LANDUSE_COLOURS["residential"] == "#FFFF2D"  # GB 50137 R yellow


@pytest.mark.parametrize(
    "values",
    [
        [0.0, -0.0, 1.0, 2.5, -3.14159, 1e15, 1e16, 123456.789, np.nan, np.inf, -np.inf, 0.005],
        [1, 2, 3_000_000, -7],
        [True, False, True],
        ["a", "<b>", None, 3.0, "{{ x }}"],
    ],
)
def test_value_texts_equal_value_text_one_by_one(values):
    import pandas as pd

    from ditan.maps.display_text import value_text, value_texts

    for s in (pd.Series(values), pd.Series(values, dtype=object)):
        assert value_texts(s) == [value_text(v) for v in s.tolist()]


def test_value_texts_of_a_nullable_integer_column():
    import pandas as pd

    from ditan.maps.display_text import value_texts

    s = pd.Series([1, 3_000_000, None], dtype="Int64")
    assert value_texts(s) == ["1", "3,000,000", "—"]


def test_layer_data_are_written_as_folium_writes_them():
    """The data put in after rendering equal what folium's own ``tojson`` filter writes."""
    from folium.template import Template

    from ditan.maps.geojson_layer import _tojson

    value = {"b": "<script>'x' & \"y\"</script> 中文 {{ 1 }}", "a": [1, 2.5, None, True]}
    assert _tojson(value) == Template("{{ v|tojson }}").render(v=value)


def test_popup_radar_of_rules_none_assessable_says_so():
    from ditan.maps.charts import Spoke
    from ditan.maps.popup_chart import NO_RULES, TOO_FEW, radar_svg

    nan = float("nan")
    assert radar_svg([]) == NO_RULES.replace("&", "&amp;")
    none = [Spoke("绿地率", nan, "not_assessable"), Spoke("容积率", nan, "not_assessable")]
    assert radar_svg(none) == TOO_FEW


def test_over_the_chart_limit_the_page_says_it_once(layers):
    from ditan.maps.popup_chart import TOO_MANY
    from ditan.spatial.standards.compliance import evaluate
    from ditan.spatial.standards.profiles import load_profile

    profile = load_profile("lowcarbon_pilot_2015")
    rules = {r.id: r for r in profile.rules}
    checks = evaluate(layers["units"].drop(columns="geometry"), profile, kind="existing")
    page = _decode(map_html(_build(layers, compliance=checks, rules=rules, max_charts=1)))
    note = TOO_MANY.format(n=1)
    assert page.count(note) == 1
