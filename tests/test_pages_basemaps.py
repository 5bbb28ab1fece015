"""The screening and parcel pages draw the basemap map.tiles names, as the run's map does (GCJ-02: shifted)."""

from __future__ import annotations

import json
import re

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from conftest import CRS, box

from ditan.maps.pages import parcel_page, screening_map

#: the independent GCJ-02 forward transform (public domain, independent of ditan.spatial.crs.china)
prcoords = pytest.importorskip("prcoords")  # the test extra (pyproject.toml)


def _gcj02(lon: float, lat: float) -> tuple[float, float]:
    g = prcoords.wgs_gcj((lat, lon))
    return g.lon, g.lat


def _units():
    u = gpd.GeoDataFrame(
        {"unit_id": ["A", "B"], "name": ["甲", "乙"]},
        geometry=[box(0, 0, 500, 500), box(500, 0, 1000, 500)],
        crs=CRS,
    ).set_index("unit_id")
    return u


def _screening(tiles, key=None):
    t = pd.DataFrame(
        {
            "unit_id": ["A", "B"],
            "name": ["甲", "乙"],
            "rank": [1, 2],
            "score": [80.0, 40.0],
            "rules_assessed": ["2/2", "2/2"],
            "binding_met": [1, 0],
            "binding_assessable": [1, 1],
            "level": ["", ""],
            "level_zh": ["", ""],
            "shortlisted": ["yes", ""],
            "not_ranked": ["", ""],
            "reasons_met": ["", ""],
            "reasons_missed": ["", ""],
        }  # fmt: skip
    )
    return screening_map(
        _units(),
        t,
        method="rules",
        profile_zh="测试",
        attribution="data",
        tiles=tiles,
        tianditu_key=key,
    )


def test_screening_page_on_tianditu_and_gaode():
    page = _screening("tianditu", "KEY123")
    assert "tianditu.gov.cn" in page and "tk=KEY123" in page
    osm = _screening("osm")
    wgs = _units().to_crs(4326)
    lon, lat = np.asarray(wgs.geometry.iat[0].exterior.coords)[0]
    gd = _screening("gaode")
    assert "autonavi.com" in gd and "GCJ-02" in gd
    # the first unit's first vertex: as is on OSM, shifted by the formula on Gaode (to the page's 1e-6 degrees)
    glon, glat = _gcj02(lon, lat)
    nums = [tuple(map(float, m)) for m in re.findall(r"\[(1\d\d\.\d+), (\d\d\.\d+)\]", gd)]
    assert any(abs(a - glon) < 2e-6 and abs(b - glat) < 2e-6 for a, b in nums)
    nums_osm = [tuple(map(float, m)) for m in re.findall(r"\[(1\d\d\.\d+), (\d\d\.\d+)\]", osm)]
    assert any(abs(a - lon) < 2e-6 and abs(b - lat) < 2e-6 for a, b in nums_osm)
    assert not any(abs(a - lon) < 2e-6 and abs(b - lat) < 2e-6 for a, b in nums)


def test_screening_view_follows_the_shifted_drawing():
    """On Gaode the page's view is the units' bounds shifted to GCJ-02 (else it is off by the offset)."""
    w, so, e, n = _units().to_crs(4326).total_bounds
    for tiles, (a, b, c, d) in (
        ("osm", (w, so, e, n)),
        ("gaode", (*_gcj02(w, so), *_gcj02(e, n))),
    ):
        page = _screening(tiles)
        [fit] = re.findall(r"\.fitBounds\(\s*(\[\[[^\]]*\], \[[^\]]*\]\])", page)
        (s0, w0), (n0, e0) = json.loads(fit)
        assert np.allclose([w0, s0, e0, n0], [a, b, c, d], atol=1e-9), tiles


def test_parcel_page_shifted_on_gaode(monkeypatch):
    monkeypatch.delenv("TIANDITU_KEY", raising=False)
    parcel = box(100, 100, 200, 200)
    kw = dict(
        crs=CRS,
        units=_units(),
        radius_m=500.0,
        marks=[],
        ok=True,
        title="t",
        headline="h",
        reasons=["r"],
        parcel_label="p",
    )
    page = parcel_page(parcel, tiles="gaode", **kw)
    wgs = gpd.GeoSeries([parcel], crs=CRS).to_crs(4326).iat[0]
    lon, lat = np.asarray(wgs.exterior.coords)[0]
    glon, glat = _gcj02(lon, lat)
    coords = [
        c for f in re.findall(r'"coordinates": (\[\[\[.*?\]\]\])', page) for c in json.loads(f)[0]
    ]
    assert any(abs(a - glon) < 1e-9 and abs(b - glat) < 1e-9 for a, b in coords)
    assert "autonavi.com" in page
    none = parcel_page(parcel, tiles="none", **kw)
    assert "tile.openstreetmap.org" not in none and "autonavi" not in none
    with pytest.raises(ValueError, match="map.tianditu_key"):
        parcel_page(parcel, tiles="tianditu", **kw)
