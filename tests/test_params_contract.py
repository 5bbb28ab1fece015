"""Explicit parameters and contracts at the boundaries of the computation.

- ComputeParams: built from the config once, the same defaults as the config;
- compute returns its ledger rows instead of changing the study area's ledger (Ledger.merged joins them);
- validate_study_area: the contract of a StudyArea, every breach listed at once;
- one formatter for the pydantic errors of configs, batch configs and profiles.

Expected counts are worked out by hand from the small layouts drawn in each test.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import yaml

from ditan.pipelines.assemble import load as load_module
from ditan.pipelines.assemble.load import load_study_area
from ditan.pipelines.compute.indicators import compute
from ditan.pipelines.config.batch import load_batch
from ditan.pipelines.config.life_circle import LifeCircleOptions
from ditan.pipelines.config.options import (
    AssessmentOptions,
    ParkOptions,
    RoadOptions,
    TransitOptions,
)
from ditan.pipelines.config.params import (
    ComputeParams,
    LifeCircleParams,
    TransitParams,
    params_from_config,
)
from ditan.pipelines.config.schema import parse_config
from ditan.spatial.errors import ConfigError, LayerError
from ditan.spatial.io.validate import Ledger
from ditan.spatial.standards.catalogue import load_catalogue
from ditan.spatial.standards.profiles import parse_profile
from ditan.spatial.study_area.contract import validate_study_area
from ditan.spatial.study_area.model import StudyArea
from tests.conftest import CRS, box, gdf, line, point

ROOT = Path(__file__).resolve().parents[1]


# --- ComputeParams -----------------------------------------------------------------------------


def test_default_params_are_the_config_defaults():
    d = ComputeParams()
    road, lc, tr, parks, a = (
        RoadOptions(),
        LifeCircleOptions(),
        TransitOptions(),
        ParkOptions(),
        AssessmentOptions(),
    )
    assert d.roads.include == tuple(road.include) and d.roads.divided == road.divided
    assert (d.roads.divided_max_gap_m, d.roads.junction_tolerance_m) == (
        road.divided_max_gap_m,
        road.junction_tolerance_m,
    )
    assert d.life_circle.walk_exclude == tuple(lc.walk_exclude)
    assert (d.life_circle.snap_max_m, d.life_circle.weight_by, d.life_circle.population_raster) == (
        lc.snap_max_m,
        lc.weight_by,
        None,
    )
    assert (
        d.life_circle.service_area_buffer_m,
        d.life_circle.service_areas,
        d.life_circle.service_area_max_pieces,
    ) == (lc.service_area_buffer_m, lc.service_areas, lc.service_area_max_pieces)
    assert d.transit.radius_m == tr.radius_m and d.transit.confirmed_absent == ()
    assert dataclasses.asdict(d.parks) == {
        k: getattr(parks, k) for k in dataclasses.asdict(d.parks)
    }
    assert dataclasses.asdict(d.assessment) == a.model_dump()


def _layers(d: Path, *, far_kindergarten: bool = True) -> None:
    """One 1 km unit A with a road across it at y = 500, a block 20 m north of it, kindergartens near and far.

    The kindergartens stand 10 m and (``far_kindergarten``) 300 m from the road.
    """
    gdf([{"uid": "A", "geometry": box(0, 0, 1000, 1000)}]).to_parquet(d / "units.parquet")
    gdf([{"hw": "residential", "geometry": line((0, 500), (1000, 500))}]).to_parquet(
        d / "roads.parquet"
    )
    gdf([{"use": "apartments", "fl": 6.0, "geometry": box(100, 520, 120, 540)}]).to_parquet(
        d / "b.parquet"
    )
    pois = [{"cat": "kindergarten", "geometry": point(150, 510)}]
    pois += [{"cat": "kindergarten", "geometry": point(150, 800)}] if far_kindergarten else []
    gdf(pois).to_parquet(d / "pois.parquet")


def _config(d: Path, **extra):
    return parse_config(
        {
            "name": "p",
            "inputs": {
                "units": {"path": "units.parquet", "id_column": "uid"},
                "roads": {"path": "roads.parquet", "class_column": "hw"},
                "buildings": {"path": "b.parquet", "type_column": "use", "floors_column": "fl"},
                "pois": {"path": "pois.parquet", "category_column": "cat"},
            },
            **extra,
        },
        base_dir=d,
    )


def test_params_carry_the_configured_values(tmp_path):
    _layers(tmp_path)
    cfg = _config(
        tmp_path,
        transit={"radius_m": 300, "confirmed_absent": ["metro"]},
        life_circle={
            "snap_max_m": 50,
            "confirmed_absent": ["hospital"],
            "walk_exclude": ["footway"],
        },
        roads={"include": ["residential"], "divided": False},
        parks={"small_radius_m": 250},
    )
    p = params_from_config(cfg)
    assert p == ComputeParams(
        roads=dataclasses.replace(ComputeParams().roads, include=("residential",), divided=False),
        life_circle=LifeCircleParams(
            walk_exclude=("footway",), snap_max_m=50.0, confirmed_absent=("hospital",)
        ),
        transit=TransitParams(radius_m=300.0, confirmed_absent=("metro",)),
        parks=dataclasses.replace(ComputeParams().parks, small_radius_m=250.0),
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.transit.radius_m = 500.0  # type: ignore[misc]


# --- compute returns its ledger rows ------------------------------------------------------------


def test_compute_leaves_the_study_areas_ledger_alone(tmp_path):
    _layers(tmp_path)
    cfg = _config(tmp_path)
    sa = load_study_area(cfg)
    before = sa.ledger.to_frame()
    first = compute(sa, params_from_config(cfg))
    second = compute(sa, params_from_config(cfg))
    pd.testing.assert_frame_equal(
        sa.ledger.to_frame(), before
    )  # not one row added or changed, twice over
    for res in (first, second):  # the same rows each time: nothing piles up
        fac = res.ledger.records["walk-network snapping: facilities and stations"]
        # 2 kindergartens (no stations): the one 10 m from the road snaps, the one 300 m away is beyond 100 m
        assert (fac.read, fac.kept, fac.dropped_total) == (2, 1, 1)
        homes = res.ledger.records["walk-network snapping: residential origins"]
        assert (homes.read, homes.kept, homes.dropped_total) == (
            1,
            1,
            0,
        )  # the one block, 20 m from the road
        assert (
            "roads" not in res.ledger.records
        )  # the loader's rows stay in the study area's ledger
        # every category but the kindergarten has no facility in any source: a data gap each, named by compute
        missing = {
            f"life-circle category {c.id} {c.zh}"
            for c in sa.catalogue.categories.values()
            if c.id != "kindergarten"
        }
        assert missing <= set(res.ledger.gaps) and not missing & set(sa.ledger.gaps)
    merged = sa.ledger.merged(
        first.ledger
    )  # data_quality.csv: the loader's layers and gaps first, then compute's
    assert list(merged.records)[: len(sa.ledger.records)] == list(sa.ledger.records)
    assert list(merged.gaps)[: len(sa.ledger.gaps)] == list(sa.ledger.gaps)
    assert (
        merged.to_frame()
        .set_index("layer")
        .loc["walk-network snapping: facilities and stations", "dropped"]
        == 1
    )


def test_ledger_merge_sums_layers_and_adds_up_gap_columns():
    a, b = Ledger(), Ledger()
    ra = a.layer("units")
    ra.read, ra.kept = 3, 2
    ra.dropped["no geometry"] += 1
    ra.note = "from the file"
    a.gap("layer buildings", "add buildings", ["far_ratio"])
    rb = b.layer("units")
    rb.flagged["partly outside"] += 2
    rb.note = "measured inside"
    b.layer("walk-network snapping: residential origins").read = 5
    b.gap("layer buildings", "another fix", ["building_density_pct", "far_ratio"])
    b.gap("station kind metro", "add stations", ["metro_station_count"])
    m = a.merged(b)
    u = m.records["units"]
    assert (u.read, u.kept, dict(u.dropped), dict(u.flagged)) == (
        3,
        2,
        {"no geometry": 1},
        {"partly outside": 2},
    )
    assert u.note == "from the file; measured inside"
    assert list(m.records) == ["units", "walk-network snapping: residential origins"]
    assert (
        m.gaps["layer buildings"].fix == "add buildings"
    )  # the first fix stays, the columns add up
    assert m.gaps["layer buildings"].columns == ("far_ratio", "building_density_pct")
    assert list(m.gaps) == ["layer buildings", "station kind metro"]
    assert a.records["units"].flagged == {} and len(a.gaps) == 1  # the inputs are not changed
    assert b.records["units"].read == 0


# --- the StudyArea contract -----------------------------------------------------------------------


def _study_area() -> StudyArea:
    units = gdf([{"unit_id": "A", "name": "甲", "geometry": box(0, 0, 1000, 1000)}]).set_index(
        "unit_id"
    )
    empty_lu = gpd.GeoDataFrame({"lu_class": [], "tag": [], "name": []}, geometry=[], crs=CRS)
    buildings = gdf(
        [
            {
                "building": "yes",
                "floors": 3.0,
                "floors_source": "levels",
                "residential": True,
                "name": None,
                "geometry": box(10, 10, 30, 30),
            }
        ]
    )
    return StudyArea(
        crs=units.crs,
        bounds=box(0, 0, 1000, 1000),
        units=units,
        roads=gdf(
            [{"highway": "residential", "name": "路", "geometry": line((0, 500), (1000, 500))}]
        ),
        buildings=buildings,
        landuse=empty_lu,
        vegetation=gpd.GeoDataFrame({"tag": []}, geometry=[], crs=CRS),
        facilities=gdf([{"category": "kindergarten", "name": "园", "geometry": point(150, 510)}]),
        stations=gpd.GeoDataFrame({"kind": [], "name": []}, geometry=[], crs=CRS),
        catalogue=load_catalogue(),
        ledger=Ledger(),
    )


def test_a_study_area_that_keeps_the_contract_passes():
    sa = _study_area()
    assert validate_study_area(sa) is sa


def test_every_breach_of_the_contract_is_listed_at_once():
    sa = _study_area()
    bad = dataclasses.replace(
        sa,
        units=gdf(
            [
                {"unit_id": 1, "name": "a", "geometry": box(0, 0, 10, 10)},
                {"unit_id": 1, "name": "b", "geometry": point(5, 5)},
            ]
        ).set_index("unit_id"),
        roads=sa.roads.to_crs(4326),
        buildings=sa.buildings.drop(columns=["floors"]).assign(residential="yes"),
        facilities=sa.facilities.assign(category="casino"),
    )
    with pytest.raises(LayerError, match=r"7 problem\(s\)") as err:
        validate_study_area(bad)
    msg = str(err.value)
    for part in (
        "layer units: 1 feature(s) not polygonal (Point)",
        "layer roads: CRS WGS 84, not the study CRS",
        "layer buildings: missing column(s) floors",
        "layer buildings: column residential must be boolean",
        "unit ids (the index) must be text, not integer",
        "unit ids must be unique; repeated: 1",
        "layer facilities: category values not in the catalogue's categories: casino",
    ):
        assert part in msg, (part, msg)


def test_a_geographic_study_crs_breaks_the_contract():
    sa = _study_area()
    wgs = dataclasses.replace(sa, crs=sa.roads.to_crs(4326).crs)
    with pytest.raises(LayerError, match=r"crs: WGS 84 is not projected"):
        validate_study_area(wgs)


def test_the_loader_validates_what_it_assembles(tmp_path, monkeypatch):
    _layers(tmp_path, far_kindergarten=False)
    seen = []
    monkeypatch.setattr(load_module, "validate_study_area", lambda sa: seen.append(sa) or sa)
    sa = load_study_area(_config(tmp_path))
    assert seen == [sa]


# --- one formatter for configs, batch configs and profiles ------------------------------------------


def _lines(msg: str) -> list[str]:
    return [line.removeprefix("  - ") for line in msg.splitlines()[1:]]


def test_config_errors_name_the_key_with_a_hint(tmp_path):
    _layers(tmp_path)
    with pytest.raises(ConfigError) as err:
        _config(
            tmp_path,
            life_circle={
                "extra_categories": [{"id": "x", "tier": "15min", "zh": "x", "en": "x", "tierr": 1}]
            },
            transit={"radius_m": -1},
        )
    assert (
        _lines(str(err.value))
        == [
            "life_circle.extra_categories.0.tierr: Extra inputs are not permitted — did you mean 'tier'?",  # inside a list item
            "transit.radius_m: Input should be greater than 0 — write a number of metres (default: 500)",
        ]
    )
    assert str(err.value).startswith("2 problem(s) in config:")


def test_batch_errors_use_the_same_formatter(tmp_path):
    path = tmp_path / "b.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "areas": [
                    {"config": str(ROOT / "pipelines/configs/beijing_haidian.yaml"), "nmae": "x"}
                ]
            }
        ),
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as err:
        load_batch(path)
    assert str(err.value).startswith(f"2 problem(s) in batch config {path}:")
    assert _lines(str(err.value)) == [
        "name: Field required — this key is required",
        "areas.0.nmae: Extra inputs are not permitted — did you mean 'name'?",
    ]


def test_profile_errors_use_the_same_formatter():
    rule = {
        "id": "r1",
        "indicator": "far_ratio",
        "zh": "容积率",
        "comparator": ">=",
        "target": 1,
        "binding": "binding",
        "source": "s",
        "clause": "c",
    }
    data = {
        "id": "p",
        "zh": "方案",
        "source": "s",
        "rules": [{**rule, "bindng": "x"}, {**rule, "id": "r2", "colour": "red"}],
    }
    with pytest.raises(ConfigError) as err:
        parse_profile(data, source="'p'")
    lines = _lines(str(err.value))
    assert str(err.value).startswith("2 problem(s) in profile 'p':")
    assert lines[0] == "rules.0.bindng: Extra inputs are not permitted — did you mean 'binding'?"
    assert lines[1].startswith(
        "rules.1.colour: Extra inputs are not permitted — unknown key; known keys: id, indicator, zh"
    )


def test_one_formatter_reads_pydantic_errors():
    """Only ditan.spatial.errors walks a ValidationError's errors(); every loader goes through it."""
    callers = [
        p.relative_to(ROOT)
        for folder in ("spatial", "pipelines", "maps")
        for p in (ROOT / folder).rglob("*.py")
        if ".errors()" in p.read_text(encoding="utf-8")
    ]
    assert callers == [Path("spatial/errors.py")]
