"""Land-cover products by name (issue 15 item 6): inputs.landcover.product selects the classes.

The classes come from spatial/standards/landcover_products.yaml; explicit class lists override;
unknown names are refused.

Expected values are hand counts of the pixels written here, with the CLCD legend (Yang & Huang 2021)
and the green-coverage rule of the table (forest, shrub, grassland, wetland; cropland out) typed in
the test, not read from the table.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from ditan.pipelines.config.schema import parse_config
from ditan.pipelines.config.sources import RasterSource
from ditan.spatial.errors import ConfigError, LayerError
from ditan.spatial.indicators import green
from ditan.spatial.standards import landcover_products as lp
from tests.conftest import class_raster

CLCD_VEGETATION = {2, 3, 4, 9}  # forest, shrub, grassland, wetland (cropland 1 excluded)
CLCD_IMPERVIOUS = {8}


@pytest.fixture
def clcd_codes() -> np.ndarray:
    """10 rows × 20 columns of 100 m over units A (columns 0–9) and B (10–19): CLCD codes 1–9, some nodata (0)."""
    rng = np.random.default_rng(15)
    codes = rng.integers(1, 10, size=(10, 20))
    codes[rng.random((10, 20)) < 0.1] = 0
    return codes


def _source(tmp_path, **keys) -> RasterSource:
    return RasterSource.model_validate(
        {"path": str(tmp_path / "clcd.tif"), **keys}, context={"base_dir": tmp_path}
    )


def _hand(codes: np.ndarray, veg: set[int], imp: set[int]) -> tuple[list[float], list[float]]:
    green_pct, permeable_pct = [], []
    for cols in (slice(0, 10), slice(10, 20)):
        block = codes[:, cols].ravel()
        valid = block[block != 0]
        green_pct.append(100.0 * sum(int(c) in veg for c in valid) / len(valid))
        permeable_pct.append(100.0 - 100.0 * sum(int(c) in imp for c in valid) / len(valid))
    return green_pct, permeable_pct


def _measure(two_units, tmp_path, src: RasterSource):
    return green.green_coverage_from_raster(
        two_units,
        tmp_path / "clcd.tif",
        vegetation_classes=src.vegetation_classes,
        impervious_classes=src.impervious_classes,
        nodata=src.nodata,
    )


def test_clcd_product_gives_hand_counted_shares(tmp_path, two_units, clcd_codes):
    class_raster(tmp_path / "clcd.tif", clcd_codes)
    src = _source(tmp_path, product="clcd")
    assert set(src.vegetation_classes) == CLCD_VEGETATION
    assert set(src.impervious_classes) == CLCD_IMPERVIOUS
    got = _measure(two_units, tmp_path, src)
    want_green, want_perm = _hand(clcd_codes, CLCD_VEGETATION, CLCD_IMPERVIOUS)
    assert got["green_coverage_pct"].tolist() == pytest.approx(want_green)
    assert got["permeable_surface_pct"].tolist() == pytest.approx(want_perm)
    assert "clcd" in src.classes_note and "Yang" in src.classes_note


def test_explicit_lists_override_the_product(tmp_path, two_units, clcd_codes):
    class_raster(tmp_path / "clcd.tif", clcd_codes)
    src = _source(tmp_path, product="clcd", vegetation_classes=[1, 2])  # cropland and forest only
    assert src.vegetation_classes == [1, 2]
    assert set(src.impervious_classes) == CLCD_IMPERVIOUS  # the one not given stays the product's
    got = _measure(two_units, tmp_path, src)
    want_green, want_perm = _hand(clcd_codes, {1, 2}, {8})
    assert got["green_coverage_pct"].tolist() == pytest.approx(want_green)
    assert got["permeable_surface_pct"].tolist() == pytest.approx(want_perm)
    assert "vegetation_classes given in the config override" in src.classes_note


def test_default_stays_worldcover(tmp_path, clcd_codes):
    class_raster(tmp_path / "clcd.tif", clcd_codes)
    src = _source(tmp_path)
    assert src.vegetation_classes == [10, 20, 30, 90, 95]
    assert src.impervious_classes == [50]
    assert "worldcover" in src.classes_note


def test_unknown_product_refused_at_check_config(tmp_path, clcd_codes):
    class_raster(tmp_path / "clcd.tif", clcd_codes)
    data = {"name": "x", "inputs": {"landcover": {"path": "clcd.tif", "product": "clcdd"}}}
    with pytest.raises(
        ConfigError,
        match=r"inputs\.landcover\.product.*unknown land-cover product 'clcdd'.*did you mean 'clcd'",
    ):
        parse_config(data, base_dir=tmp_path, source="inline")
    data["inputs"]["landcover"]["product"] = "GlobeLand30"  # case-insensitive
    assert parse_config(data, base_dir=tmp_path).inputs.landcover.product == "globeland30"


def test_wrong_product_error_names_the_fitting_product(tmp_path, two_units, clcd_codes):
    """CLCD codes read with WorldCover's classes: the error suggests product: clcd."""
    class_raster(tmp_path / "clcd.tif", clcd_codes)
    with pytest.raises(
        LayerError, match=r"codes 1, 2, 3, 4, 5, 6, 7, 8, 9: looks like clcd .*product: clcd"
    ):
        _measure(two_units, tmp_path, _source(tmp_path))
    # Dynamic World labels 1–8 without 9 fit CLCD and Dynamic World (both hold every code), not Esri (no 3, 6)
    fits = [p.key for p in lp.fitting([1, 2, 3, 5, 6, 8])]
    assert set(fits) == {"clcd", "dynamic_world"}
    assert lp.fitting([10, 20, 30]) and lp.fitting([10, 20, 30])[0].key in {
        "worldcover",
        "globeland30",
    }
    assert lp.fitting([3.5, 7, 200]) == []


def test_table_codes_unique_and_classes_in_legend():
    # codes unique: read the mapping nodes themselves (yaml.safe_load keeps the last of duplicate keys silently)
    path = Path(lp.__file__).with_name("landcover_products.yaml")
    root = yaml.compose(path.read_text("utf-8"))
    top = {k.value: v for k, v in root.value}
    entries = {
        k.value: dict((kk.value, vv) for kk, vv in v.value) for k, v in top["products"].value
    }
    assert set(entries) == {"worldcover", "clcd", "esri_lulc", "dynamic_world", "globeland30"}
    for key, p in lp.products().items():
        codes = [int(k.value) for k, _ in entries[key]["classes"].value]
        assert len(codes) == len(set(codes)), key
        assert len(set(p.vegetation)) == len(p.vegetation) and len(set(p.impervious)) == len(
            p.impervious
        ), key
        assert set(p.vegetation) <= set(p.classes), key
        assert set(p.impervious) <= set(p.classes), key
        assert not set(p.vegetation) & set(p.impervious), key
        assert p.source and p.name_zh and p.name_en and p.resolution_m > 0, key
        assert p.unconfirmed  # written from memory: no published legend could be checked here
    # the brief's legends: CLCD 1–9, Esri 1 2 4 5 7 8 9 10 11, Dynamic World 0–8, GlobeLand30 10–100
    assert set(lp.product("clcd").classes) == set(range(1, 10))
    assert set(lp.product("esri_lulc").classes) == {1, 2, 4, 5, 7, 8, 9, 10, 11}
    assert set(lp.product("dynamic_world").classes) == set(range(9))
    assert set(lp.product("globeland30").classes) == set(range(10, 101, 10))
    assert set(lp.product("worldcover").classes) == {10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 100}
    # cropland is never vegetation (the table's rule)
    for key, crop in [
        ("worldcover", 40),
        ("clcd", 1),
        ("esri_lulc", 5),
        ("dynamic_world", 4),
        ("globeland30", 10),
    ]:
        assert crop not in lp.product(key).vegetation
