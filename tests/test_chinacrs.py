"""GCJ-02 / BD-09 conversions, layer CRS literals in the config, and the coordinate/CRS sanity check."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from pydantic import ValidationError
from pyproj import CRS, Geod

from ditan.pipelines.config.layer_source import LayerSource
from ditan.spatial.crs.china import (
    bd09_to_gcj02,
    bd09_to_wgs84,
    check_coordinates,
    china_system,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    out_of_china,
    to_wgs84,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)
from ditan.spatial.errors import CRSError, LayerError
from ditan.spatial.io.vector import read_vector

GEOD = Geod(ellps="WGS84")
BEIJING = (116.397, 39.909)  # Tiananmen, WGS 84


def _metres(lon1, lat1, lon2, lat2) -> np.ndarray:
    return np.abs(GEOD.inv(lon1, lat1, lon2, lat2)[2])


@pytest.fixture(scope="module")
def china_grid() -> tuple[np.ndarray, np.ndarray]:
    lon, lat = np.meshgrid(np.arange(73.0, 135.0 + 1e-9, 0.5), np.arange(18.0, 53.0 + 1e-9, 0.5))
    return lon.ravel(), lat.ravel()


# --- conversions ------------------------------------------------------------------------------------------------------


def test_grid_has_thousands_of_points(china_grid):
    assert china_grid[0].size > 8_000


@pytest.mark.parametrize(
    ("forward", "inverse"),
    [
        (wgs84_to_gcj02, gcj02_to_wgs84),
        (wgs84_to_bd09, bd09_to_wgs84),
        (gcj02_to_bd09, bd09_to_gcj02),
    ],
    ids=["gcj02", "bd09", "gcj02-bd09"],
)
def test_round_trip_over_china_under_half_a_metre(china_grid, forward, inverse):
    lon, lat = china_grid
    back_lon, back_lat = inverse(*forward(lon, lat))
    err = _metres(lon, lat, back_lon, back_lat)
    assert err.max() < 0.5, f"max round-trip error {err.max():.3e} m"
    assert err.max() < 1e-3  # in fact the iteration converges to ~1e-9°, far below a millimetre


def test_round_trip_at_the_edge_of_the_gcj02_box():
    lat = np.linspace(1.0, 55.5, 200)
    lon = np.linspace(72.2, 137.6, 200)
    edges = [
        (np.full_like(lat, x + d), lat)
        for x in (72.004, 137.8347)
        for d in (-0.01, -0.002, 0.002, 0.01)
    ]
    edges += [
        (lon, np.full_like(lon, y + d))
        for y in (0.8293, 55.8271)
        for d in (-0.01, -0.002, 0.002, 0.01)
    ]
    e_lon, e_lat = np.concatenate([e[0] for e in edges]), np.concatenate([e[1] for e in edges])
    g_lon, g_lat = wgs84_to_gcj02(e_lon, e_lat)
    # where the shift carries a point across the box's edge GCJ-02 is not one-to-one: those are left out
    same_side = out_of_china(e_lon, e_lat) == out_of_china(g_lon, g_lat)
    assert same_side.sum() > 0.8 * same_side.size
    b_lon, b_lat = gcj02_to_wgs84(g_lon, g_lat)
    assert _metres(e_lon, e_lat, b_lon, b_lat)[same_side].max() < 0.5


def test_inverse_then_forward_is_tight_too(china_grid):
    lon, lat = china_grid
    for forward, inverse in ((wgs84_to_gcj02, gcj02_to_wgs84), (wgs84_to_bd09, bd09_to_wgs84)):
        f_lon, f_lat = forward(*inverse(lon, lat))
        assert _metres(lon, lat, f_lon, f_lat).max() < 0.01


def test_gcj02_offset_near_beijing_is_a_few_hundred_metres():
    g_lon, g_lat = wgs84_to_gcj02(*BEIJING)
    d = float(_metres(BEIJING[0], BEIJING[1], g_lon, g_lat))
    assert 100 < d < 700, d
    assert (
        g_lon > BEIJING[0]
    )  # the published shift near Beijing is east (≈ +0.006°) and slightly north
    assert g_lat > BEIJING[1]


def test_bd09_is_gcj02_shifted_by_about_0065_0006(china_grid):
    lon, lat = china_grid
    g_lon, g_lat = wgs84_to_gcj02(lon, lat)
    b_lon, b_lat = gcj02_to_bd09(g_lon, g_lat)
    assert np.abs(b_lon - g_lon - 0.0065).max() < 0.001
    assert np.abs(b_lat - g_lat - 0.006).max() < 0.001


@pytest.mark.parametrize(
    "where", [(2.35, 48.85), (-74.0, 40.7), (151.2, -33.9), (139.7, 35.7), (10.0, -5.0)]
)
def test_outside_china_gcj02_is_wgs84(where):
    assert np.allclose(wgs84_to_gcj02(*where), where, atol=0, rtol=0)
    assert np.allclose(gcj02_to_wgs84(*where), where, atol=0, rtol=0)


def test_vectorised_shapes_and_nan():
    lon = np.array([[116.4, 121.47], [np.nan, 2.35]])
    lat = np.array([[39.9, 31.23], [30.0, 48.85]])
    w_lon, w_lat = gcj02_to_wgs84(lon, lat)
    assert w_lon.shape == lat.shape and w_lat.shape == lat.shape
    assert np.isnan(w_lon[1, 0]) and (w_lon[1, 1], w_lat[1, 1]) == (2.35, 48.85)


@pytest.mark.parametrize(
    ("text", "system"),
    [
        ("gcj02", "gcj02"),
        ("GCJ-02", "gcj02"),
        (" Gcj02 ", "gcj02"),
        ("BD09", "bd09"),
        ("bd-09", "bd09"),
        ("EPSG:4326", None),
        (None, None),
    ],
)
def test_china_system_spellings(text, system):
    assert china_system(text) == system


def _shift(xyz: np.ndarray) -> np.ndarray:
    out = xyz.copy()
    out[:, 0], out[:, 1] = wgs84_to_gcj02(xyz[:, 0], xyz[:, 1])
    return out


def test_to_wgs84_keeps_geometry_types_and_sets_4326():
    wgs = [
        shapely.Point(116.397, 39.909),
        shapely.LineString([(121.47, 31.23), (121.50, 31.24)]),
        shapely.Polygon([(113.26, 23.12), (113.27, 23.12), (113.27, 23.13), (113.26, 23.12)]),
        shapely.MultiPoint([(114.06, 22.54), (114.07, 22.55)]),
        shapely.Point(116.4, 39.9, 45.0),
    ]
    gcj = shapely.transform(np.array(wgs), _shift, include_z=True)
    gdf = gpd.GeoDataFrame({"name": list("abcde")}, geometry=gcj, crs=4326)
    out = to_wgs84(gdf, "gcj02")
    assert out.crs.to_epsg() == 4326 and out.attrs["source_crs"] == "gcj02"
    assert list(out.geom_type) == list(gdf.geom_type) and list(out["name"]) == list("abcde")
    assert out.geometry.iloc[4].has_z and out.geometry.iloc[4].z == 45.0
    for got, want in zip(out.geometry, wgs, strict=True):
        a, b = shapely.get_coordinates(got), shapely.get_coordinates(want)
        assert _metres(a[:, 0], a[:, 1], b[:, 0], b[:, 1]).max() < 0.01
    assert gdf.geometry.iloc[0].equals(gcj[0])  # input untouched


def test_to_wgs84_bd09_and_unknown_system():
    b_lon, b_lat = wgs84_to_bd09(*BEIJING)
    out = to_wgs84(gpd.GeoDataFrame(geometry=[shapely.Point(float(b_lon), float(b_lat))]), "BD09")
    assert float(_metres(out.geometry.x.iloc[0], out.geometry.y.iloc[0], *BEIJING)) < 0.01
    with pytest.raises(CRSError, match="gcj02 or bd09"):
        to_wgs84(out, "wgs84")


# --- EPSG codes named in the messages -------------------------------------------------------------------------------


def test_cgcs2000_gauss_kruger_epsg_codes():
    for zone in range(25, 46):
        assert (
            CRS.from_epsg(4513 + zone - 25).name == f"CGCS2000 / 3-degree Gauss-Kruger zone {zone}"
        )
    for i, cm in enumerate(range(75, 136, 3)):
        assert CRS.from_epsg(4534 + i).name == f"CGCS2000 / 3-degree Gauss-Kruger CM {cm}E"
    assert CRS.from_epsg(4548).name == "CGCS2000 / 3-degree Gauss-Kruger CM 117E"
    for zone in range(13, 24):
        assert CRS.from_epsg(4491 + zone - 13).name == f"CGCS2000 / Gauss-Kruger zone {zone}"
    assert CRS.from_epsg(3857).name == "WGS 84 / Pseudo-Mercator"


# --- the layer crs in the config --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("gcj02", "gcj02"),
        ("GCJ02", "gcj02"),
        ("BD09", "bd09"),
        ("bd-09", "bd09"),
        ("EPSG:4548", "EPSG:4548"),
        ("+proj=longlat +datum=WGS84", "+proj=longlat +datum=WGS84"),
    ],
)
def test_layer_crs_accepts_epsg_proj_and_china_literals(tmp_path, given, stored):
    f = tmp_path / "pois.gpkg"
    f.touch()
    assert LayerSource.model_validate({"path": str(f), "crs": given}).crs == stored


def test_layer_crs_rejects_nonsense_naming_the_forms(tmp_path):
    f = tmp_path / "pois.gpkg"
    f.touch()
    with pytest.raises(ValidationError) as exc:
        LayerSource.model_validate({"path": str(f), "crs": "gcj2000"})
    msg = str(exc.value)
    assert "gcj2000" in msg and "EPSG" in msg and "gcj02" in msg and "bd09" in msg and "WKT" in msg


# --- read_vector: GCJ-02 / BD-09 layers --------------------------------------------------------------------------------


def _wgs_points() -> tuple[np.ndarray, np.ndarray]:
    return np.array([116.397, 116.31, 121.4737, 113.2644, 104.0665]), np.array(
        [39.909, 39.99, 31.2304, 23.1291, 30.5728]
    )


@pytest.mark.parametrize(
    ("system", "forward"), [("gcj02", wgs84_to_gcj02), ("BD09", wgs84_to_bd09)]
)
def test_web_map_csv_is_converted_to_wgs84(tmp_path, system, forward):
    lon, lat = _wgs_points()
    m_lon, m_lat = forward(lon, lat)
    pd.DataFrame({"name": list("abcde"), "lng": m_lon, "lat": m_lat}).to_csv(
        tmp_path / "amap.csv", index=False
    )
    got = read_vector(
        tmp_path / "amap.csv", layer_name="pois", crs=system, x_column="lng", y_column="lat"
    )
    assert got.crs.to_epsg() == 4326
    assert got.attrs["source_crs"] == system.lower()
    assert _metres(got.geometry.x.to_numpy(), got.geometry.y.to_numpy(), lon, lat).max() < 0.5


def test_web_map_layer_with_a_projected_file_crs_is_a_contradiction(tmp_path):
    gpd.GeoDataFrame(geometry=[shapely.Point(116.4, 39.9)], crs=4326).to_crs(4548).to_file(
        tmp_path / "p.gpkg"
    )
    with pytest.raises(LayerError, match=r"gcj02.*CM 117E.*contradict"):
        read_vector(tmp_path / "p.gpkg", layer_name="pois", crs="gcj02")


def test_web_map_layer_with_a_geographic_file_crs_is_converted(tmp_path):
    g_lon, g_lat = wgs84_to_gcj02(*BEIJING)
    gpd.GeoDataFrame(geometry=[shapely.Point(float(g_lon), float(g_lat))], crs=4326).to_file(
        tmp_path / "p.gpkg"
    )
    got = read_vector(tmp_path / "p.gpkg", layer_name="pois", crs="gcj02")
    assert float(_metres(got.geometry.x.iloc[0], got.geometry.y.iloc[0], *BEIJING)) < 0.5


def test_web_map_csv_in_metres_is_refused(tmp_path):
    pd.DataFrame({"x": [440_000.0, 441_000.0], "y": [4_428_000.0, 4_429_000.0]}).to_csv(
        tmp_path / "p.csv", index=False
    )
    with pytest.raises(CRSError, match=r"declared crs: gcj02.*EPSG:4548"):
        read_vector(tmp_path / "p.csv", layer_name="pois", crs="gcj02", x_column="x", y_column="y")


# --- read_vector: coordinates that contradict the CRS --------------------------------------------------------------------


def _beijing(crs: int | str) -> gpd.GeoDataFrame:
    pts = [shapely.Point(116.30, 39.85), shapely.Point(116.45, 39.95)]
    return gpd.GeoDataFrame({"n": [1, 2]}, geometry=pts, crs=4326).to_crs(crs)


def _mislabelled(tmp_path, real: int, label: int | str, name: str = "layer.gpkg"):
    path = tmp_path / name
    _beijing(real).set_crs(label, allow_override=True).to_file(path)
    return path


def test_web_mercator_labelled_wgs84(tmp_path):
    path = _mislabelled(tmp_path, 3857, 4326)
    with pytest.raises(CRSError) as exc:
        read_vector(path, layer_name="pois")
    msg = str(exc.value)
    assert "layer 'pois'" in msg and "WGS 84" in msg and "EPSG:3857" in msg and "crs:" in msg
    assert "12,946," in msg  # the coordinate range is shown


def test_gauss_kruger_without_zone_labelled_wgs84(tmp_path):
    path = _mislabelled(tmp_path, 4548, 4326, "roads.shp")
    with pytest.raises(
        CRSError,
        match=r"3° Gauss–Krüger.*false easting 500000.*EPSG:4534–4554.*EPSG:4548 for CM 117°E",
    ):
        read_vector(path, layer_name="roads")


def test_gauss_kruger_with_zone_prefix_labelled_wgs84(tmp_path):
    path = _mislabelled(tmp_path, 4527, 4326)
    with pytest.raises(CRSError, match=r"zone prefix \(39\).*EPSG:4527"):
        read_vector(path, layer_name="buildings")


def test_declared_crs_overriding_the_file_is_named(tmp_path):
    path = _mislabelled(tmp_path, 4527, 4527)  # the file is right; the config is wrong
    with pytest.raises(CRSError, match=r"declared crs: EPSG:4326.*EPSG:4527"):
        read_vector(path, layer_name="buildings", crs="EPSG:4326")


def test_utm_labelled_wgs84(tmp_path):
    path = tmp_path / "sydney.gpkg"
    gpd.GeoDataFrame(geometry=[shapely.Point(151.2, -33.9)], crs=4326).to_crs(32756).set_crs(
        4326, allow_override=True
    ).to_file(path)
    with pytest.raises(CRSError, match=r"UTM zone.*EPSG:327xx"):
        read_vector(path, layer_name="units")


def test_swapped_columns(tmp_path):
    pd.DataFrame({"lon": [39.9, 39.95], "lat": [116.3, 116.4]}).to_csv(
        tmp_path / "p.csv", index=False
    )
    with pytest.raises(CRSError, match="swapped"):
        read_vector(
            tmp_path / "p.csv", layer_name="pois", crs="EPSG:4326", x_column="lon", y_column="lat"
        )


def test_degrees_labelled_projected(tmp_path):
    path = _mislabelled(tmp_path, 4326, 4548, "units.shp")
    with pytest.raises(CRSError) as exc:
        read_vector(path, layer_name="units")
    msg = str(exc.value)
    assert "look like degrees" in msg and "EPSG:4326" in msg and "CM 117E" in msg and ".prj" in msg


def test_zone_prefixed_values_labelled_with_a_cm_zone(tmp_path):
    path = _mislabelled(tmp_path, 4527, 4548)
    with pytest.raises(CRSError, match=r"outside the CRS's area of use.*EPSG:4527"):
        read_vector(path, layer_name="parcels")


def test_web_mercator_labelled_gauss_kruger(tmp_path):
    path = _mislabelled(tmp_path, 3857, 4548)
    with pytest.raises(CRSError, match=r"area of use.*EPSG:3857"):
        read_vector(path, layer_name="parcels")


@pytest.mark.parametrize(
    ("crs", "name"),
    [
        (4548, "ok.gpkg"),
        (4548, "ok.shp"),
        (4527, "ok.gpkg"),
        (4326, "ok.geojson"),
        (3857, "ok.gpkg"),
    ],
)
def test_correct_files_pass(tmp_path, crs, name):
    path = tmp_path / name
    _beijing(crs).to_file(path)
    got = read_vector(path, layer_name="x")
    assert CRS.from_user_input(got.crs).to_epsg() == crs and len(got) == 2
    assert got.attrs["source_crs"] == f"EPSG:{crs}"


def test_correct_wgs84_csv_passes_and_empty_layers_pass(tmp_path):
    pd.DataFrame({"lon": [116.3, np.nan], "lat": [39.9, np.nan]}).to_csv(
        tmp_path / "p.csv", index=False
    )
    got = read_vector(
        tmp_path / "p.csv", layer_name="pois", crs="EPSG:4326", x_column="lon", y_column="lat"
    )
    assert got.attrs["source_crs"] == "EPSG:4326"
    check_coordinates(gpd.GeoDataFrame(geometry=[], crs=4326), "empty", declared=None)
    check_coordinates(gpd.GeoDataFrame(geometry=[shapely.Point(5e6, 5e6)]), "no crs", declared=None)
