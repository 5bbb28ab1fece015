"""Three states for every value — measured, not assessable (a property of the unit), or a data gap — on hand fixtures.

Each expectation is worked out by hand in the test (areas of boxes, shares of weights), never read off ditan's output.
"""

from __future__ import annotations

from string import Formatter

import numpy as np
import pandas as pd
import pytest

from ditan.spatial.engine.origins import Origins
from ditan.spatial.errors import LayerError
from ditan.spatial.indicators import green
from ditan.spatial.indicators.life_circle import life_circle_coverage
from ditan.spatial.standards import columns
from ditan.spatial.standards import reasons as R
from ditan.spatial.standards.catalogue import load_catalogue
from ditan.spatial.standards.evidence import (
    Evidence,
    apply_evidence,
    empty_kinds,
    extent_shares,
    has_residents,
)
from ditan.spatial.standards.registry import Indicator
from tests.conftest import box, class_raster, gdf, point


def _table() -> tuple[pd.DataFrame, dict[str, Indicator]]:
    t = pd.DataFrame(
        {
            "road_density_km_per_km2": [0.0, 5.0, 0.0],
            "lc_school_pct": [0.0, 50.0, 0.0],
            "industrial_residential_ratio": [np.nan, 0.5, 0.2],
            "area_km2": [1.0, 1.0, 1.0],
        },
        index=pd.Index(["A", "B", "C"], name="unit_id"),
    )
    cols = {
        "road_density_km_per_km2": Indicator(
            "road_density_km_per_km2", "路网密度", "Road density", needs=("roads",)
        ),
        "lc_school_pct": Indicator(
            "lc_school_pct", "学校", "School", needs=("facilities", "residents")
        ),
        "industrial_residential_ratio": Indicator(
            "industrial_residential_ratio",
            "产居比",
            "Ratio",
            needs=("landuse",),
            nan="no_residential_land",
        ),
        "area_km2": Indicator("area_km2", "面积", "Area"),
    }
    return t, cols


def test_absent_layer_makes_every_value_nan_with_a_data_gap_reason():
    t, cols = _table()
    why = apply_evidence(t, cols, Evidence(absent={"roads": "no roads layer"}))
    assert t["road_density_km_per_km2"].isna().all()
    assert t["area_km2"].tolist() == [1.0, 1.0, 1.0]  # rests on nothing but the unit
    r = why[why["column"] == "road_density_km_per_km2"]
    assert (
        r["unit_id"].tolist() == ["A", "B", "C"]
        and r["data_gap"].all()
        and (r["reason"] == "no_layer").all()
    )
    assert "no roads layer" in r["reason_en"].iloc[0] and "道路" in r["reason_zh"].iloc[0]


def test_precedence_outside_then_gap_then_residents_then_own_nan():
    t, cols = _table()
    ev = Evidence(
        outside={"roads": np.array([True, False, False])}, residents=np.array([True, True, False])
    )
    why = apply_evidence(t, cols, ev).set_index(["unit_id", "column"])
    # A is beyond the road data: NaN, a data gap; B and C measured (0 km/km² in C is a measured 0)
    assert (
        np.isnan(t.at["A", "road_density_km_per_km2"])
        and t.at["C", "road_density_km_per_km2"] == 0.0
    )
    assert why.loc[("A", "road_density_km_per_km2"), "reason"] == "outside_layer"
    # C has no residents: its life-circle share is not assessable (a property of the unit, not a data gap)
    assert np.isnan(t.at["C", "lc_school_pct"]) and t.at["A", "lc_school_pct"] == 0.0
    assert (
        why.loc[("C", "lc_school_pct"), "reason"] == "no_residents"
        and not why.loc[("C", "lc_school_pct"), "data_gap"]
    )
    # A's ratio was NaN from the computation: the column's own reason
    assert why.loc[("A", "industrial_residential_ratio"), "reason"] == "no_residential_land"
    assert len(why) == 3  # nothing else is NaN


def test_own_reason_names_each_units_land_use_code_system():
    """A reason about the code system says which one, per unit; no "{system}" reaches a table."""
    t = pd.DataFrame(
        {
            "public_service_incl_community_pct": [np.nan, 12.0, np.nan, np.nan],
            "lu_code_system": ["osm", "gb50137", "overture", None],
        },
        index=pd.Index(["A", "B", "C", "D"], name="unit_id"),
    )
    cols = {
        "public_service_incl_community_pct": Indicator(
            "public_service_incl_community_pct", "公服", "Public", nan="no_community_codes"
        )
    }
    why = apply_evidence(t, cols, Evidence()).set_index("unit_id")
    assert why.loc["A", "reason_en"] == (
        "the land-use code system (osm) cannot tell community-service land apart"
    )
    assert why.loc["C", "reason_zh"] == "所用用地分类（overture）无法区分社区服务设施用地"
    assert "—" in why.loc["D", "reason_en"] and "B" not in why.index
    assert not why["reason_en"].str.contains("{", regex=False).any()


def test_every_columns_own_reason_fields_are_columns():
    """A column's ``nan:`` reason names in its fields only columns of the indicator table, which fill them."""
    from ditan.spatial.standards.registry import registry

    by_code = {r.code: r for r in vars(R).values() if isinstance(r, R.Reason)}
    ids = set(registry())
    fields = {
        f
        for ind in registry().values()
        if ind.nan
        for _, f, _, _ in Formatter().parse(by_code[ind.nan].en + by_code[ind.nan].zh)
        if f
    }
    assert fields and fields <= ids, fields - ids


def test_category_gap_beats_residents():
    t, cols = _table()
    ev = Evidence(
        gaps={"lc_school_pct": R.CATEGORY_GAP.format(name="学校 school")},
        residents=np.array([True, True, False]),
    )
    why = apply_evidence(t, cols, ev)
    r = why[why["column"] == "lc_school_pct"]
    assert (
        t["lc_school_pct"].isna().all()
        and (r["reason"] == "category_gap").all()
        and r["data_gap"].all()
    )


def test_empty_kinds_and_confirmed_absence():
    present = pd.Series(["school", "school", "park"])
    assert empty_kinds(present, ["school", "park", "clinic", "market"]) == ["clinic", "market"]
    assert empty_kinds(present, ["school", "park", "clinic", "market"], ["market"]) == ["clinic"]


def test_has_residents_land_use_decides_where_it_is_mapped():
    """Units of 1 ha each (thresholds 100 m² and 0.5 % → 100 m² here)."""
    # A: residential buildings (500 m² floor area) on land use mapped as park (the caretaker's house in a park): no
    # B: the same buildings where land use covers 20 % of the unit (OSM without landuse=residential): yes
    # C: 8.5e-9 m² of residential land and nothing else: no;  D: 200 m² of residential land only: yes
    # E: 60 m² of residential land only (below 100 m²): no;  F: no weight at all: no
    basis = np.array(["floor_area", "floor_area", "land_area", "land_area", "land_area", "none"])
    weight = np.array([500.0, 500.0, 8.5e-9, 200.0, 60.0, 0.0])
    land = np.array([0.0, 0.0, 8.5e-9, 200.0, 60.0, 0.0])
    unknown = np.array([0.0, 80.0, 0.0, 0.0, 0.0, 0.0])
    got = has_residents(
        basis,
        weight,
        land,
        np.full(6, 10_000.0),
        min_land_m2=100.0,
        min_land_pct=0.5,
        unknown_land_pct=unknown,
    )
    assert got.tolist() == [False, True, False, True, False, False]
    # 0.5 % of a 10 ha unit is 500 m²: 200 m² of residential land is not enough there
    assert not has_residents(
        basis[3:4],
        weight[3:4],
        land[3:4],
        np.array([100_000.0]),
        min_land_m2=100.0,
        min_land_pct=0.5,
    )[0]
    # without land use (no layer) a weight is enough
    assert has_residents(
        basis, weight, None, np.full(6, 10_000.0), min_land_m2=100.0, min_land_pct=0.5
    ).tolist() == [True, True, True, True, True, False]


def test_extent_shares(two_units):
    extent = box(0, 0, 1500, 1000)  # all of A, half of B
    assert extent_shares(two_units, extent).tolist() == pytest.approx([100.0, 50.0])
    assert extent_shares(two_units, None).tolist() == [100.0, 100.0]


def test_life_circle_score_is_the_weighted_share_of_categories_reached():
    """Two homes in one unit, weights 3 and 1; three 5-minute categories, one of them a data gap."""
    cat = load_catalogue()
    five = [c for c in cat.categories.values() if c.tier == "5min"]
    assert len(five) >= 3
    a, b, gap = five[0].id, five[1].id, five[2].id
    d = pd.DataFrame({c: [np.inf, np.inf] for c in cat.categories})
    d[a] = [100.0, 900.0]  # home 1 reaches a (within 300 m), home 2 does not
    d[b] = [250.0, 250.0]  # both reach b
    origins = Origins(
        points=np.array([point(0, 0), point(10, 10)]),
        weights=pd.DataFrame({"unit": [0, 0], "origin": [0, 1], "weight": [3.0, 1.0]}),
        basis=pd.Series(["floor_area"]),
    )
    assessed = set(cat.categories) - {gap}
    out = life_circle_coverage(1, origins, d, cat, index=pd.Index(["U"]), assessed=assessed)
    # by hand, per home: k/K with K = the assessed 5-minute categories; home 1 reaches a and b, home 2 only b
    k5 = len([c for c in five if c.id in assessed])
    expected = (3.0 * 2 / k5 + 1.0 * 1 / k5) / 4.0 * 100.0
    assert out.at["U", columns.lc_score("5min")] == pytest.approx(expected)
    assert out.at["U", columns.lc_assessed("5min")] == k5
    assert out.at["U", columns.lc_categories_total("5min")] == len(five)
    assert out.at["U", columns.lc_category(a)] == pytest.approx(75.0)


def test_green_coverage_never_below_green_space_ratio_on_the_same_polygons(two_units):
    """A 400 × 400 m park with a 100 × 100 m lake in unit A; a 50 × 50 m lawn (tagged vegetation) in the park's corner."""
    park_face = box(100, 100, 500, 500).difference(
        box(200, 200, 300, 300)
    )  # the land-use face: park less the lake
    green_land = gdf([{"lu_class": "park", "geometry": park_face}])
    lawn = gdf(
        [
            {"tag": "landuse=grass", "geometry": box(100, 100, 150, 150)},
            {"tag": "natural=wood", "geometry": box(1100, 0, 1200, 100)},
        ]
    )
    got = green.green_coverage_from_polygons(two_units, lawn, green_land)
    # A: 400² − 100² = 150,000 m² of 1 km² (the lawn lies inside the park: counted once) → 15 %
    assert got.at["A", "green_coverage_pct"] == pytest.approx(15.0)
    assert got.at["B", "green_coverage_pct"] == pytest.approx(1.0)  # the wood, 100 × 100 m
    assert got.at["A", "green_coverage_source"] == "vegetation + green land polygons"
    # without green land the same lawn alone: 2,500 m²
    alone = green.green_coverage_from_polygons(two_units, lawn)
    assert alone.at["A", "green_coverage_pct"] == pytest.approx(0.25)


def test_raster_of_another_product_stops_with_the_codes_found(tmp_path, two_units):
    """A CLCD-coded raster (1 cropland, 2 forest, 5 water, 8 impervious) read with the WorldCover classes."""
    codes = np.tile(
        np.array([1, 2, 5, 8, 2, 1, 1, 8, 2, 5] * 2), (10, 1)
    )  # 10 rows × 20 columns of 100 m
    path = tmp_path / "clcd.tif"
    class_raster(path, codes)
    with pytest.raises(
        LayerError, match=r"no pixel under the units has a configured class.*codes 1, 2, 5, 8.*CLCD"
    ):
        green.green_coverage_from_raster(two_units, path)
    # with CLCD's classes it measures: forest (2) is 3 of the 10 columns of each unit → 30 %; impervious (8) 2 of 10
    got = green.green_coverage_from_raster(
        two_units, path, vegetation_classes=(2, 3, 4), impervious_classes=(8,)
    )
    assert got["green_coverage_pct"].tolist() == pytest.approx([30.0, 30.0])
    assert got["permeable_surface_pct"].tolist() == pytest.approx([80.0, 80.0])


def test_reasons_frame_shape():
    empty = R.reasons_frame([])
    assert list(empty.columns) == R.REASON_COLUMNS and empty.empty
    one = R.reasons_frame([("A", "x_pct", R.NO_RESIDENTIAL_LAND)])
    assert one.iloc[0].to_dict() == {
        "unit_id": "A",
        "column": "x_pct",
        "reason": "no_residential_land",
        "reason_en": R.NO_RESIDENTIAL_LAND.en,
        "reason_zh": R.NO_RESIDENTIAL_LAND.zh,
        "data_gap": False,
    }


def test_column_names_carry_the_configured_values():
    assert columns.proximity("bus_stop", 400, "network") == "bus_stop_400m_network_pct"
    assert columns.parse_proximity("metro_312.5m_radius_pct") == ("metro", 312.5, "radius")
    assert columns.parse_proximity("lc_15min_all_pct") is None
    assert (
        columns.lc_all("far") == "lc_far_all_pct"
        and columns.lc_score("near") == "lc_near_score_pct"
    )
