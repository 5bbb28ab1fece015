"""Tests of issue 15 item 4: units a planner would accept from `ditan units`.

No outer remainder of the study bounds as a block, every block over max_area_m2 subdivided (next
road tier, named paths, grid) or listed with its reason, and a note (a warning over a district)
when no study bounds are given. Hand-drawn roads in EPSG:4548 (local metres offset by X0, Y0);
every expected area is worked out by hand in the comments.
"""

from __future__ import annotations

import logging
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from shapely.geometry import LineString, box

from ditan.pipelines.assemble.units import (
    DERIVED_UNITS_LAYER,
    UNBOUNDED_WARN_KM2,
    make_units_report,
    note_study_bounds,
)
from ditan.pipelines.config.schema import Config, load_config
from ditan.spatial.io.validate import Ledger
from ditan.spatial.study_area.units import derive_units, derive_units_report

CRS = "EPSG:4548"
X0, Y0 = 440000.0, 4428000.0
EXT = 50.0  # roads run this far beyond the study frame
ROOT = Path(__file__).resolve().parents[1]
SAMPLE_PBF = ROOT / "data" / "beijing_haidian_tsinghua" / "map.osm.pbf"
CAU_PBF = ROOT / "data" / "beijing_haidian_cau" / "map.osm.pbf"


def _line(*pts: tuple[float, float]) -> LineString:
    return LineString([(X0 + x, Y0 + y) for x, y in pts])


def _box(x0: float, y0: float, x1: float, y1: float) -> shapely.Polygon:
    return box(X0 + x0, Y0 + y0, X0 + x1, Y0 + y1)


def _roads(rows: list[tuple[str, str | None, LineString]]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"highway": [r[0] for r in rows], "name": [r[1] for r in rows]},
        geometry=[r[2] for r in rows],
        crs=CRS,
    )


def _loop(x0: float, y0: float, x1: float, y1: float, hw: str = "tertiary") -> list:
    """A closed square of road, its corners exactly meeting (no stubs)."""
    return [(hw, None, _line((x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)))]


def _ring(w: float, h: float, hw: str = "tertiary") -> list:
    """Four roads along the frame [0, w] × [0, h], each running EXT past it."""
    return [
        (hw, None, _line((-EXT, 0), (w + EXT, 0))),
        (hw, None, _line((-EXT, h), (w + EXT, h))),
        (hw, None, _line((0, -EXT), (0, h + EXT))),
        (hw, None, _line((w, -EXT), (w, h + EXT))),
    ]


def _no_overlap(units: gpd.GeoDataFrame) -> None:
    """Units do not overlap: the sum of their areas is the area of their union (within 1 m²)."""
    union = shapely.union_all(units.geometry.to_numpy()).area
    assert units.area.sum() == pytest.approx(union, abs=1.0)


def _holes_hold_units(units: gpd.GeoDataFrame) -> None:
    """Every hole in a unit holds another unit (no ring-shaped remainder around the network)."""
    pts = shapely.point_on_surface(units.geometry.to_numpy())
    for g in units.geometry:
        for ring in g.interiors:
            assert shapely.contains(shapely.Polygon(ring), pts).any()


# --- the outer remainder --------------------------------------------------------------------

FRAME_1200 = _box(0, 0, 1200, 1200)


def test_ring_remainder_around_the_network_is_dropped():
    # a loop of tertiary road [400, 800]² in the middle of a 1200 m frame, touching nothing: the
    # face between it and the frame is a ring 1200² − 400² = 1 440 000 − 160 000 = 1 280 000 m²
    units, report = derive_units_report(_roads(_loop(400, 400, 800, 800)), FRAME_1200)
    assert units.area.round(0).tolist() == [160_000.0]  # only the block inside the loop
    assert report.remainders == 1
    assert report.remainder_area_m2 == pytest.approx(1_280_000.0)
    assert (shapely.get_num_interior_rings(units.geometry.to_numpy()) == 0).all()
    assert "outer remainder dropped" in report.lines(units, 1_000_000.0)[0]


def test_c_shaped_remainders_mostly_frame_are_dropped():
    # a loop [500, 700]² with one road west and one east to (and past) the frame: two C-shaped
    # faces, each (1 440 000 − 40 000) / 2 = 700 000 m² < max_area, with no hole. North face
    # outline: frame 1200 + 2 × 600 = 2400 m; roads 500 + 500 (arms) + 200 + 2 × 100 (half the
    # loop) = 1400 m: 2400 / 3800 = 63 % frame > 60 % → remainder
    arms = [
        ("tertiary", None, _line((-EXT, 600), (500, 600))),
        ("tertiary", None, _line((700, 600), (1200 + EXT, 600))),
    ]
    units, report = derive_units_report(_roads(_loop(500, 500, 700, 700) + arms), FRAME_1200)
    assert units.area.round(0).tolist() == [40_000.0]  # the block inside the loop, 200 × 200
    assert report.remainders == 2
    assert report.remainder_area_m2 == pytest.approx(1_400_000.0)


def test_remainder_tied_to_the_frame_by_one_road_is_dropped():
    # the loop [400, 800]² tied to the south frame by one road at x = 600: the road has the same
    # face on both sides, so the face around the loop keeps it as a hole: wraps round → remainder
    arm = [("tertiary", None, _line((600, -EXT), (600, 400)))]
    units, report = derive_units_report(_roads(_loop(400, 400, 800, 800) + arm), FRAME_1200)
    assert units.area.round(0).tolist() == [160_000.0]
    assert report.remainders == 1
    assert report.remainder_area_m2 == pytest.approx(1_280_000.0)


def test_remainder_keeps_the_compounds_minor_roads_close():
    # as the ring case, with a residential loop [100, 300] × [900, 1100] in the remainder: closed by
    # roads all round (200 × 200 = 40 000 m² ≥ min_area) it is kept as next_tier; the rest,
    # 1 280 000 − 40 000 = 1 240 000 m², is dropped
    roads = _roads(_loop(400, 400, 800, 800) + _loop(100, 900, 300, 1100, "residential"))
    units, report = derive_units_report(roads, FRAME_1200)
    assert units.area.round(0).tolist() == [160_000.0, 40_000.0]
    assert units["split_by"].tolist() == ["roads", "next_tier"]
    assert report.remainders == 1 and report.salvaged == 1
    assert report.remainder_area_m2 == pytest.approx(1_240_000.0)


def test_edge_blocks_cut_by_the_frame_are_kept():
    # roads at x = 400 and y = 400 crossing a 1000 × 1000 frame (no loop anywhere): four corner
    # faces, each with half its outline on the frame (south-west [0,400]²: 800 of 1600 m;
    # north-east [400,1000]²: 1200 of 2400 m) ≤ 60 % → blocks the frame cuts, all kept
    roads = _roads(
        [
            ("tertiary", None, _line((400, -EXT), (400, 1000 + EXT))),
            ("tertiary", None, _line((-EXT, 400), (1000 + EXT, 400))),
        ]
    )
    units, report = derive_units_report(roads, _box(0, 0, 1000, 1000))
    # 400 × 400, 600 × 400 (twice), 600 × 600
    assert sorted(units.area.round(0).tolist()) == [160_000.0, 240_000.0, 240_000.0, 360_000.0]
    assert report.remainders == 0
    # a diagonal road cutting the corner: the triangle (0,0)-(600,0)-(0,600), 600²/2 = 180 000 m²,
    # has 1200 m of frame in 1200 + 600√2 = 2049 m (59 %) → kept; the rest, 1 000 000 − 180 000 =
    # 820 000 m², has 400 + 1000 + 1000 + 400 = 2800 m of frame in 3649 m (77 %) → remainder
    diag = _roads([("tertiary", None, _line((-EXT, 600 + EXT), (600 + EXT, -EXT)))])
    units, report = derive_units_report(diag, _box(0, 0, 1000, 1000))
    assert units.area.round(0).tolist() == [180_000.0]
    assert report.remainders == 1
    assert report.remainder_area_m2 == pytest.approx(820_000.0)


def test_face_mostly_frame_inside_a_road_loop_is_a_block():
    # a 2000 × 400 loop of roads running past a narrow frame [900, 1100] × [−1000, 300] that holds
    # only its south road. North face [900, 1100] × [0, 300] = 60 000 m²: frame 200 + 300 + 300 =
    # 800 m of its 1000 m outline (80 % > 60 %), but inside the loop of the roads as given → a
    # block the frame cuts. South face [900, 1100] × [−1000, 0] = 200 000 m²: 2200 of 2400 m
    # (92 %), outside every loop → remainder
    roads = _roads(_ring(2000, 400))
    units, report = derive_units_report(roads, _box(900, -1000, 1100, 300))
    assert units.area.round(0).tolist() == [60_000.0]
    assert units["split_by"].tolist() == ["roads"]
    assert report.remainders == 1
    assert report.remainder_area_m2 == pytest.approx(200_000.0)
    # the same frame with the loop's north road missing: no loop holds the north face → remainder
    open_loop = _roads(_ring(2000, 400)[:1] + _ring(2000, 400)[2:])
    units, report = derive_units_report(open_loop, _box(900, -1000, 1100, 300))
    assert len(units) == 0
    assert report.remainders == 2


def test_donut_closed_by_roads_keeps_its_hole():
    # an outer ring road on the frame [0,1200]² and an isolated tertiary loop [400,800]² inside
    # (a campus ring road joined by minor roads): the land between them, 1 280 000 m², is a block
    # closed by roads inside and out; its hole holds the 160 000 m² block
    roads = _roads(_ring(1200, 1200) + _loop(400, 400, 800, 800))
    units, report = derive_units_report(roads, FRAME_1200, max_area_m2=1_500_000)
    assert units.area.round(0).tolist() == [1_280_000.0, 160_000.0]
    assert shapely.get_num_interior_rings(units.geometry.to_numpy()).tolist() == [1, 0]
    _holes_hold_units(units)
    _no_overlap(units)
    assert report.remainders == 0


def test_hole_holding_no_unit_is_filled():
    # a block [0,800]² with a 100 × 100 loop of tertiary road inside: the loop's 10 000 m² is
    # under min_area (20 000) and dropped, so the hole is filled: one unit of 800² = 640 000 m²
    roads = _roads(_ring(800, 800) + _loop(300, 300, 400, 400))
    units, report = derive_units_report(roads, _box(0, 0, 800, 800))
    assert units.area.round(0).tolist() == [640_000.0]
    assert shapely.get_num_interior_rings(units.geometry.iloc[0]) == 0
    assert report.holes_filled == 1


# --- the cascade ----------------------------------------------------------------------------


def test_cascade_next_tier_then_named_path():
    # a 2000 × 1000 block (2 km² > 1 km²): a residential road at x = 800 cuts off 800 × 1000 =
    # 800 000 m² (next_tier) and leaves 1200 × 1000 = 1 200 000 m², still over; a named footway at
    # x = 1400 halves that into 600 × 1000 = 600 000 m² pieces (named_paths)
    roads = _roads(
        _ring(2000, 1000)
        + [
            ("residential", None, _line((800, -10), (800, 1010))),
            ("footway", "学堂路", _line((1400, -10), (1400, 1010))),
            ("footway", None, _line((1700, -10), (1700, 1010))),  # unnamed: no split line
        ]
    )
    units, report = derive_units_report(roads, _box(0, 0, 2000, 1000))
    assert units.area.round(0).tolist() == [800_000.0, 600_000.0, 600_000.0]
    assert units["split_by"].tolist() == ["next_tier", "named_paths", "named_paths"]
    assert dict(report.blocks_split) == {"next_tier": 1, "named_paths": 1}
    assert units["above_max_reason"].isna().all()
    text = "\n".join(report.lines(units, 1_000_000.0))
    assert "next road tier" in text and "named paths" in text


def test_grid_splits_a_block_with_no_path_into_equal_pieces():
    # 3000 × 1000 = 3 km², no path inside: n = ⌈3⌉ = 3 cells, nx = round(√(3 · 3000/1000)) = 3
    # along the long side, ny = 1 → three 1000 × 1000 = 1 000 000 m² squares (≤ max_area)
    units, report = derive_units_report(_roads(_ring(3000, 1000)), _box(0, 0, 3000, 1000))
    assert units.area.round(0).tolist() == [1_000_000.0] * 3
    assert units["split_by"].tolist() == ["grid"] * 3
    assert units["above_max_reason"].isna().all()
    assert units.area.sum() == pytest.approx(3_000_000.0)
    assert report.blocks_split["grid"] == 1
    xs = sorted(round(g.bounds[0] - X0) for g in units.geometry)
    assert xs == [0, 1000, 2000]


def test_grid_on_an_l_shaped_block():
    # the L [0,2000]×[0,1000] ∪ [0,1000]×[1000,2000] = 2 000 000 + 1 000 000 = 3 000 000 m²;
    # its minimum rotated rectangle is the 2000 × 2000 square: n = 3, nx = round(√3) = 2,
    # ny = ⌈3/2⌉ = 2 → four pieces of 3 000 000 / 4 = 750 000 m² (first cut at 750 m, where
    # 2000 · 750 = 1.5 km²; the other strip is an L cut at 600 m: 1250 · 600 = 750 000)
    outline = [(0, 0), (2000, 0), (2000, 1000), (1000, 1000), (1000, 2000), (0, 2000), (0, 0)]
    roads = _roads([("primary", None, _line(*outline))])
    frame = _box(-100, -100, 2100, 2100)
    units = derive_units(roads, frame)
    assert len(units) == 4
    np.testing.assert_allclose(units.area.to_numpy(), 750_000.0, atol=1.0)
    assert units.area.sum() == pytest.approx(3_000_000.0, abs=1.0)
    assert (units.area <= 1_000_000.0).all()
    assert (units["split_by"] == "grid").all()
    _no_overlap(units)


def test_mostly_open_land_is_kept_whole_and_listed():
    # a 1200 × 1000 block (1.2 km²) 90 % covered by a park (1200 × 900): not cut by a grid
    roads = _roads(_ring(1200, 1000))
    park = np.array([_box(0, 0, 1200, 900)], dtype=object)
    units, report = derive_units_report(roads, _box(0, 0, 1200, 1000), open_land=park)
    assert units.area.round(0).tolist() == [1_200_000.0]
    reason = units["above_max_reason"].iloc[0]
    assert "open land" in reason and "90%" in reason
    lines = report.lines(units, 1_000_000.0)
    assert any("units above max_area_m2" in ln for ln in lines)
    assert any(ln.strip().startswith("U001  1.200 km²") for ln in lines)
    # a park over half of it (1200 × 600 = 60 % < 75 %) does not stop the grid: two halves
    half = np.array([_box(0, 0, 1200, 600)], dtype=object)
    units = derive_units(roads, _box(0, 0, 1200, 1000), open_land=half)
    assert units.area.round(0).tolist() == [600_000.0, 600_000.0]


# --- no study bounds --------------------------------------------------------------------------


def _cfg(**osm) -> Config:
    return Config.model_validate(
        {"name": "no_bounds", "inputs": {"osm": {"path": str(SAMPLE_PBF), **osm}}}
    )


def test_no_bounds_over_a_district_is_a_warning(caplog):
    ledger = Ledger()
    big = _box(0, 0, 10_000, 8_000)  # 80 km² > 50 km²
    assert UNBOUNDED_WARN_KM2 < 80
    with caplog.at_level(logging.INFO):
        text = note_study_bounds(_cfg(), None, big, ledger)
    assert text is not None and "inputs.osm.bounds" in text and "80.0 km²" in text
    assert "more than a district" in text
    warned = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 1 and "\n" not in warned[0].getMessage()
    assert ledger.records[DERIVED_UNITS_LAYER].note == text


def test_no_bounds_under_a_district_is_a_note(caplog):
    ledger = Ledger()
    small = _box(0, 0, 2_000, 2_000)  # 4 km²
    with caplog.at_level(logging.INFO):
        text = note_study_bounds(_cfg(), None, small, ledger)
    assert text is not None and "4.0 km²" in text and "more than a district" not in text
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_bounds_given_no_note():
    ledger = Ledger()
    cfg = _cfg(bounds=[116.3084, 39.9905, 116.3320, 40.0123])
    assert note_study_bounds(cfg, None, _box(0, 0, 10_000, 8_000), ledger) is None
    assert DERIVED_UNITS_LAYER not in ledger.records


# --- real data --------------------------------------------------------------------------------


def _derive_real(path: Path, bounds: list[float] | None, tmp_path: Path):
    from ditan.pipelines.assemble.load import load_study_area

    osm = {"path": str(path)} | ({"bounds": bounds} if bounds else {})
    cfg_path = tmp_path / "c.yaml"
    import yaml

    cfg_path.write_text(
        yaml.safe_dump({"name": "real", "inputs": {"osm": osm}}, sort_keys=False), encoding="utf-8"
    )
    cfg = load_config(cfg_path, deriving_units=True)
    sa = load_study_area(cfg, derive_missing_units=False)
    units, report = make_units_report(cfg.units, sa.roads, sa.landuse, sa.bounds, sa.ledger)
    return cfg, sa, units.reset_index(), report


def _planner_checks(units: gpd.GeoDataFrame, bounds: shapely.Polygon, max_area_m2: float) -> None:
    assert len(units)
    over = units.area > max_area_m2 + 1.0
    assert units.loc[over, "above_max_reason"].notna().all()  # none above the limit unlisted
    _holes_hold_units(units)
    _no_overlap(units)
    # no unit is the outer remainder: none has a hole while touching the bounds' outline
    touch = shapely.length(
        shapely.intersection(
            shapely.get_exterior_ring(units.geometry.to_numpy()),
            shapely.buffer(shapely.boundary(bounds), 0.01),
        )
    )
    holed = shapely.get_num_interior_rings(units.geometry.to_numpy()) > 0
    assert not (holed & (touch > 1.0)).any()


def test_beijing_sample_units(tmp_path):
    cfg, sa, units, report = _derive_real(
        SAMPLE_PBF, [116.3084, 39.9905, 116.3320, 40.0123], tmp_path
    )
    _planner_checks(units, sa.bounds, cfg.units.max_area_m2)
    assert set(units["split_by"]) <= {"roads", "next_tier", "named_paths", "grid"}
    assert DERIVED_UNITS_LAYER in sa.ledger.records  # the derivation's notes, in the ledger
    assert "no study bounds" not in sa.ledger.records[DERIVED_UNITS_LAYER].note


def test_cau_pbf_without_bounds(tmp_path):
    cfg, sa, units, report = _derive_real(CAU_PBF, None, tmp_path)
    _planner_checks(units, sa.bounds, cfg.units.max_area_m2)
    note = sa.ledger.records[DERIVED_UNITS_LAYER].note
    assert "no study bounds given" in note and "inputs.osm.bounds" in note
    # the bounds are the roads' extent and the roads do not fill it: the rest is not a unit
    assert units.area.sum() < 0.5 * sa.bounds.area
    assert report.remainders >= 1
