"""The fast paths of ditan.spatial.io.raster (issue 17): the count by code, the windows, the parallel split.

Each is compared with a separate implementation: the count by code with the pixel-by-pixel path (the
same raster stored as int16, which takes it) and with hand-worked shares; the vectorised windows with
rasterio's own ``from_bounds``; the forked chunks with one process.
"""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import shapely
from rasterio.transform import from_origin
from rasterio.windows import from_bounds
from shapely.geometry import box

from ditan.spatial.io import raster

GK = "EPSG:4548"
X0, Y0 = 440000.0, 4428000.0
CLASSES = {"green": [10, 20, 30], "impervious": [50], "both": [10, 50]}


def _tif(path, arr, nodata=None):
    profile = {
        "driver": "GTiff",
        "height": arr.shape[0],
        "width": arr.shape[1],
        "count": 1,
        "dtype": arr.dtype,
        "crs": GK,
        "transform": from_origin(X0, Y0, 10.0, 10.0),
        "nodata": nodata,
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(arr, 1)
    return path


def _arr() -> np.ndarray:
    """30 x 30 pixels: a checkerboard of codes 10 / 50 / 80, with a block of nodata (0) in the corner."""
    rng = np.random.default_rng(3)
    arr = rng.choice(np.array([10, 50, 80], dtype="uint8"), size=(30, 30))
    arr[:5, :5] = 0
    return arr


def _units() -> gpd.GeoDataFrame:
    """Boxes and a rotated square over the raster, some reaching beyond its edge, one empty."""
    geoms = [box(X0 + 7 * i, Y0 - 60 - 13 * i, X0 + 55 + 9 * i, Y0 - 3 * i) for i in range(12)]
    geoms.append(shapely.affinity.rotate(box(X0 + 100, Y0 - 200, X0 + 180, Y0 - 120), 30))
    geoms.append(box(X0 + 250, Y0 - 290, X0 + 350, Y0 - 250))  # half outside (x > 300)
    geoms.append(shapely.Polygon())
    return gpd.GeoDataFrame(geometry=geoms, crs=GK)


def test_count_by_code_equals_the_pixel_by_pixel_path(tmp_path):
    arr = _arr()
    u8 = _tif(tmp_path / "u8.tif", arr, nodata=0)
    i16 = _tif(
        tmp_path / "i16.tif", arr.astype("int16"), nodata=0
    )  # signed: measured pixel by pixel
    units = _units()
    fast = raster.raster_cover_shares(units, u8, classes=CLASSES)
    slow = raster.raster_cover_shares(units, i16, classes=CLASSES)
    np.testing.assert_allclose(fast.to_numpy(), slow.to_numpy(), rtol=1e-12, atol=1e-12)
    assert fast.attrs["codes_found"] == slow.attrs["codes_found"] == [10, 50, 80]
    assert fast.iloc[-1].isna().iloc[:3].all()  # the empty unit: no share


def test_count_by_code_by_hand(tmp_path):
    # columns 0-9 code 10, 10-19 code 50; row 0 nodata (0). The box x 50-150 m, y 0-40 m below the
    # top covers columns 5-14 and rows 0-3 whole: 40 pixels, 10 of them nodata (row 0); of the 30
    # valid ones 15 are code 10 (columns 5-9) and 15 code 50 (columns 10-14).
    arr = np.full((20, 20), 50, dtype="uint8")
    arr[:, :10] = 10
    arr[0, :] = 0
    path = _tif(tmp_path / "lc.tif", arr, nodata=0)
    units = gpd.GeoDataFrame(geometry=[box(X0 + 50, Y0 - 40, X0 + 150, Y0)], crs=GK)
    res = raster.raster_cover_shares(units, path, classes=CLASSES).iloc[0]
    assert res["green_pct"] == pytest.approx(50.0, rel=1e-12)
    assert res["impervious_pct"] == pytest.approx(50.0, rel=1e-12)
    assert res["both_pct"] == pytest.approx(100.0, rel=1e-12)
    assert res["raster_nodata_pct"] == pytest.approx(25.0, rel=1e-12)  # 1 row of 4
    assert res["raster_assessed_km2"] == pytest.approx(100 * 30 / 1e6, rel=1e-12)


def test_windows_as_rasterio_from_bounds(tmp_path):
    path = _tif(tmp_path / "u8.tif", _arr())
    geoms = _units().geometry.to_numpy()[:-1]
    geoms = np.append(geoms, box(X0 - 500, Y0 + 100, X0 - 400, Y0 + 200))  # off the raster
    with rasterio.open(path) as src:
        windows, ok = raster._windows(geoms, src)
        for g, w, k in zip(geoms, windows.tolist(), ok, strict=True):
            win = from_bounds(*g.bounds, transform=src.transform)
            c0 = max(math.floor(win.col_off + 1e-9), 0)
            r0 = max(math.floor(win.row_off + 1e-9), 0)
            c1 = min(math.ceil(win.col_off + win.width - 1e-9), src.width)
            r1 = min(math.ceil(win.row_off + win.height - 1e-9), src.height)
            assert bool(k) == (c1 > c0 and r1 > r0)
            if k:
                assert w == [c0, r0, c1 - c0, r1 - r0]


def test_parallel_chunks_equal_one_process(tmp_path, monkeypatch):
    path = _tif(tmp_path / "u8.tif", _arr(), nodata=0)
    units = _units()
    one = raster.raster_cover_shares(units, path, classes=CLASSES)
    monkeypatch.setattr(raster, "PARALLEL_MIN_UNITS", 2)
    monkeypatch.setattr(raster.os, "cpu_count", lambda: 2)
    assert raster._processes(len(units)) == 2
    two = raster.raster_cover_shares(units, path, classes=CLASSES)
    assert two.equals(one)
    assert two.attrs["codes_found"] == one.attrs["codes_found"]
