"""End-to-end run of the Kowloon sample (Overture buildings, streets and land use; ESA WorldCover).

Checked against computations that do not go through ditan's code paths:

* green coverage and permeable share against a brute-force count of the raster on a 10×
  super-sampled grid, with the unit polygons read straight from units.gpkg (WGS 84);
* unit areas in the metric CRS against geodesic areas from pyproj.Geod;
* floor area against a 1 m point grid: each point takes the highest floors of the footprints
  it falls in (the overlap rule) and stands for 1 m² of each floor;
* road lengths against shapely clips of the Overture streets.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import shapely
from pyproj import Geod

from ditan.pipelines.config.schema import load_config
from ditan.pipelines.jobs.run import run
from tests.conftest import brute_force_line_km

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "pipelines" / "configs" / "hongkong_kowloon.yaml"
DATA = ROOT / "data" / "hongkong_kowloon"


@pytest.fixture(scope="module")
def cfg():
    return load_config(CONFIG)


@pytest.fixture(scope="module")
def out(cfg, tmp_path_factory):
    return run(cfg, tmp_path_factory.mktemp("hk"))


@pytest.fixture(scope="module")
def ind(out):
    return out.result.indicators


@pytest.fixture(scope="module")
def units_wgs84():
    u = gpd.read_file(DATA / "units.gpkg")
    return u.set_index(u["unit_id"].astype(str))


def test_run_measures_in_cgcs2000_gk_cm114(out, ind):
    assert out.study.crs.to_epsg() == 4547
    assert len(ind) >= 30
    assert (ind["lu_code_system"] == "overture").all()
    assert set(ind["green_coverage_source"]) == {"raster"}


def test_unit_areas_match_geodesic_areas(ind, units_wgs84):
    geod = Geod(ellps="GRS80")
    geodesic_km2 = (
        np.array(
            [abs(geod.geometry_area_perimeter(g)[0]) for g in units_wgs84.loc[ind.index].geometry]
        )
        / 1e6
    )
    np.testing.assert_allclose(ind["area_km2"].to_numpy(), geodesic_km2, rtol=0.005)


def test_beijing_unit_areas_match_geodesic_areas():
    from ditan.spatial.crs.metric import choose_metric_crs

    u = gpd.read_file(ROOT / "data" / "beijing_haidian_tsinghua" / "units.gpkg")
    metric = u.to_crs(choose_metric_crs(116.32, 40.0)).geometry.area.to_numpy() / 1e6
    geod = Geod(ellps="GRS80")
    geodesic = np.array([abs(geod.geometry_area_perimeter(g)[0]) for g in u.geometry]) / 1e6
    np.testing.assert_allclose(metric, geodesic, rtol=0.005)


def _supersampled_shares(
    geom: shapely.Geometry, src, data: np.ndarray, k: int = 10
) -> tuple[float, float]:
    """Green and permeable % of a WGS 84 polygon by counting k×k sub-pixel centres, nodata excluded."""
    r0, c0 = src.index(geom.bounds[0], geom.bounds[3])
    r1, c1 = src.index(geom.bounds[2], geom.bounds[1])
    r0, c0, r1, c1 = max(r0 - 1, 0), max(c0 - 1, 0), min(r1 + 2, src.height), min(c1 + 2, src.width)
    t = src.transform
    sub = (np.arange(k) + 0.5) / k
    cols = (np.arange(c0, c1)[:, None] + sub[None, :]).ravel()
    rows = (np.arange(r0, r1)[:, None] + sub[None, :]).ravel()
    cc, rr = np.meshgrid(cols, rows)
    x = t.c + cc * t.a
    y = t.f + rr * t.e
    inside = shapely.contains_xy(geom, x, y)
    values = data[np.floor(rr).astype(int), np.floor(cc).astype(int)][inside]
    valid = values[values != src.nodata]
    green = np.isin(valid, [10, 20, 30, 90, 95]).mean() * 100.0
    permeable = (~np.isin(valid, [50])).mean() * 100.0
    return green, permeable


def test_raster_shares_match_a_supersampled_count(ind, units_wgs84):
    with rasterio.open(DATA / "worldcover_hongkong.tif") as src:
        data = src.read(1)
        got = []
        for uid in ind.index:
            got.append(_supersampled_shares(units_wgs84.loc[uid].geometry, src, data))
    brute = pd.DataFrame(got, index=ind.index, columns=["green", "permeable"])
    assert (ind["green_coverage_pct"] - brute["green"]).abs().max() <= 1.0
    assert (ind["permeable_surface_pct"] - brute["permeable"]).abs().max() <= 1.0
    assert (
        ind["green_coverage_pct"].max() > 20 and ind["permeable_surface_pct"].min() < 20
    )  # a real spread
    assert (
        ind["raster_nodata_pct"] < 2.0
    ).all()  # units at the raster's edge reach a hair beyond it


def test_floor_area_matches_a_point_grid_with_the_overlap_rule(out, ind):
    sa = out.study
    b = sa.buildings
    # the units with the most overlapping footprints are the hard cases
    overlap = ind["footprint_overlap_m2"].sort_values(ascending=False)
    assert overlap.iloc[0] > 100
    tree = shapely.STRtree(b.geometry.to_numpy())
    floors = b["floors"].to_numpy()
    for uid in overlap.index[:4]:
        unit = sa.units.geometry.loc[uid]
        x0, y0, x1, y1 = unit.bounds
        gx, gy = np.meshgrid(
            np.arange(np.floor(x0) + 0.5, x1, 1.0), np.arange(np.floor(y0) + 0.5, y1, 1.0)
        )
        gx, gy = gx.ravel(), gy.ravel()
        keep = shapely.contains_xy(unit, gx, gy)
        pts = shapely.points(gx[keep], gy[keep])
        pi, bi = tree.query(pts, predicate="within")
        top = pd.Series(floors[bi]).groupby(pi).max()
        assert ind.loc[uid, "floor_area_m2"] == pytest.approx(top.sum(), rel=0.01), uid
        assert ind.loc[uid, "footprint_area_m2"] == pytest.approx(len(top), rel=0.01), uid


def test_floors_come_from_num_floors_first(out):
    raw = gpd.read_parquet(DATA / "buildings.parquet")
    b = out.study.buildings
    assert len(b) == len(raw)
    n = pd.to_numeric(raw["num_floors"], errors="coerce").to_numpy(dtype=float)
    has = ~np.isnan(n) & (n >= 1)
    np.testing.assert_array_equal(b["floors"].to_numpy()[has], n[has])
    assert set(b["floors_source"].to_numpy()[has]) == {"levels"}


def test_every_overture_land_use_class_is_classified(out, ind):
    q = out.study.ledger.to_frame().set_index("layer").loc["land-use parcels"]
    assert q["flagged"] == 0, q["flagged_why"]
    lu = [c for c in ind.columns if c.startswith("lu_") and c.endswith("_pct")]
    assert ((ind[lu].sum(axis=1) - 100.0).abs() < 0.01).all()
    assert (
        ind["public_service_incl_community_pct"].isna().all()
    )  # Overture cannot tell community services apart


def test_road_lengths_per_unit_match_a_brute_force_allocation(cfg, ind, out):
    streets = gpd.read_parquet(DATA / "streets.parquet")
    lines = (
        streets[streets["class"].isin(cfg.roads.include)].to_crs(out.study.crs).geometry.to_numpy()
    )
    units = out.study.units.loc[ind.index].geometry.to_numpy()
    brute = brute_force_line_km(lines, units)
    np.testing.assert_allclose(
        ind["road_length_naive_km"].to_numpy(), brute, rtol=0.005, atol=0.002
    )
    # the same total from a plain shapely clip; the 1 µm buffer keeps streets drawn on the units' outer
    # edges, which floating-point noise would otherwise put a hair outside (14 of 103 km here)
    union = shapely.buffer(shapely.union_all(units), 1e-6)
    assert ind["road_length_naive_km"].sum() == pytest.approx(
        shapely.length(shapely.intersection(lines, union)).sum() / 1000, rel=1e-4
    )
    assert (ind["road_length_km"] <= ind["road_length_naive_km"] + 1e-9).all()


def test_life_circle_and_stations_not_assessable_without_sources(ind):
    lc = [c for c in ind.columns if c.startswith("lc_") and c.endswith("_pct")]
    assert lc and ind[lc].isna().all().all()
    assert ind["bus_stop_500m_radius_pct"].isna().all() and ind["bus_stop_count"].isna().all()
