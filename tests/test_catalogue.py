"""The life-circle catalogue as data: sources, unconfirmed marks, and the three value mappings."""

from __future__ import annotations

import pandas as pd
import pytest

from ditan.pipelines.assemble.load import load_study_area
from ditan.pipelines.compute.indicators import compute
from ditan.pipelines.config.params import params_from_config
from ditan.pipelines.config.schema import parse_config
from ditan.spatial.standards.catalogue import load_catalogue, value_lookup
from tests.conftest import box, gdf, line, point

#: the entries whose tier or listing could not be checked against the printed GB 50180-2018
UNCONFIRMED = {
    "sports_centre",
    "large_park",
    "market",
    "health_station",
    "small_park",
    "playground",
}


def test_every_category_has_a_source_names_and_mappings():
    cat = load_catalogue()
    assert set(cat.tiers) == {"5min", "10min", "15min"}
    assert [cat.tiers[t].distance_m for t in ("5min", "10min", "15min")] == [300, 500, 1000]
    for c in cat.categories.values():
        assert c.tier in cat.tiers, c.id
        assert c.zh and c.en and c.match, c.id
        assert "GB 50180-2018" in c.source, c.id
        assert c.aliases, c.id
    assert {c.id for c in cat.categories.values() if c.unconfirmed} == UNCONFIRMED
    # the 完整居住社区建设标准 items are listed with that source
    for cid in ("kindergarten", "community_service", "elderly_daycare", "health_station", "market"):
        assert "完整居住社区建设标准" in cat.categories[cid].source, cid
    # every category but the size-bound large park maps from Overture places
    assert {c.id for c in cat.categories.values() if not c.overture} == {"large_park"}
    assert all(s.overture for s in cat.stations.values())


def test_value_lookup_accepts_ids_chinese_names_and_aliases():
    cat = load_catalogue()
    lk = value_lookup(cat.categories, "catalogue")
    for value, cid in [
        ("kindergarten", "kindergarten"),
        ("幼儿园/托育", "kindergarten"),
        ("托儿所", "kindergarten"),
        ("初中", "middle_school"),
        ("菜市场", "market"),
    ]:
        assert cid in lk.loc[lk["value"] == value, "category"].tolist(), value
    ov = value_lookup(cat.categories, "overture")
    assert ov.loc[ov["value"] == "elementary_school", "category"].tolist() == ["primary_school"]


def test_extra_categories_from_the_config_add_and_never_replace():
    extra = [
        {
            "id": "community_canteen",
            "tier": "5min",
            "zh": "社区食堂",
            "en": "Community canteen",
            "match": [{"amenity": "canteen"}],
        },
    ]
    cat = load_catalogue(extra_categories=extra)
    added = cat.categories["community_canteen"]
    assert added.tier == "5min" and added.source == "added in the run configuration"
    assert list(cat.categories)[-1] == "community_canteen"
    # an id the catalogue has (a category, a community amenity, a station kind) is refused, not replaced
    for cid, what in (
        ("market", "category"),
        ("canteen", "community amenity"),
        ("bus_stop", "station kind"),
    ):
        same = [{**extra[0], "id": cid}]
        with pytest.raises(ValueError, match=f"'{cid}' is already a {what}.*extend_categories"):
            load_catalogue(extra_categories=same)
    assert load_catalogue().categories["market"].tier == "10min"
    with pytest.raises(ValueError, match="names tier '20min'"):
        load_catalogue(extra_categories=[{"id": "x", "tier": "20min", "zh": "x", "en": "x"}])


def test_overture_places_and_a_config_category_through_the_run(tmp_path):
    gdf([{"unit_id": "A", "geometry": box(0, 0, 1000, 1000)}]).to_file(tmp_path / "units.gpkg")
    gdf([{"hw": "residential", "geometry": line((0, 500), (1000, 500))}]).to_file(
        tmp_path / "roads.gpkg"
    )
    gdf([{"use": "apartments", "geometry": box(100, 510, 140, 540)}]).to_file(
        tmp_path / "buildings.gpkg"
    )
    gdf(
        [
            {
                "cat": "elementary_school",
                "geometry": point(400, 505),
            },  # 270 m along the street from the home
            {"cat": "convenience_store", "geometry": point(900, 505)},  # 770 m: beyond 300 m
            {"cat": "social_club", "geometry": point(200, 505)},
        ]
    ).to_file(tmp_path / "places.gpkg")  # not a category
    cfg = parse_config(
        {
            "name": "overture_places",
            "inputs": {
                "units": {"path": "units.gpkg", "id_column": "unit_id"},
                "roads": {"path": "roads.gpkg", "class_column": "hw"},
                "buildings": {"path": "buildings.gpkg", "type_column": "use"},
                "pois": {
                    "path": "places.gpkg",
                    "category_column": "cat",
                    "category_system": "overture",
                },
            },
            "life_circle": {
                "extra_categories": [
                    {
                        "id": "corner_shop",
                        "tier": "15min",
                        "zh": "小卖部",
                        "en": "Corner shop",
                        "overture": ["convenience_store"],
                    }
                ]
            },
        },
        base_dir=tmp_path,
    )
    sa = load_study_area(cfg)
    assert sorted(sa.facilities["category"]) == [
        "convenience_store",
        "corner_shop",
        "primary_school",
    ]
    q = sa.ledger.to_frame().set_index("layer").loc["life-circle facilities"]
    assert q["features_read"] == 3 and q["kept"] == 2
    assert (
        q["dropped_why"] == "'social_club' is not a category of the catalogue (overture values): 1"
    )
    res = compute(sa, params_from_config(cfg))
    t = res.indicators.loc["A"]
    # home at (120, 525), 25 m off the street: 25 + 280 + 5 = 310 m to the school, within 500 m
    assert t["lc_primary_school_pct"] == pytest.approx(100.0)
    assert t["lc_convenience_store_pct"] == pytest.approx(0.0)  # 25 + 780 + 5 m > 300 m
    assert t["lc_corner_shop_pct"] == pytest.approx(
        100.0
    )  # the same shop, as a 15-minute category (1000 m)
    assert res.columns["lc_corner_shop_pct"].source == "added in the run configuration"
    assert isinstance(res.service_areas, pd.DataFrame) and "corner_shop" in set(
        res.service_areas["category"]
    )
