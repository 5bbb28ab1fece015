"""Tests of maps.interactive: layers, escaping, legend, true-metre station circles, attribution."""

from __future__ import annotations

import json
import math
import re

import folium
import geopandas as gpd
import numpy as np
import pytest
from branca.colormap import StepColormap
from shapely.geometry import LineString, Point, box, shape

from maps import style
from maps.interactive import build_map, map_html
from spatial.standards.registry import Indicator

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
STATION_LAYERS = ["公交站 Bus stop", "地铁站 Metro", "共享单车/自行车租赁 Bike rental", "充电站 EV charging"]
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
        geometry=[LineString([(X0, Y0 + 100 * i), (X0 + 2000, Y0 + 100 * i + 50)]) for i in range(1, 6)],
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
        categories=CATEGORIES,
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


def test_tooltip_and_legend(layers):
    m = _build(layers)
    seen = _decode(map_html(m))
    assert INDICATORS["road_density_km_per_km2"].label == "路网密度 Road network density (km/km²)"
    label = "路网密度 Road network density (km/km²)"
    colormap = next(e for e in _walk(m) if isinstance(e, StepColormap))
    assert colormap.caption == label
    assert '.attr("class", "caption")' in map_html(m) and f".text({json.dumps(label)})" in map_html(m)
    assert label in seen
    assert style.NODATA_LABEL in seen
    tooltips = [e for e in _walk(m) if isinstance(e, folium.GeoJsonTooltip)]
    unit_tip = next(t for t in tooltips if "uid" in t.fields)
    for ind in INDICATORS.values():
        assert ind.label in unit_tip.aliases
    units_json = next(
        e for e in _walk(m) if isinstance(e, folium.GeoJson) and e.layer_name == "分析单元 Analysis units"
    )
    props = [f["properties"] for f in units_json.data["features"]]
    fields = dict(zip(unit_tip.aliases, unit_tip.fields, strict=True))
    road = fields[INDICATORS["road_density_km_per_km2"].label]
    green = fields[INDICATORS["green_space_ratio_pct"].label]
    assert [p[road] for p in props] == ["8.12", "—"]
    assert [p[green] for p in props] == ["—", "31.42"]
    assert [p["c"] for p in props][1] == -1  # NaN unit drawn as no data


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
    page = map_html(_build(layers, tiles=False, attribution="© OpenStreetMap contributors (ODbL) & 高德"))
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
