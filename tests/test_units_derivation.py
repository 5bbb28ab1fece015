"""Tests of ditan.spatial.study_area.units (derive_units, name_units) on hand-computable road grids in EPSG:4548.

Local coordinates (x, y) in metres are offset by (X0, Y0) so that the fixture lies in the
CGCS2000 3° Gauss–Krüger zone CM 117E near Beijing. Every expected area is worked out by hand
in the comments.
"""

from __future__ import annotations

import geopandas as gpd
import pytest
import shapely
from shapely.geometry import LineString, box

from ditan.spatial.errors import CRSError
from ditan.spatial.study_area.units import derive_units, name_units

CRS = "EPSG:4548"
X0, Y0 = 440000.0, 4428000.0
EXT = 50.0  # roads run this far beyond the study frame


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


def _local_bounds(geom: shapely.Geometry) -> tuple[int, ...]:
    x0, y0, x1, y1 = geom.bounds
    return tuple(round(v) for v in (x0 - X0, y0 - Y0, x1 - X0, y1 - Y0))


def _grid(
    step: float = 400.0, n: int = 3, highway: str = "tertiary"
) -> list[tuple[str, str | None, LineString]]:
    """Roads: n vertical and n horizontal at 0, step, …, extended EXT beyond the frame."""
    end = step * (n - 1)
    rows = []
    for i in range(n):
        v = i * step
        rows.append((highway, None, _line((v, -EXT), (v, end + EXT))))
        rows.append((highway, None, _line((-EXT, v), (end + EXT, v))))
    return rows


FRAME_800 = _box(0, 0, 800, 800)
# the divided road: two carriageways at x = 190 and x = 210 across the south-west block
DIVIDED = [
    ("tertiary", None, _line((190, -10), (190, 410))),
    ("tertiary", None, _line((210, -10), (210, 410))),
]


# --- derive_units: blocks of tertiary+ roads ----------------------------------------------


def test_grid_gives_four_400m_blocks():
    units = derive_units(_roads(_grid()), FRAME_800)
    assert len(units) == 4
    assert units.crs == CRS
    assert units["unit_id"].tolist() == ["U001", "U002", "U003", "U004"]
    assert units.area.round(0).tolist() == [160_000.0] * 4  # 400 m × 400 m
    assert sorted(_local_bounds(g) for g in units.geometry) == [
        (0, 0, 400, 400),
        (0, 400, 400, 800),
        (400, 0, 800, 400),
        (400, 400, 800, 800),
    ]
    # the 50 m stubs beyond the frame make no units: the frame is tiled exactly
    assert shapely.union_all(units.geometry.to_numpy()).area == pytest.approx(FRAME_800.area)


def test_divided_road_median_strip_dropped_by_width():
    roads = _roads(_grid() + DIVIDED)
    # min_area 5 000 m² keeps the 8 000 m² median, so only its 20 m width can drop it.
    # South-west block 400 × 400 → [0,190]×[0,400] = 76 000 m², median [190,210]×[0,400]
    # = 20 × 400 = 8 000 m² (dropped: 20 m < 30 m), [210,400]×[0,400] = 76 000 m².
    units = derive_units(roads, FRAME_800, min_area_m2=5_000, min_width_m=30)
    assert len(units) == 5
    assert units.area.round(0).tolist() == [160_000.0, 160_000.0, 160_000.0, 76_000.0, 76_000.0]
    assert sorted(_local_bounds(g) for g in units.geometry) == [
        (0, 0, 190, 400),
        (0, 400, 400, 800),
        (210, 0, 400, 400),
        (400, 0, 800, 400),
        (400, 400, 800, 800),
    ]
    assert units["unit_id"].is_unique
    assert units["unit_id"].tolist() == [f"U{i:03d}" for i in range(1, 6)]  # largest first
    # 3 × 160 000 + 2 × 76 000: the frame less the median
    assert units.area.sum() == pytest.approx(640_000.0 - 8_000.0)

    # control: without the width rule the median is a sixth unit of exactly 8 000 m²
    kept = derive_units(roads, FRAME_800, min_area_m2=5_000, min_width_m=0)
    assert len(kept) == 6
    assert kept.area.round(0).tolist()[-1] == 8_000.0
    assert _local_bounds(kept.geometry.iloc[-1]) == (190, 0, 210, 400)


def test_divided_road_with_default_options():
    units = derive_units(_roads(_grid() + DIVIDED), FRAME_800)
    assert sorted(units.area.round(0).tolist()) == [
        76_000.0,
        76_000.0,
        160_000.0,
        160_000.0,
        160_000.0,
    ]


@pytest.mark.parametrize(
    ("highway", "name"),
    [
        ("footway", "荷清路"),
        ("service", None),
        ("service", "荷清路"),
        ("residential", "荷清路"),
        ("cycleway", None),
        ("path", None),
    ],
)
def test_minor_roads_do_not_split_ordinary_blocks(highway, name):
    # a minor road straight across the south-west block (160 000 m² < max_area 1 km²)
    roads = _roads(_grid() + [(highway, name, _line((200, -EXT), (200, 450)))])
    units = derive_units(roads, FRAME_800)
    assert len(units) == 4
    assert units.area.round(0).tolist() == [160_000.0] * 4


@pytest.mark.parametrize(
    "highway", ["tertiary", "tertiary_link", "secondary", "primary", "trunk", "motorway"]
)
def test_tertiary_and_above_split_blocks(highway):
    # the same line as a tertiary+ road splits the block into 200 × 400 = 80 000 m² halves
    roads = _roads(_grid() + [(highway, None, _line((200, -EXT), (200, 450)))])
    units = derive_units(roads, FRAME_800)
    assert sorted(units.area.round(0).tolist()) == [
        80_000.0,
        80_000.0,
        160_000.0,
        160_000.0,
        160_000.0,
    ]


# --- oversized blocks: 1 200 m × 1 000 m = 1.2 km² ----------------------------------------

FRAME_BIG = _box(0, 0, 1200, 1000)
RING_BIG = [
    ("tertiary", None, _line((-EXT, 0), (1200 + EXT, 0))),
    ("tertiary", None, _line((-EXT, 1000), (1200 + EXT, 1000))),
    ("tertiary", None, _line((0, -EXT), (0, 1000 + EXT))),
    ("tertiary", None, _line((1200, -EXT), (1200, 1000 + EXT))),
]
MIDDLE = _line((600, -10), (600, 1010))


@pytest.mark.parametrize(
    ("highway", "name"),
    [("residential", None), ("unclassified", None), ("living_street", None), ("service", "清华路")],
)
def test_oversized_block_split_by_next_tier(highway, name):
    units = derive_units(
        _roads(RING_BIG + [(highway, name, MIDDLE)]), FRAME_BIG, max_area_m2=1_000_000
    )
    # 1.2 km² > 1 km²: split at x = 600 into two 600 × 1000 = 600 000 m² halves
    assert len(units) == 2
    assert units.area.round(0).tolist() == [600_000.0, 600_000.0]
    assert sorted(_local_bounds(g) for g in units.geometry) == [
        (0, 0, 600, 1000),
        (600, 0, 1200, 1000),
    ]


@pytest.mark.parametrize(
    ("highway", "name", "split_by"),
    [("service", None, "grid"), ("footway", "清华路", "named_paths"), ("cycleway", None, "grid")],
)
def test_oversized_block_not_split_by_unnamed_service_or_footway(highway, name, split_by):
    # (issue 15: an oversized block no longer stays whole.) An unnamed service road or cycleway is
    # not a split line, so the grid (last resort) halves the 1 200 × 1 000 block: ⌈1.2⌉ = 2 cells,
    # nx = round(√(2 · 1200/1000)) = 2 along the long side → x = 600. A named footway is a named
    # path and splits it on the same line.
    units = derive_units(
        _roads(RING_BIG + [(highway, name, MIDDLE)]), FRAME_BIG, max_area_m2=1_000_000
    )
    assert units.area.round(0).tolist() == [600_000.0, 600_000.0]
    assert units["split_by"].tolist() == [split_by, split_by]
    assert units["above_max_reason"].isna().all()


def test_block_below_max_area_not_subdivided():
    roads = _roads(RING_BIG + [("residential", None, MIDDLE)])
    units = derive_units(roads, FRAME_BIG, max_area_m2=1_500_000)  # 1.2 km² < 1.5 km²
    assert len(units) == 1
    assert units.area.iloc[0] == pytest.approx(1_200_000.0)
    # an 800 × 1000 = 0.8 km² block with the default max_area (1 km²) stays whole too
    small = _roads(
        [
            ("tertiary", None, _line((-EXT, 0), (800 + EXT, 0))),
            ("tertiary", None, _line((-EXT, 1000), (800 + EXT, 1000))),
            ("tertiary", None, _line((0, -EXT), (0, 1000 + EXT))),
            ("tertiary", None, _line((800, -EXT), (800, 1000 + EXT))),
            ("residential", None, _line((400, -10), (400, 1010))),
        ]
    )
    units = derive_units(small, _box(0, 0, 800, 1000))
    assert len(units) == 1
    assert units.area.iloc[0] == pytest.approx(800_000.0)


def test_oversized_block_cut_by_grid_when_minor_road_does_not_cross():
    # a dead-end residential road (to y = 500) encloses nothing: fewer than two parts, so (issue 15)
    # the grid cuts the 1.2 km² block into two 600 × 1000 halves instead of leaving it whole
    roads = _roads(RING_BIG + [("residential", None, _line((600, -10), (600, 500)))])
    units = derive_units(roads, FRAME_BIG, max_area_m2=1_000_000)
    assert units.area.round(0).tolist() == [600_000.0, 600_000.0]
    assert units["split_by"].tolist() == ["grid", "grid"]


# --- slivers --------------------------------------------------------------------------------


def test_small_blocks_dropped_by_area():
    # a tertiary road at x = 60 across the north-west block [0,400]×[400,800]:
    # [0,60]×[400,800] = 60 × 400 = 24 000 m² (60 m wide, so only its area can drop it)
    # and [60,400]×[400,800] = 340 × 400 = 136 000 m²
    roads = _roads(_grid() + [("tertiary", None, _line((60, 350), (60, 850)))])
    dropped = derive_units(roads, FRAME_800, min_area_m2=30_000)
    assert sorted(dropped.area.round(0).tolist()) == [136_000.0, 160_000.0, 160_000.0, 160_000.0]
    kept = derive_units(roads, FRAME_800, min_area_m2=20_000)
    assert sorted(kept.area.round(0).tolist()) == [
        24_000.0,
        136_000.0,
        160_000.0,
        160_000.0,
        160_000.0,
    ]
    # a block of exactly min_area is kept (only smaller ones are slivers)
    exact = derive_units(roads, FRAME_800, min_area_m2=24_000)
    assert len(exact) == 5


def test_frame_cuts_blocks_at_the_study_bounds():
    # a frame 100 m inside the grid's east edge: the eastern blocks are 300 × 400 = 120 000 m²
    units = derive_units(_roads(_grid()), _box(0, 0, 700, 800))
    assert sorted(units.area.round(0).tolist()) == [120_000.0, 120_000.0, 160_000.0, 160_000.0]


def test_derive_units_refuses_degrees():
    roads = _roads(_grid()).to_crs(4326)
    with pytest.raises(CRSError, match="roads"):
        derive_units(roads, FRAME_800)


# --- name_units -----------------------------------------------------------------------------

# four 400 m units: A south-west, B south-east, C north-west, D north-east
A, B, C, D = (
    _box(0, 0, 400, 400),
    _box(400, 0, 800, 400),
    _box(0, 400, 400, 800),
    _box(400, 400, 800, 800),
)


def _units(*geoms: shapely.Polygon) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"unit_id": [f"U{i + 1:03d}" for i in range(len(geoms))]}, geometry=list(geoms), crs=CRS
    )


def _areas(rows: list[tuple[str, shapely.Polygon]]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"name": [r[0] for r in rows]}, geometry=[r[1] for r in rows], crs=CRS)


NO_AREAS = gpd.GeoDataFrame({"name": []}, geometry=[], crs=CRS)
NO_ROADS = _roads([])


def test_smallest_named_area_covering_30_percent_wins():
    units = _units(A, B)
    areas = _areas(
        [
            ("清华大学", _box(-100, -100, 900, 500)),  # covers A and B wholly (400 000 m²)
            ("荷清苑", _box(0, 0, 400, 125)),  # 50 000 / 160 000 = 31.25 % of A
            ("小花园", _box(0, 0, 100, 100)),  # 6.25 % of A: too little, though smallest
            ("东园", _box(400, 0, 800, 100)),  # 25 % of B: too little
        ]
    )
    names = name_units(units, areas, NO_ROADS)
    assert names.tolist() == ["荷清苑", "清华大学"]
    assert names.index.equals(units.index)


def test_name_share_threshold_is_inclusive():
    units = _units(A)
    areas = _areas([("北园", _box(0, 0, 400, 120))])  # 48 000 / 160 000 = exactly 30 %
    assert name_units(units, areas, NO_ROADS).tolist() == ["北园"]
    areas = _areas([("北园", _box(0, 0, 400, 119))])  # 29.75 %
    assert name_units(units, areas, NO_ROADS).tolist() == ["街区 U001"]


def test_names_from_the_two_longest_bounding_roads_else_generated():
    units = _units(A, B, C, D)
    roads = _roads(
        [
            # along the south edge of A and B (x −50…850)
            ("tertiary", "成府路", _line((-EXT, 0), (800 + EXT, 0))),
            # along the east edge of B and D
            ("tertiary", "荷清路", _line((800, -EXT), (800, 800 + EXT))),
            # on the A|B edge, only y 200…400: 200 m inside the 15 m rings of A and B,
            # shorter than 成府路 and 荷清路 (430 m each); reaches C's ring over 15 m only (< 30 m)
            ("residential", "学堂路", _line((400, 200), (400, 400))),
            ("tertiary", None, _line((-EXT, 400), (800 + EXT, 400))),  # unnamed: ignored
        ]
    )
    names = name_units(units, NO_AREAS, roads)
    assert names.tolist() == [
        "学堂路、成府路围合街区",  # A: 成府路 430 m, 学堂路 200 m (sorted by code point)
        "成府路、荷清路围合街区",  # B: 成府路 430, 荷清路 430, 学堂路 200 → the two longest
        "街区 U003",  # C: 学堂路 touches its ring over 15 m only → no road, generated
        "荷清路围合街区",  # D: 荷清路 only
    ]
    assert names.is_unique


def test_area_name_beats_road_names():
    units = _units(A)
    roads = _roads([("tertiary", "成府路", _line((-EXT, 0), (400 + EXT, 0)))])
    areas = _areas([("清华园", _box(0, 0, 400, 200))])
    assert name_units(units, areas, roads).tolist() == ["清华园"]
    assert name_units(units, NO_AREAS, roads).tolist() == ["成府路围合街区"]


def test_duplicate_names_disambiguated():
    units = _units(A, B, C, D)
    areas = _areas([("清华大学", _box(0, 0, 800, 400))])  # covers A and B wholly
    roads = _roads(
        [
            ("tertiary", "成府路", _line((-EXT, 0), (800 + EXT, 0))),  # south of A and B
            ("tertiary", "荷清路", _line((800, -EXT), (800, 400 + 10))),  # east of B
            ("tertiary", "学堂路", _line((0, -EXT), (0, 400 + 10))),  # west of A
            ("tertiary", "中关村北大街", _line((-EXT, 800), (800 + EXT, 800))),  # north of C and D
        ]
    )
    names = name_units(units, areas, roads)
    assert names.tolist() == [
        "清华大学（学堂路、成府路）",  # same area name: bounding roads added
        "清华大学（成府路、荷清路）",
        "中关村北大街围合街区（U003）",  # same road name, no area: id added
        "中关村北大街围合街区（U004）",
    ]
    assert names.is_unique


def test_names_use_index_when_no_unit_id_column():
    units = gpd.GeoDataFrame(geometry=[A, B], crs=CRS, index=["X1", "X2"])
    names = name_units(units, NO_AREAS, NO_ROADS)
    assert names.tolist() == ["街区 X1", "街区 X2"]
    assert names.index.tolist() == ["X1", "X2"]


def test_name_units_on_derived_grid_all_unique():
    roads = _roads(_grid() + DIVIDED)
    units = derive_units(roads, FRAME_800)
    names = name_units(units, NO_AREAS, roads)
    assert names.tolist() == [f"街区 {u}" for u in units["unit_id"]]
    assert names.is_unique and names.str.len().gt(0).all()


def test_strip_exactly_min_width_is_kept():
    # a 30 m × 1000 m strip between two tertiary roads: exactly min_width_m wide -> kept; 29.9 m -> dropped
    import geopandas as gpd
    import shapely

    from ditan.spatial.study_area.units import derive_units

    def strip(width):
        roads = gpd.GeoDataFrame(
            {"highway": ["tertiary", "tertiary"], "name": [None, None]},
            geometry=[
                shapely.LineString([(440000, 4428000), (440000, 4429000)]),
                shapely.LineString([(440000 + width, 4428000), (440000 + width, 4429000)]),
            ],
            crs="EPSG:4548",
        )
        frame = shapely.box(440000 - 200, 4428000, 440000 + width + 200, 4429000)
        units = derive_units(roads, frame, min_area_m2=1000, min_width_m=30)
        return sorted(round(a) for a in units.geometry.area)

    assert 30_000 in strip(30.0)
    assert 29_900 not in strip(29.9)
