"""Land-use completeness (issue 15, item 5): lu_unknown_pct apart from lu_no_data_pct.

lu_unknown_pct is land of a code with no class (unknown, NULL, empty); lu_no_data_pct is land no parcel or
land-use polygon covers. NULL and empty codes are listed in the ledger.

Every expectation is worked out by hand from rectangle areas in a 1 km × 1 km unit (1 % = 10 000 m²).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from pyproj import CRS as ProjCRS

from ditan import indicators
from ditan.pipelines.assemble.parcels import _landuse, read_parcels
from ditan.pipelines.config.layer_source import ParcelSource
from ditan.spatial.indicators.landuse import (
    UNKNOWN_CLASS,
    landuse_faces,
    landuse_shares,
    with_unknown_parcels,
)
from ditan.spatial.io.validate import Ledger
from ditan.spatial.landuse.classes import LANDUSE_CLASSES
from tests.conftest import CRS, box, gdf


@pytest.fixture
def unit():
    return gdf([{"unit_id": "U", "geometry": box(0, 0, 1000, 1000)}]).set_index("unit_id")


def _read(tmp_path, rows):
    path = tmp_path / "parcels.gpkg"
    gdf(rows).to_file(path)
    ledger = Ledger()
    src = ParcelSource(path=path, code_column="YDDM", code_system="gb50137")
    return read_parcels(src, ProjCRS.from_user_input(CRS), ledger), ledger


#: R2 40 %, an unknown code 10 %, a NULL code 5 %; the top-right 45 % has no parcel
ROWS = [
    {"YDDM": "R2", "geometry": box(0, 0, 400, 1000)},  # 400 000 m²
    {"YDDM": "ZZ9", "geometry": box(400, 0, 500, 1000)},  # 100 000 m²
    {"YDDM": None, "geometry": box(500, 0, 550, 1000)},  # 50 000 m²
]


def _shares(unit, parcels):
    return landuse_shares(
        unit, landuse_faces(with_unknown_parcels(*_landuse_pair(parcels))), code_system="gb50137"
    ).loc["U"]


def _landuse_pair(parcels):
    known = parcels[parcels["lu_class"].notna()][["lu_class", "tag", "name", "geometry"]]
    return known.reset_index(drop=True), parcels


def test_unknown_null_and_no_data_are_separate_columns(tmp_path, unit):
    parcels, _ = _read(tmp_path, ROWS)
    out = _shares(unit, parcels)
    assert out["lu_residential_pct"] == pytest.approx(40.0)
    assert out["lu_unknown_pct"] == pytest.approx(10.0 + 5.0)  # ZZ9 + NULL
    assert out["lu_no_data_pct"] == pytest.approx(45.0)  # 100 − 40 − 10 − 5
    for c in LANDUSE_CLASSES:
        if c != "residential":
            assert out[f"lu_{c}_pct"] == 0.0
    # the 13 class shares + unknown + no data cover the unit
    pct = [f"lu_{c}_pct" for c in LANDUSE_CLASSES] + ["lu_unknown_pct", "lu_no_data_pct"]
    assert out[pct].sum() == pytest.approx(100.0)
    # the mix is over classified land only: one class → entropy 0
    assert out["lu_mix_entropy"] == pytest.approx(0.0)
    assert out["green_space_ratio_pct"] == 0.0


def test_mix_stays_over_classified_land(tmp_path, unit):
    # R2 30 %, G1 (park) 10 %, unknown code 10 %, empty code 5 %, 45 % uncovered
    rows = [
        {"YDDM": "R2", "geometry": box(0, 0, 300, 1000)},
        {"YDDM": "G1", "geometry": box(300, 0, 400, 1000)},
        {"YDDM": "ZZ9", "geometry": box(400, 0, 500, 1000)},
        {"YDDM": "", "geometry": box(500, 0, 550, 1000)},
    ]
    parcels, ledger = _read(tmp_path, rows)
    out = _shares(unit, parcels)
    assert out["lu_residential_pct"] == pytest.approx(30.0)
    assert out["lu_park_pct"] == pytest.approx(10.0)
    assert out["green_space_ratio_pct"] == pytest.approx(10.0)
    assert out["lu_unknown_pct"] == pytest.approx(15.0)
    assert out["lu_no_data_pct"] == pytest.approx(45.0)
    h = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))  # 30 : 10 of the classified 40 %
    assert out["lu_mix_entropy"] == pytest.approx(h)
    assert out["lu_mix_index"] == pytest.approx(h / math.log(13))
    why = ledger.to_frame().set_index("layer").loc["land-use parcels", "flagged_why"]
    assert "no land-use code: '' (1 parcels, 50,000 m²; counted as land without a class): 1" in why


def test_smallest_polygon_wins_for_an_unknown_code_too(tmp_path, unit):
    # a 100 m × 100 m parcel of unknown code inside a residential parcel of 500 m × 1000 m
    rows = [
        {"YDDM": "R2", "geometry": box(0, 0, 500, 1000)},
        {"YDDM": "ZZ9", "geometry": box(100, 100, 200, 200)},
    ]
    parcels, _ = _read(tmp_path, rows)
    out = _shares(unit, parcels)
    assert out["lu_residential_pct"] == pytest.approx(49.0)
    assert out["lu_unknown_pct"] == pytest.approx(1.0)
    assert out["lu_no_data_pct"] == pytest.approx(50.0)


def test_ledger_lists_the_unknown_code_and_the_null(tmp_path):
    parcels, ledger = _read(tmp_path, ROWS)
    assert parcels["lu_class"].isna().sum() == 2  # both kept, without a class
    q = ledger.to_frame().set_index("layer").loc["land-use parcels"]
    assert q["flagged"] == 2 and q["kept"] == 3 and q["balanced"]
    assert q["flagged_why"] == (
        "no land-use code: NULL (1 parcels, 50,000 m²; counted as land without a class): 1; "
        "unknown GB 50137-2011 code 'ZZ9' (1 parcels, 100,000 m²; counted as land without a class): 1"
    )


def test_loader_keeps_landuse_classified_and_faces_mark_unknown(tmp_path):
    path = tmp_path / "parcels.gpkg"
    gdf(ROWS).to_file(path)
    src = ParcelSource(path=path, code_column="YDDM", code_system="gb50137")
    landuse, parcels = _landuse(src, None, ProjCRS.from_user_input(CRS), Ledger())
    assert landuse["lu_class"].tolist() == ["residential"]
    faces = landuse_faces(with_unknown_parcels(landuse, parcels))
    area = faces.assign(a=faces.geometry.area).groupby("lu_class")["a"].sum()
    assert area.to_dict() == pytest.approx({"residential": 400_000.0, UNKNOWN_CLASS: 150_000.0})
    # without a parcel layer (OSM land use) nothing is added
    assert with_unknown_parcels(landuse, None) is landuse


def test_public_api_counts_null_codes_as_unknown(unit):
    parcels = gdf(
        [
            {"YDDM": "R2", "geometry": box(0, 0, 400, 1000)},
            {"YDDM": "ZZ9", "geometry": box(400, 0, 500, 1000)},
            {"YDDM": None, "geometry": box(500, 0, 550, 1000)},
        ]
    )
    lu = indicators.landuse_shares(unit, parcels, code_column="YDDM", code_system="gb50137")
    assert lu.loc["U", ["lu_residential_pct", "lu_unknown_pct", "lu_no_data_pct"]].tolist() == (
        pytest.approx([40.0, 15.0, 45.0])
    )
    note = next(n for n in lu.attrs["notes"] if "lu_unknown_pct" in n)
    assert "'NULL' (1)" in note and "'ZZ9' (1)" in note


def test_no_faces_at_all_is_all_no_data(unit):
    empty = landuse_faces(
        gdf([{"lu_class": "residential", "geometry": box(5000, 5000, 5001, 5001)}])
    )
    out = landuse_shares(unit, empty).loc["U"]
    assert out["lu_no_data_pct"] == pytest.approx(100.0) and out["lu_unknown_pct"] == 0.0
    assert np.isnan(out["lu_mix_entropy"])


def test_annex_land_use_legend_shows_both(tmp_path, unit):
    import matplotlib

    matplotlib.use("Agg")
    from types import SimpleNamespace

    import matplotlib.pyplot as plt

    from ditan.maps import annex_sheets

    parcels, _ = _read(tmp_path, ROWS)
    faces = landuse_faces(with_unknown_parcels(*_landuse_pair(parcels)))
    ind = _shares(unit, parcels).to_frame().T
    L = SimpleNamespace(landuse=faces, indicators=ind, reasons=None)
    fig, ax = plt.subplots()
    try:
        handles, _ = annex_sheets._landuse(ax, L, "U", unit.total_bounds)
    finally:
        plt.close(fig)
    labels = [h.get_label() for h in handles]
    assert labels == [
        "居住用地（本单元 40.0%）",
        "用地代码无法识别（本单元 15.0%）",
        "无用地信息（45.0%）",
    ]
