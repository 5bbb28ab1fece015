"""Overlapping footprints (podium + tower, duplicates from two sources) count once; hand-computed fixtures and the HK sample."""

from __future__ import annotations

import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from ditan.spatial.errors import CRSError
from ditan.spatial.indicators.intensity import (
    building_pieces,
    estimate_floors,
    intensity,
    resolve_overlaps,
)
from tests.conftest import ROOT, box, gdf, require_or_skip

HK = [
    ROOT / "data" / "hongkong_kowloon" / "buildings.parquet",
    Path("/work/shared/data/hongkong_kowloon/buildings.parquet"),
]


def _b(geom, floors, source="levels", residential=False):
    return {
        "floors": float(floors),
        "floors_source": source,
        "residential": residential,
        "geometry": geom,
    }


def _floor_area(resolved: gpd.GeoDataFrame) -> float:
    return float((resolved.geometry.area * resolved["floors"]).sum())


def test_podium_and_tower_count_once():
    # 40 × 40 podium, 3 floors; 10 × 10 tower of 30 floors drawn inside it
    b = gdf([_b(box(0, 0, 40, 40), 3, residential=True), _b(box(15, 15, 25, 25), 30)])
    res, stats = resolve_overlaps(b)
    assert res.geometry.area.sum() == pytest.approx(1600)  # not 1700
    # 1500 × 3 + 100 × 30 = 7500 (summing as drawn would give 1600 × 3 + 100 × 30 = 7800)
    assert _floor_area(res) == pytest.approx(7500)
    by_src = res.set_index("source_building")
    assert by_src.loc[0].geometry.area == pytest.approx(1500)
    assert by_src.loc[1].geometry.area == pytest.approx(100)
    assert by_src.loc[1, "floors"] == 30
    # each face carries the flags of the footprint that gave its floors
    assert by_src.loc[0, "residential"] and not by_src.loc[1, "residential"]
    assert res.crs == b.crs
    assert stats == {
        "overlapping_buildings": 2,
        "overlap_pairs": 1,
        "overlap_area_m2": pytest.approx(100),
    }


def test_partial_overlap_takes_the_taller():
    # 20 × 20 at x 0..20 (5 floors) and at x 10..30 (8 floors): overlap 10 × 20 = 200 m², union 30 × 20 = 600 m²
    b = gdf([_b(box(0, 0, 20, 20), 5), _b(box(10, 0, 30, 20), 8)])
    res, stats = resolve_overlaps(b)
    assert res.geometry.area.sum() == pytest.approx(600)
    # first only 200 × 5 = 1000; overlap 200 × 8 = 1600; second only 200 × 8 = 1600 -> 4200 (as drawn: 400 × 5 + 400 × 8 = 5200)
    assert _floor_area(res) == pytest.approx(4200)
    assert res.groupby("source_building").apply(
        lambda g: g.geometry.area.sum(), include_groups=False
    ).to_dict() == {
        0: pytest.approx(200),
        1: pytest.approx(400),
    }
    assert stats["overlapping_buildings"] == 2
    assert stats["overlap_area_m2"] == pytest.approx(200)


def test_touching_buildings_are_untouched():
    # two 10 × 10 buildings sharing the wall x = 10
    b = gdf([_b(box(0, 0, 10, 10), 4), _b(box(10, 0, 20, 10), 2)])
    res, stats = resolve_overlaps(b)
    assert stats == {"overlapping_buildings": 0, "overlap_pairs": 0, "overlap_area_m2": 0.0}
    assert res["source_building"].tolist() == [0, 1]
    assert shapely.equals(res.geometry.to_numpy(), b.geometry.to_numpy()).all()
    assert _floor_area(res) == pytest.approx(400 + 200)


def test_sliver_overlap_below_tolerance_is_touching():
    # 0.001 m × 5 m = 0.005 m² of overlap: digitising noise, not an overlap
    b = gdf([_b(box(0, 0, 10, 10), 4), _b(box(9.999, 0, 20, 5), 2)])
    assert resolve_overlaps(b)[1]["overlapping_buildings"] == 0


def test_exact_duplicates_count_once_and_prefer_the_better_source():
    # the same 10 × 10 building from two sources, 6 floors each: one from a default, one from levels
    b = gdf([_b(box(0, 0, 10, 10), 6, "default"), _b(box(0, 0, 10, 10), 6, "levels")])
    res, stats = resolve_overlaps(b)
    assert len(res) == 1
    assert res.geometry.area.sum() == pytest.approx(100)
    assert _floor_area(res) == pytest.approx(600)
    assert res["source_building"].tolist() == [1]
    assert res["floors_source"].tolist() == ["levels"]
    assert stats["overlap_area_m2"] == pytest.approx(100)


def test_courtyard_stays_open():
    # a 30 × 30 block with a 10 × 10 courtyard (800 m², 4 floors) and a 20 × 5 wing over one side (6 floors)
    ring = shapely.Polygon(box(0, 0, 30, 30).exterior.coords, [box(10, 10, 20, 20).exterior.coords])
    b = gdf([_b(ring, 4), _b(box(5, 0, 25, 5), 6)])
    res, _ = resolve_overlaps(b)
    assert res.geometry.area.sum() == pytest.approx(800)
    # 100 m² under the wing × 6 + 700 m² × 4
    assert _floor_area(res) == pytest.approx(600 + 2800)


def test_empty_and_geographic():
    empty = gdf([_b(box(0, 0, 1, 1), 1)]).iloc[:0]
    res, stats = resolve_overlaps(empty)
    assert len(res) == 0 and stats["overlapping_buildings"] == 0
    with pytest.raises(CRSError):
        resolve_overlaps(gdf([_b(box(0, 0, 1, 1), 1)]).to_crs(4326))


@pytest.fixture
def overlapping():
    return gdf(
        [
            # 40 × 40 podium (3 floors) across the A|B boundary x = 1000: 30 × 40 in A, 10 × 40 in B;
            # 10 × 10 tower (30 floors, from height) over it, 5 × 10 = 50 m² on each side
            _b(box(970, 500, 1010, 540), 3, residential=True),
            _b(box(995, 515, 1005, 525), 30, "height"),
            # partial overlap in A: 5 floors and 8 floors (from height), union 600 m²
            _b(box(100, 100, 120, 120), 5),
            _b(box(110, 100, 130, 120), 8, "height"),
            # touching in A: 4 and 2 floors
            _b(box(300, 300, 310, 310), 4),
            _b(box(310, 300, 320, 310), 2),
            # duplicates in A, 6 floors: a default and a levels
            _b(box(600, 600, 610, 610), 6, "default"),
            _b(box(600, 600, 610, 610), 6, "levels"),
        ]
    )


def test_far_and_density_through_intensity(two_units, overlapping):
    out = intensity(two_units, overlapping)
    # A footprint: podium 1200 (tower inside it) + pair 600 + touching 200 + duplicate 100 = 2100 m² of 1 km²
    # A floor area: podium (1200 − 50) × 3 = 3450, tower 50 × 30 = 1500, pair 4200, touching 600, duplicate 600 = 10350
    a = out.loc["A"]
    assert a["footprint_area_m2"] == pytest.approx(2100)
    assert a["building_density_pct"] == pytest.approx(0.21)
    assert a["floor_area_m2"] == pytest.approx(10350)
    assert a["far_ratio"] == pytest.approx(0.01035)
    # from height: tower 1500 + the 8-floor building's 400 × 8 = 3200; the duplicate's floors come from levels
    assert a["floor_area_estimated_pct"] == pytest.approx((1500 + 3200) / 10350 * 100)
    assert a["floor_area_default_floors_pct"] == pytest.approx(0.0)
    # drawn but not counted: tower 50 + pair 200 + duplicate 100
    assert a["footprint_overlap_m2"] == pytest.approx(350)
    # B: podium 400 m², (400 − 50) × 3 + 50 × 30 = 2550 m²
    b = out.loc["B"]
    assert b["footprint_area_m2"] == pytest.approx(400)
    assert b["building_density_pct"] == pytest.approx(0.04)
    assert b["floor_area_m2"] == pytest.approx(2550)
    assert b["far_ratio"] == pytest.approx(0.00255)
    assert b["footprint_overlap_m2"] == pytest.approx(50)
    # additivity: podium + tower 7500, pair 4200, touching 600, duplicate 600
    assert out["floor_area_m2"].sum() == pytest.approx(12900)
    assert out["footprint_overlap_m2"].sum() == pytest.approx(
        resolve_overlaps(overlapping)[1]["overlap_area_m2"]
    )


def test_pieces_point_at_source_buildings(two_units, overlapping):
    pieces = building_pieces(two_units, overlapping)
    assert list(pieces.columns) == ["unit", "building", "footprint_m2", "floor_area_m2"]
    assert not pieces.duplicated(["unit", "building"]).any()
    got = pieces.set_index(["unit", "building"])["footprint_m2"]
    assert got[(0, 0)] == pytest.approx(1150) and got[(1, 0)] == pytest.approx(
        350
    )  # podium around the tower
    assert got[(0, 1)] == pytest.approx(50) and got[(1, 1)] == pytest.approx(
        50
    )  # tower on each side
    assert (0, 6) not in got.index and got[(0, 7)] == pytest.approx(
        100
    )  # duplicate: the levels one
    # residential weights (life circles) still look buildings up by position
    res = overlapping["residential"].to_numpy()[pieces["building"].to_numpy()]
    assert pieces.loc[res, "floor_area_m2"].sum() == pytest.approx(1500 * 3)


def test_resolve_false_sums_as_drawn(two_units, overlapping):
    pieces = building_pieces(two_units, overlapping, resolve=False)
    drawn = float((overlapping.geometry.area * overlapping["floors"]).sum())
    assert pieces["floor_area_m2"].sum() == pytest.approx(drawn)
    assert pieces["footprint_m2"].sum() == pytest.approx(1600 + 100 + 800 + 200 + 200)
    out = intensity(two_units, overlapping, pieces)
    assert out["footprint_overlap_m2"].tolist() == pytest.approx([0.0, 0.0], abs=1e-6)


def test_hong_kong_overlaps():
    path = next((p for p in HK if p.exists()), None)
    require_or_skip(path is not None, "Hong Kong (Kowloon) buildings sample not found")
    raw = gpd.read_parquet(path).to_crs(32650)
    b = gpd.GeoDataFrame(
        {"levels_raw": raw["num_floors"], "height_raw": raw["height"]},
        geometry=raw.geometry.to_numpy(),
        crs=raw.crs,
    )
    fl = estimate_floors(b)
    b = b.assign(floors=fl["floors"].to_numpy(), floors_source=fl["floors_source"].to_numpy())
    t0 = time.perf_counter()
    res, stats = resolve_overlaps(b)
    took = time.perf_counter() - t0
    union = shapely.union_all(b.geometry.to_numpy()).area
    summed = b.geometry.area.sum()
    resolved = res.geometry.area.sum()
    over_pct = (summed - union) / summed * 100
    print(
        f"\nHK: {len(b)} footprints, {stats['overlapping_buildings']} overlapping ({stats['overlap_pairs']} pairs), "
        f"summed {summed:,.0f} m², union {union:,.0f} m², resolved {resolved:,.0f} m²; summed − union = {over_pct:.2f} % of summed "
        f"({(summed / union - 1) * 100:.2f} % over the union); resolve_overlaps {took:.2f} s"
    )
    assert resolved == pytest.approx(union, rel=1e-4)
    assert stats["overlap_area_m2"] == pytest.approx(summed - resolved)
    assert 5.0 < over_pct < 10.0
    # faces never overlap one another
    assert shapely.union_all(res.geometry.to_numpy()).area == pytest.approx(resolved, rel=1e-6)
    # every building overlapping nothing is kept as it is
    kept = pd.Series(res["source_building"]).value_counts()
    assert len(np.setdiff1d(np.arange(len(b)), kept.index)) < stats["overlapping_buildings"]
