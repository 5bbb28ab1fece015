"""Land-use code tables (GB 50137-2011, 2023 用地用海分类指南, OSM, Overture), code classification and shares."""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

from ditan.spatial.errors import ConfigError
from ditan.spatial.indicators.landuse import landuse_faces, landuse_shares
from ditan.spatial.landuse.classes import LANDUSE_CLASSES
from ditan.spatial.landuse.codes import (
    CODE_SYSTEMS,
    classify_codes,
    code_table,
    community_service_separable,
)
from tests.conftest import ROOT, box, gdf


@pytest.mark.parametrize("system", CODE_SYSTEMS)
def test_code_tables_are_consistent(system):
    t = code_table(system)
    assert list(t.columns[:5]) == ["code", "zh", "lu_class", "level", "parent"]
    assert len(t) > 0
    assert t["code"].is_unique
    bad = t[~t["lu_class"].isin(list(LANDUSE_CLASSES))]
    assert bad.empty, f"codes mapped to no internal class:\n{bad}"
    assert set(t["level"]) <= {1, 2, 3}
    child = t[t["level"] > 1]
    assert child["parent"].isin(set(t["code"])).all(), child[~child["parent"].isin(set(t["code"]))]
    assert t.loc[t["level"] == 1, "parent"].isna().all()


def test_code_tables_listing_and_spot_checks():
    gb = code_table("gb50137").set_index("code")
    g23 = code_table("gb2023").set_index("code")
    tables = (("gb50137", gb), ("gb2023", g23))
    listing = "\n".join(
        f"{s} {c} {r.zh} -> {r.lu_class}" for s, t in tables for c, r in t.iterrows()
    )
    print(listing)  # every code -> class, for review (pytest -s)
    assert gb["zh"].notna().all() and g23["zh"].notna().all()
    expected_gb = {
        "R22": "community_service",
        "R12": "community_service",
        "R21": "residential",
        "A33": "public_service",
        "B11": "commercial",
        "M2": "industrial",
        "W1": "industrial",
        "S41": "transport",
        "U21": "utilities",
        "G": "green",
        "G1": "park",
        "G2": "green",
        "G3": "plaza",
        "E1": "water",
        "E2": "agriculture",
    }
    for code, cls in expected_gb.items():
        assert gb.loc[code, "lu_class"] == cls, code
    assert gb.loc["A33", "zh"] == "中小学用地" and gb.loc["R2", "zh"] == "二类居住用地"
    assert gb.loc["R22", "parent"] == "R2" and gb.loc["R22", "level"] == 3
    expected_23 = {
        "0701": "residential",
        "0702": "community_service",
        "0704": "community_service",
        "080403": "public_service",
        "080404": "public_service",
        "1207": "transport",
        "120802": "transport",
        "1401": "park",
        "1402": "green",
        "1403": "plaza",
        "14": "green",
        "10": "industrial",
        "11": "industrial",
        "05": "water",
        "17": "water",
        "18": "water",
        "24": "water",
        "01": "agriculture",
        "06": "agriculture",
        "15": "other",
        "16": "other",
        "23": "other",
    }
    for code, cls in expected_23.items():
        assert g23.loc[code, "lu_class"] == cls, code
    assert [c for c in g23.index if len(c) == 2] == [f"{i:02d}" for i in range(1, 25)]
    assert (
        g23.loc["0701", "zh"] == "城镇住宅用地"
        and g23.loc["080403", "zh"] == "中小学用地"
        and g23.loc["24", "zh"] == "其他海域"
    )
    assert g23.loc["080403", "parent"] == "0804" and g23.loc["080403", "level"] == 3


def test_classify_codes_gb2023():
    values = pd.Series(
        [
            "0701",
            " 080403 ",
            "城镇住宅用地",
            701.0,
            "701.0",
            80403,
            "080499",
            "99",
            None,
            "  ",
            np.nan,
            "1403",
        ],
        index=list("abcdefghijkl"),
    )
    out = classify_codes(values, "gb2023")
    assert out.index.tolist() == list("abcdefghijkl")
    assert list(out.columns) == ["code", "lu_class", "how"]
    expected = {
        "a": ("0701", "residential", "code"),
        "b": ("080403", "public_service", "code"),
        "c": ("0701", "residential", "name"),
        "d": ("0701", "residential", "code"),  # a spreadsheet float
        "e": ("0701", "residential", "code"),
        "f": ("080403", "public_service", "code"),  # an integer lost its leading zero
        "g": ("080499", "public_service", "parent"),  # 0804 教育用地
        "h": ("99", None, "unknown"),
        "i": (None, None, "empty"),
        "j": (None, None, "empty"),
        "k": (None, None, "empty"),
        "l": ("1403", "plaza", "code"),
    }
    for k, (code, cls, how) in expected.items():
        assert tuple(out.loc[k]) == (code, cls, how), k


def test_classify_codes_gb50137():
    values = pd.Series(
        ["R22", "r2", "二类居住用地", "A39", "住宅用地", "G1", "Z9", "", "a33", "R9-unknown"]
    )
    out = classify_codes(values, "gb50137")
    assert out["code"].tolist() == [
        "R22",
        "R2",
        "R2",
        "A39",
        None,
        "G1",
        "Z9",
        None,
        "A33",
        "R9-UNKNOWN",
    ]
    assert out["lu_class"].tolist() == [
        "community_service",
        "residential",
        "residential",
        "public_service",
        "residential",
        "park",
        None,
        None,
        "public_service",
        None,
    ]
    # 住宅用地 is R11, R21 and R31: the class is certain, the code is not
    assert out["how"].tolist() == [
        "code",
        "code",
        "name",
        "parent",
        "name",
        "code",
        "unknown",
        "empty",
        "code",
        "unknown",
    ]


def test_classify_codes_osm_overture_internal():
    osm = classify_codes(
        pd.Series(["park", "residential", "leisure=pitch", "Station", "nonsense", None]), "osm"
    )
    assert osm["code"].tolist() == [
        "leisure=park",
        "landuse=residential",
        "leisure=pitch",
        "railway=station",
        "nonsense",
        None,
    ]
    assert osm["lu_class"].tolist() == [
        "park",
        "residential",
        "public_service",
        "transport",
        None,
        None,
    ]
    assert osm["how"].tolist() == ["code", "code", "code", "code", "unknown", "empty"]
    ov = classify_codes(pd.Series(["playground", "grass", "pitch", "pedestrian", "x"]), "overture")
    assert ov["lu_class"].tolist() == ["park", "green", "public_service", "plaza", None]
    internal = classify_codes(pd.Series(["community_service", "公园绿地", "forest"]), "internal")
    assert internal["lu_class"].tolist() == ["community_service", "park", None]
    assert internal["how"].tolist() == ["code", "name", "unknown"]


def test_unknown_system_and_separability():
    with pytest.raises(ConfigError, match="gb50137, gb2023, osm, overture, internal"):
        classify_codes(pd.Series(["R2"]), "gb1990")
    with pytest.raises(ConfigError):
        code_table("nope")
    assert [community_service_separable(s) for s in CODE_SYSTEMS] == [
        True,
        True,
        False,
        False,
        True,
    ]


@pytest.fixture
def one_unit():
    return gdf([{"unit_id": "U", "geometry": box(0, 0, 100, 100)}]).set_index(
        "unit_id"
    )  # 10 000 m²


@pytest.fixture
def mixed_faces():
    return landuse_faces(
        gdf(
            [
                {"lu_class": "residential", "geometry": box(0, 0, 100, 40)},  # 4 000 m²
                {"lu_class": "community_service", "geometry": box(0, 40, 50, 60)},  # 1 000 m²
                {"lu_class": "public_service", "geometry": box(50, 40, 100, 60)},  # 1 000 m²
                {"lu_class": "park", "geometry": box(0, 60, 50, 90)},  # 1 500 m²
                {"lu_class": "plaza", "geometry": box(50, 60, 100, 70)},  # 500 m²
                # 100 × 10 at the top and 50 × 20 at the right above the plaza: 2 000 m² with no land use
            ]
        )
    )


def test_landuse_shares_hand_computed(one_unit, mixed_faces):
    out = landuse_shares(one_unit, mixed_faces, code_system="gb2023").loc["U"]
    assert out["lu_residential_pct"] == pytest.approx(40.0)
    assert out["lu_community_service_pct"] == pytest.approx(10.0)
    assert out["lu_public_service_pct"] == pytest.approx(10.0)
    assert out["lu_park_pct"] == pytest.approx(15.0)
    assert out["lu_plaza_pct"] == pytest.approx(5.0)
    # the 2 000 m² no polygon covers is lu_no_data_pct; no code without a class, so lu_unknown_pct 0 (issue 15)
    assert out["lu_no_data_pct"] == pytest.approx(20.0)
    assert out["lu_unknown_pct"] == pytest.approx(0.0)
    for c in (
        "commercial",
        "industrial",
        "transport",
        "utilities",
        "green",
        "water",
        "agriculture",
        "other",
    ):
        assert out[f"lu_{c}_pct"] == 0.0
    assert out["public_service_pct"] == pytest.approx(10.0)  # strict: public_service only
    assert out["public_service_incl_community_pct"] == pytest.approx(20.0)
    assert out["industrial_residential_ratio"] == pytest.approx(0.0)
    assert out["green_space_ratio_pct"] == pytest.approx(
        15.0
    )  # the park; the plaza is not green land
    # entropy over the 8 000 m² with a class: 4000, 1000, 1000, 1500, 500
    p = [4000 / 8000, 1000 / 8000, 1000 / 8000, 1500 / 8000, 500 / 8000]
    h = -sum(x * math.log(x) for x in p)
    assert out["lu_mix_entropy"] == pytest.approx(h)
    assert out["lu_mix_index"] == pytest.approx(h / math.log(13))
    pct = [c for c in out.index if c.startswith("lu_") and c.endswith("_pct")]
    assert out[pct].sum() == pytest.approx(100.0)


def test_landuse_shares_without_community_codes_or_land(one_unit, mixed_faces):
    osm = landuse_shares(one_unit, mixed_faces, code_system="osm").loc["U"]
    assert np.isnan(
        osm["public_service_incl_community_pct"]
    )  # OSM cannot tell community-service land apart
    assert osm["public_service_pct"] == pytest.approx(10.0)
    far = gdf([{"unit_id": "V", "geometry": box(500, 500, 600, 600)}]).set_index("unit_id")
    empty = landuse_shares(far, mixed_faces).loc["V"]
    assert empty["lu_no_data_pct"] == pytest.approx(100.0) and empty["lu_unknown_pct"] == 0.0
    assert np.isnan(empty["lu_mix_entropy"]) and np.isnan(empty["lu_mix_index"])
    assert np.isnan(empty["industrial_residential_ratio"])
    single = landuse_shares(
        one_unit, landuse_faces(gdf([{"lu_class": "residential", "geometry": box(0, 0, 100, 100)}]))
    ).loc["U"]
    assert single["lu_mix_entropy"] == pytest.approx(0.0) and single[
        "lu_mix_index"
    ] == pytest.approx(0.0)


def test_every_overture_class_in_the_hong_kong_sample_maps():
    path = ROOT / "data/hongkong_kowloon/land_use.parquet"  # the shipped sample
    classes = pd.Series(gpd.read_parquet(path)["class"].dropna().unique())
    out = classify_codes(classes, "overture")
    missing = classes[out["lu_class"].isna()].tolist()
    assert not missing, f"Overture classes with no internal class: {missing}"
    assert (out["how"] == "code").all()
    assert len(classes) >= 30
