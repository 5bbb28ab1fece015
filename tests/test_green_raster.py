"""Tests for ditan.spatial.io.raster on synthetic GeoTIFFs with hand-worked answers."""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import shapely
from pyproj import Transformer
from rasterio.transform import from_origin
from shapely.geometry import Polygon, box

from ditan.spatial.errors import CRSError, LayerError
from ditan.spatial.io.raster import raster_cover_shares

GK = "EPSG:4548"  # CGCS2000 3-degree Gauss-Kruger CM 117E, metres
X0, Y0 = 440000.0, 4428000.0  # raster origin (top-left corner)
CLASSES = {"green": [10, 20, 30, 90, 95], "impervious": [50]}


def _write(path, arr, *, crs=GK, transform=None, nodata=None):
    transform = transform if transform is not None else from_origin(X0, Y0, 10.0, 10.0)
    profile = {
        "driver": "GTiff",
        "height": arr.shape[0],
        "width": arr.shape[1],
        "count": 1,
        "dtype": arr.dtype,
        "crs": crs,
        "transform": transform,
        "nodata": nodata,
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(arr, 1)
    return path


def _classes_arr() -> np.ndarray:
    """20 x 20 pixels of 10 m, trees on the left half and built-up on the right.

    Columns 0-9 (x 440000-440100) class 10 trees, columns 10-19 (x 440100-440200) class 50 built-up. Extent x 440000-440200, y 4427800-4428000.
    """
    arr = np.full((20, 20), 50, dtype="uint8")
    arr[:, :10] = 10
    return arr


def _units(geoms: dict, crs=GK) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(geometry=list(geoms.values()), index=list(geoms), crs=crs)


@pytest.fixture
def classes_tif(tmp_path):
    return _write(tmp_path / "lc.tif", _classes_arr())


def test_aligned_and_half_pixel_offset(classes_tif):
    units = _units(
        {
            # x 440040-440120 = columns 4..11: 6 columns class 10, 2 columns class 50; 10 rows.
            # green = 60/80 = 75 %, impervious = 20/80 = 25 %, area 80 m * 100 m = 0.008 km2.
            "aligned": box(440040, 4427850, 440120, 4427950),
            # shifted 5 m in x and y: x 440045-440125 cuts column 4 (class 10) and column 12
            # (class 50) in half. Along x: class 10 covers 5 (half col 4) + 50 (cols 5-9) = 55 m,
            # class 50 covers 20 (cols 10-11) + 5 (half col 12) = 25 m of 80 m; the pattern is
            # constant along y so green = 55/80 = 68.75 %, impervious = 25/80 = 31.25 %.
            "offset": box(440045, 4427855, 440125, 4427955),
        }
    )
    res = raster_cover_shares(units, classes_tif, classes=CLASSES)
    assert list(res.index) == ["aligned", "offset"]
    assert list(res.columns) == [
        "green_pct",
        "impervious_pct",
        "raster_nodata_pct",
        "raster_assessed_km2",
    ]
    assert res.loc["aligned", "green_pct"] == pytest.approx(75.0)
    assert res.loc["aligned", "impervious_pct"] == pytest.approx(25.0)
    assert res.loc["aligned", "raster_nodata_pct"] == pytest.approx(0.0, abs=1e-9)
    assert res.loc["aligned", "raster_assessed_km2"] == pytest.approx(0.008)
    assert res.loc["offset", "green_pct"] == pytest.approx(68.75)
    assert res.loc["offset", "impervious_pct"] == pytest.approx(31.25)
    assert res.loc["offset", "raster_nodata_pct"] == pytest.approx(0.0, abs=1e-9)


def test_diagonal_edge_exact_weights(classes_tif):
    # Right triangle (440090,4427900)-(440110,4427900)-(440090,4427920), legs 20 m, area 200 m2.
    # Relative x in [0,10] is column 9 (class 10): area = int_0^10 (20 - x) dx = 150 m2;
    # x in [10,20] is column 10 (class 50): area = int_10^20 (20 - x) dx = 50 m2.
    # green = 150/200 = 75 %, impervious = 25 %.
    tri = Polygon([(440090, 4427900), (440110, 4427900), (440090, 4427920)])
    res = raster_cover_shares(_units({"tri": tri}), classes_tif, classes=CLASSES)
    assert res.loc["tri", "green_pct"] == pytest.approx(75.0)
    assert res.loc["tri", "impervious_pct"] == pytest.approx(25.0)


def test_nodata_excluded_from_denominator(tmp_path):
    arr = _classes_arr()
    arr[5:7, 4:6] = 255  # rows 5-6 (y 4427930-4427950), columns 4-5: 4 pixels inside "a"
    own = _write(tmp_path / "own.tif", arr, nodata=255)
    bare = _write(tmp_path / "bare.tif", arr)  # no nodata declared -> use the override
    units = _units(
        {
            "a": box(440040, 4427850, 440120, 4427950),  # 80 pixels: 60 class 10, 20 class 50
            "all_nd": box(440040, 4427930, 440060, 4427950),  # exactly the 4 nodata pixels
        }
    )
    # "a": 4 of the 60 class-10 pixels are nodata -> assessed 76 pixels;
    # green = 56/76 = 73.6842 %, impervious = 20/76 = 26.3158 %, nodata = 4/80 = 5 %,
    # assessed area = 76 * 100 m2 = 0.0076 km2.
    for path, override in ((own, None), (bare, 255)):
        res = raster_cover_shares(units, path, classes=CLASSES, nodata=override)
        assert res.loc["a", "green_pct"] == pytest.approx(100 * 56 / 76)
        assert res.loc["a", "impervious_pct"] == pytest.approx(100 * 20 / 76)
        assert res.loc["a", "raster_nodata_pct"] == pytest.approx(5.0)
        assert res.loc["a", "raster_assessed_km2"] == pytest.approx(0.0076)
        # only nodata -> not assessable: NaN, never 0
        assert math.isnan(res.loc["all_nd", "green_pct"])
        assert res.loc["all_nd", "raster_nodata_pct"] == pytest.approx(100.0)
        assert res.loc["all_nd", "raster_assessed_km2"] == pytest.approx(0.0)


def test_units_partly_and_wholly_outside(classes_tif):
    units = _units(
        {
            # x 440150-440250: only x 440150-440200 (columns 15-19, class 50) is on the raster,
            # i.e. half the unit. impervious = 100 %, green = 0 %, nodata/outside = 50 %,
            # assessed = 50 m * 100 m = 0.005 km2.
            "half_out": box(440150, 4427850, 440250, 4427950),
            "far": box(441000, 4427850, 441100, 4427950),  # no overlap at all
            # straddles the top-left corner by half a pixel on each side: x 439995-440005,
            # y 4427995-4428005 (100 m2); on-raster part x 440000-440005, y 4427995-4428000 = 25 m2
            # of class 10 -> green 100 %, nodata/outside = 75 %.
            "corner": box(439995, 4427995, 440005, 4428005),
        }
    )
    res = raster_cover_shares(units, classes_tif, classes=CLASSES)
    assert res.loc["half_out", "impervious_pct"] == pytest.approx(100.0)
    assert res.loc["half_out", "green_pct"] == pytest.approx(0.0, abs=1e-9)
    assert res.loc["half_out", "raster_nodata_pct"] == pytest.approx(50.0)
    assert res.loc["half_out", "raster_assessed_km2"] == pytest.approx(0.005)
    assert math.isnan(res.loc["far", "green_pct"])
    assert math.isnan(res.loc["far", "impervious_pct"])
    assert res.loc["far", "raster_nodata_pct"] == 100.0
    assert res.loc["corner", "green_pct"] == pytest.approx(100.0)
    assert res.loc["corner", "raster_nodata_pct"] == pytest.approx(75.0)


def test_geographic_raster_matches_supersampled_estimate(tmp_path):
    # 200 x 200 pixels of 0.0001 deg around (117.01 E, 40.01 N); vegetation (class 10) in a
    # pattern of 7 x 11 pixel blocks plus a diagonal band, the rest class 50.
    west, north, res_deg, n = 117.0, 40.02, 0.0001, 200
    r, c = np.mgrid[0:n, 0:n]
    veg = ((r // 7 + c // 11) % 2 == 0) | (np.abs(r - c) < 15)
    arr = np.where(veg, 10, 50).astype("uint8")
    path = _write(
        tmp_path / "geo.tif",
        arr,
        crs="EPSG:4326",
        transform=from_origin(west, north, res_deg, res_deg),
    )

    to_gk = Transformer.from_crs("EPSG:4326", GK, always_xy=True)
    cx, cy = to_gk.transform(117.01, 40.01)
    hexagon = Polygon(
        [
            (cx + 600 * math.cos(a), cy + 600 * math.sin(a))
            for a in np.radians(np.arange(10, 370, 60))
        ]
    )
    res = raster_cover_shares(_units({"hex": hexagon}), path, classes=CLASSES)

    # Independent estimate: a 2 m point grid inside the hexagon (metric CRS), transformed
    # to lon/lat, raster value found by index math; share of points on vegetation.
    minx, miny, maxx, maxy = hexagon.bounds
    gx, gy = np.meshgrid(np.arange(minx + 1, maxx, 2.0), np.arange(miny + 1, maxy, 2.0))
    gx, gy = gx.ravel(), gy.ravel()
    keep = shapely.contains_xy(hexagon, gx, gy)
    lon, lat = Transformer.from_crs(GK, "EPSG:4326", always_xy=True).transform(gx[keep], gy[keep])
    col = np.floor((lon - west) / res_deg).astype(int)
    row = np.floor((north - lat) / res_deg).astype(int)
    expected = 100 * veg[row, col].mean()
    assert res.loc["hex", "green_pct"] == pytest.approx(expected, abs=1.0)
    assert res.loc["hex", "green_pct"] + res.loc["hex", "impervious_pct"] == pytest.approx(100.0)
    assert res.loc["hex", "raster_nodata_pct"] == pytest.approx(0.0, abs=1e-6)
    # assessed area is the metric area of the hexagon: (3*sqrt(3)/2) * 600^2 m2
    assert res.loc["hex", "raster_assessed_km2"] == pytest.approx(
        1.5 * math.sqrt(3) * 0.36, rel=1e-6
    )


def test_continuous_threshold_with_nan_nodata(tmp_path):
    # NDVI-like float32: column j has value (2j + 1)/40 -> column 5 = 0.275, column 6 = 0.325.
    arr = np.tile(((2 * np.arange(20) + 1) / 40).astype("float32"), (20, 1))
    arr[5:10, 11] = np.nan  # column 11, rows 5-9: 5 NaN pixels inside the unit
    path = _write(tmp_path / "ndvi.tif", arr, nodata=float("nan"))
    # unit: columns 4-11 x rows 5-14 = 80 pixels. value >= 0.3 for columns 6-11 = 60 pixels,
    # minus 5 NaN = 55; assessed 75 -> green = 55/75 = 73.333 %; nodata = 5/80 = 6.25 %.
    # value >= 0.6 needs column >= 12 (0.625): none in the unit -> 0 %.
    units = _units({"u": box(440040, 4427850, 440120, 4427950)})
    res = raster_cover_shares(units, path, thresholds={"green": 0.3, "dense": 0.6})
    assert list(res.columns) == [
        "green_pct",
        "dense_pct",
        "raster_nodata_pct",
        "raster_assessed_km2",
    ]
    assert res.loc["u", "green_pct"] == pytest.approx(100 * 55 / 75)
    assert res.loc["u", "dense_pct"] == pytest.approx(0.0, abs=1e-9)
    assert res.loc["u", "raster_nodata_pct"] == pytest.approx(6.25)
    assert res.loc["u", "raster_assessed_km2"] == pytest.approx(0.0075)


def test_errors(tmp_path, classes_tif):
    square = box(440040, 4427850, 440120, 4427950)
    geo_units = _units({"u": square}).to_crs("EPSG:4326")
    with pytest.raises(CRSError, match="geographic"):
        raster_cover_shares(geo_units, classes_tif, classes=CLASSES)
    units = _units({"u": square})
    with pytest.raises(LayerError, match="no classes or thresholds"):
        raster_cover_shares(units, classes_tif)
    with pytest.raises(LayerError, match="cannot be opened"):
        raster_cover_shares(units, tmp_path / "missing.tif", classes=CLASSES)
    no_crs = _write(tmp_path / "nocrs.tif", _classes_arr(), crs=None)
    with pytest.raises(LayerError, match="no CRS"):
        raster_cover_shares(units, no_crs, classes=CLASSES)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pixel_fractions_equal_pixel_by_pixel_overlay(seed):
    """Every pixel's fraction equals area(pixel ∩ polygon) from shapely, pixel by pixel.

    Holes, several parts, either ring orientation, and polygons running past the window on every side.
    """
    from affine import Affine

    from ditan.spatial.io.raster import _pixel_weights

    rng = np.random.default_rng(seed)
    t = Affine(7.0, 0.0, 1000.0, 0.0, -5.0, 2000.0)  # non-square pixels
    h, w = 24, 30
    shapes = [
        shapely.Polygon(
            list(shapely.box(990, 1890, 1150, 1990).exterior.coords)[::-1]
        ),  # clockwise, past the window
        shapely.box(1010.3, 1900.7, 1190.2, 1995.1).difference(
            shapely.Point(1100, 1950).buffer(30)
        ),  # a hole
        shapely.MultiPolygon(
            [shapely.box(1000, 1880, 1021, 1900), shapely.box(1100.5, 1950.5, 1300, 2100)]
        ),
    ]
    for _ in range(5):
        pts = rng.uniform([950, 1850], [1260, 2050], (9, 2))
        shapes.append(shapely.convex_hull(shapely.multipoints(pts)).buffer(rng.uniform(0, 10)))
    rows, cols = np.mgrid[0:h, 0:w]
    boxes = shapely.box(
        1000 + 7.0 * cols, 2000 - 5.0 * (rows + 1), 1000 + 7.0 * (cols + 1), 2000 - 5.0 * rows
    )
    for g in shapes:
        want = shapely.area(shapely.intersection(boxes, g)) / 35.0
        got = _pixel_weights(g, t, (h, w))
        assert got.shape == (h, w)
        assert np.abs(got - want).max() < 1e-9, g.wkt[:60]
