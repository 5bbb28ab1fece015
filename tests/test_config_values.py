"""Every config value is checked before any work: finite distances, tier ids and order, map.color_by, bounds.

The bounds' overlap with the data and the units is checked when the layers are read (and by check-config
from the extents the files store); the metric CRS is chosen from the units' centre when units are given.
Expected values are worked out by hand in each test (tier distances from the packaged catalogue file,
Gauss–Krüger zones from the central meridian, extents by pyproj from the fixture's corners).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import shapely
import yaml
from pyproj import Transformer

from ditan.pipelines.assemble.crop import reach_m
from ditan.pipelines.assemble.load import load_study_area
from ditan.pipelines.assemble.place import check_bounds_overlap, study_crs
from ditan.pipelines.config.params import params_from_config
from ditan.pipelines.config.schema import load_config, parse_config
from ditan.spatial.errors import ConfigError
from tests.conftest import X0, Y0, gdf, line

ROOT = Path(__file__).resolve().parents[1]
PBF = ROOT / "data" / "beijing_haidian_tsinghua" / "map.osm.pbf"
UNITS_GPKG = ROOT / "data" / "beijing_haidian_tsinghua" / "units.gpkg"
BEIJING = [116.3084, 39.9905, 116.3320, 40.0123]
SHANGHAI = [121.40, 31.20, 121.45, 31.25]

CUSTOM_CATALOGUE = """\
tiers:
  near: {distance_m: 300, zh: 近, en: near}
  mid: {distance_m: 600, zh: 中, en: middle}
  far: {distance_m: 1200, zh: 远, en: far}
categories:
  - {id: kindergarten, tier: near, zh: 幼儿园, en: Kindergarten, match: [{amenity: kindergarten}]}
  - {id: school, tier: mid, zh: 小学, en: Primary school, match: [{amenity: school}]}
  - {id: hospital, tier: far, zh: 医院, en: Hospital, match: [{amenity: hospital}]}
"""


def _yaml(folder: Path, text: str) -> Path:
    """A config: the Beijing OSM sample plus ``text`` (YAML, so .nan and .inf are YAML's own)."""
    path = folder / "config.yaml"
    path.write_text(f"name: values\ninputs:\n  osm:\n    path: {PBF}\n{text}", encoding="utf-8")
    return path


def _problems(msg: str) -> dict[str, str]:
    """The '  - key.path: message' lines of a ConfigError, keyed by path."""
    return dict(re.findall(r"^  - (\S+): (.*)$", msg, flags=re.MULTILINE))


def _refused(folder: Path, text: str) -> dict[str, str]:
    with pytest.raises(ConfigError) as exc:
        load_config(_yaml(folder, text))
    return _problems(str(exc.value))


def _parse(folder: Path, **data) -> object:
    return parse_config(
        {"name": "values", "inputs": {"osm": {"path": str(PBF)}}, **data}, base_dir=folder
    )


# --- finite, positive numbers -----------------------------------------------------------------

#: (section, key, YAML nesting) of numbers that must be finite and above 0
POSITIVE = [
    ("life_circle", "tiers_m.15min"), ("life_circle", "snap_max_m"), ("life_circle", "service_area_buffer_m"),
    ("transit", "radius_m"), ("parks", "large_radius_m"), ("parks", "small_radius_m"), ("parks", "large_min_area_m2"),
    ("roads", "divided_max_gap_m"), ("units", "min_area_m2"), ("units", "max_area_m2"), ("buildings", "storey_height_m"),
    ("buildings", "default_floors.residential"),
]  # fmt: skip
#: numbers that must be finite and at least 0 (0: off)
NON_NEGATIVE = [("roads", "junction_tolerance_m"), ("units", "min_width_m")]


def _nested(section: str, key: str, value: str) -> str:
    head, _, leaf = key.rpartition(".")
    return (
        f"{section}:\n  {head}: {{{leaf}: {value}}}\n"
        if head
        else f"{section}:\n  {key}: {value}\n"
    )


@pytest.mark.parametrize("section,key", POSITIVE + NON_NEGATIVE, ids=lambda v: str(v))
@pytest.mark.parametrize("value", [".nan", ".inf", "-.inf"])
def test_nan_and_inf_refused_with_the_key_path(tmp_path, section, key, value):
    problems = _refused(tmp_path, _nested(section, key, value))
    msg = problems[f"{section}.{key}"]
    assert "finite number" in msg and ".nan and .inf are not values" in msg


@pytest.mark.parametrize("section,key", POSITIVE, ids=lambda v: str(v))
@pytest.mark.parametrize("value", ["-1", "0"])
def test_zero_and_negative_refused(tmp_path, section, key, value):
    problems = _refused(tmp_path, _nested(section, key, value))
    assert "greater than 0" in problems[f"{section}.{key}"]


@pytest.mark.parametrize("section,key", NON_NEGATIVE, ids=lambda v: str(v))
def test_zero_allowed_where_it_means_off(tmp_path, section, key):
    cfg = load_config(_yaml(tmp_path, _nested(section, key, "0")))
    assert getattr(getattr(cfg, section), key) == 0
    assert (
        "greater than or equal to 0"
        in _refused(tmp_path, _nested(section, key, "-1"))[f"{section}.{key}"]
    )


def test_hint_names_the_unit_and_the_default(tmp_path):
    problems = _refused(tmp_path, "transit:\n  radius_m: .nan\nlife_circle:\n  snap_max_m: 0\n")
    assert problems["transit.radius_m"].endswith(
        "— write a number of metres (default: 500); .nan and .inf are not values"
    )
    assert problems["life_circle.snap_max_m"].endswith("— write a number of metres (default: 100)")


def test_every_problem_listed_at_once(tmp_path):
    problems = _refused(
        tmp_path,
        "transit:\n  radius_m: .inf\nlife_circle:\n  tiers_m: {15min: .nan, 5min: -1}\nparks:\n  small_radius_m: 0\n",
    )
    assert set(problems) == {
        "transit.radius_m",
        "life_circle.tiers_m.15min",
        "life_circle.tiers_m.5min",
        "parks.small_radius_m",
    }


def test_screening_weight_inf_refused(tmp_path):
    assert (
        "finite number"
        in _refused(tmp_path, "screening:\n  weights: {far_ratio: .inf}\n")[
            "screening.weights.far_ratio"
        ]
    )


def test_area_ranges_consistent(tmp_path):
    problems = _refused(tmp_path, "units: {min_area_m2: 50000, max_area_m2: 30000}\n")
    assert "must be larger than min_area_m2 (50000)" in problems["units.max_area_m2"]
    problems = _refused(tmp_path, "parks: {small_min_area_m2: 6000, large_min_area_m2: 5000}\n")
    assert "must not exceed large_min_area_m2 (5000)" in problems["parks.small_min_area_m2"]


# --- life-circle tiers ------------------------------------------------------------------------


def test_default_tiers_are_the_packaged_catalogue_distances(tmp_path):
    # spatial/standards/life_circle.yaml: 5min 300, 10min 500, 15min 1000 (GB 50180-2018 4.0.1)
    assert load_config(_yaml(tmp_path, "")).life_circle.tiers_m == {
        "5min": 300.0,
        "10min": 500.0,
        "15min": 1000.0,
    }


def test_override_of_one_tier_keeps_the_others(tmp_path):
    cfg = load_config(_yaml(tmp_path, "life_circle:\n  tiers_m: {15min: 800}\n"))
    assert cfg.life_circle.tiers_m == {"5min": 300.0, "10min": 500.0, "15min": 800.0}
    assert cfg.life_circle.load_catalogue().tiers["15min"].distance_m == 800.0


@pytest.mark.parametrize(
    "tiers,listing",
    [
        ("{15min: 400}", "5min 300 m, 10min 500 m, 15min 400 m"),
        ("{10min: 300}", "5min 300 m, 10min 300 m, 15min 1000 m"),  # equal is not increasing
        ("{5min: 1000, 15min: 300}", "5min 1000 m, 10min 500 m, 15min 300 m"),
    ],
)
def test_tiers_must_increase(tmp_path, tiers, listing):
    msg = _refused(tmp_path, f"life_circle:\n  tiers_m: {tiers}\n")["life_circle.tiers_m"]
    assert "must increase in the catalogue's tier order" in msg and msg.endswith(listing)


def test_unknown_tier_id_did_you_mean(tmp_path):
    problems = _refused(tmp_path, "life_circle:\n  tiers_m: {15mins: 800}\n")
    msg = problems["life_circle.tiers_m.15mins"]
    assert "'15mins' is not a tier of the packaged catalogue" in msg
    assert "did you mean '15min'?" in msg and "its tiers: 5min, 10min, 15min" in msg


def test_extra_category_tier_must_be_known(tmp_path):
    text = "life_circle:\n  extra_categories: [{id: canteen, tier: 20min, zh: 食堂, en: Canteen, match: [{amenity: canteen}]}]\n"
    msg = _refused(tmp_path, text)["life_circle.extra_categories.0.tier"]
    assert "'20min' is not a tier" in msg and "5min, 10min, 15min" in msg


def test_custom_catalogue_with_its_own_tier_ids(tmp_path):
    (tmp_path / "cat.yaml").write_text(CUSTOM_CATALOGUE, encoding="utf-8")
    cfg = load_config(
        _yaml(tmp_path, "life_circle:\n  catalogue: cat.yaml\nmap:\n  color_by: lc_far_all_pct\n")
    )
    assert cfg.life_circle.tiers_m == {
        "near": 300.0,
        "mid": 600.0,
        "far": 1200.0,
    }  # the file's distances
    cfg = load_config(
        _yaml(tmp_path, "life_circle:\n  catalogue: cat.yaml\n  tiers_m: {far: 1500}\n")
    )
    assert cfg.life_circle.tiers_m == {"near": 300.0, "mid": 600.0, "far": 1500.0}
    # the packaged tier ids are not this catalogue's
    problems = _refused(tmp_path, "life_circle:\n  catalogue: cat.yaml\n  tiers_m: {15min: 800}\n")
    assert "is not a tier of the catalogue cat.yaml" in problems["life_circle.tiers_m.15min"]
    assert "its tiers: near, mid, far" in problems["life_circle.tiers_m.15min"]
    problems = _refused(
        tmp_path, "life_circle:\n  catalogue: cat.yaml\nmap:\n  color_by: lc_15min_all_pct\n"
    )
    assert "'lc_15min_all_pct' is not a numeric unit column of this run" in problems["map.color_by"]
    problems = _refused(tmp_path, "life_circle:\n  catalogue: cat.yaml\n  tiers_m: {mid: 1300}\n")
    assert problems["life_circle.tiers_m"].endswith("near 300 m, mid 1300 m, far 1200 m")


def test_unreadable_catalogue_refused(tmp_path):
    (tmp_path / "cat.yaml").write_text(
        "tiers:\n  near: {zh: 近, en: near}\ncategories: []\n", encoding="utf-8"
    )  # no distance_m
    assert (
        "cannot be read"
        in _refused(tmp_path, "life_circle:\n  catalogue: cat.yaml\n")["life_circle.catalogue"]
    )


# --- map.color_by -----------------------------------------------------------------------------


def test_color_by_typo_did_you_mean(tmp_path):
    problems = _refused(tmp_path, "map:\n  color_by: lc_15min_al_pct\n")
    assert (
        problems["map.color_by"]
        == "'lc_15min_al_pct' is not a numeric unit column of this run; did you mean 'lc_15min_all_pct'?"
    )
    assert (
        "did you mean 'road_density_km_per_km2'?"
        in _refused(tmp_path, "map:\n  color_by: road_densty\n")["map.color_by"]
    )


def test_color_by_columns_of_this_run(tmp_path):
    for column in (
        "far_ratio",
        "lc_kindergarten_pct",
        "lc_10min_score_pct",
        "bus_stop_500m_network_pct",
    ):
        assert load_config(_yaml(tmp_path, f"map:\n  color_by: {column}\n")).map.color_by == column
    # proximity columns carry the configured radius
    cfg = load_config(
        _yaml(tmp_path, "transit:\n  radius_m: 400\nmap:\n  color_by: bus_stop_400m_radius_pct\n")
    )
    assert cfg.map.color_by == "bus_stop_400m_radius_pct"
    msg = _refused(
        tmp_path, "transit:\n  radius_m: 400\nmap:\n  color_by: bus_stop_500m_radius_pct\n"
    )["map.color_by"]
    assert "did you mean 'bus_stop_400m_radius_pct'?" in msg
    # a text column cannot colour a map
    assert "map.color_by" in _refused(tmp_path, "map:\n  color_by: far_source\n")


# --- bounds -----------------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["top", "osm"])
def test_swapped_bounds_named_with_the_fix(tmp_path, where):
    box = [39.99, 116.30, 40.01, 116.33]  # [south, west, north, east] of Wudaokou
    data = (
        {"bounds": box}
        if where == "top"
        else {"inputs": {"osm": {"path": str(PBF), "bounds": box}}}
    )
    with pytest.raises(ConfigError) as exc:
        _parse(tmp_path, **data)
    msg = _problems(str(exc.value))["bounds" if where == "top" else "inputs.osm.bounds"]
    assert (
        "look like [south, west, north, east] (a latitude cannot exceed 90°): write [116.3, 39.99, 116.33, 40.01]"
        in msg
    )


def test_swapped_bounds_beyond_84_degrees(tmp_path):
    # Urumqi written [south, west, north, east]: read as given it lies at 87.5° N, where no town is
    with pytest.raises(
        ConfigError, match=r"beyond latitude 84°.*write \[87\.5, 43\.7, 87\.7, 43\.9\]"
    ):
        _parse(tmp_path, bounds=[43.7, 87.5, 43.9, 87.7])
    assert _parse(tmp_path, bounds=[11.5, 48.1, 11.6, 48.2]).bounds == (
        11.5,
        48.1,
        11.6,
        48.2,
    )  # Munich: both readings valid


@pytest.mark.parametrize(
    "box,text",
    [
        ([-190, 10, 20, 30], "out of range: longitudes (west, east) lie in −180…180"),
        ([10, 20, 190, 30], "out of range"),
        ([440000, 4428000, 441000, 4429000], "are not degrees (metres of a projected CRS?)"),
        (
            [116.33, 39.99, 116.30, 40.01],
            "(here west 116.33 ≥ east 116.3); did you mean [116.3, 39.99, 116.33, 40.01]?",
        ),
        ([116.30, 40.01, 116.33, 40.01], "(here south 40.01 ≥ north 40.01)"),
    ],
)
def test_bounds_out_of_range_or_unordered(tmp_path, box, text):
    with pytest.raises(ConfigError) as exc:
        _parse(tmp_path, inputs={"osm": {"path": str(PBF), "bounds": box}})
    assert text in _problems(str(exc.value))["inputs.osm.bounds"]


def test_bounds_nan_refused(tmp_path):
    problems = _refused(tmp_path, "bounds: [.nan, 39.99, 116.33, 40.01]\n")
    assert "finite number" in problems["bounds.0"]
    text = (
        f"name: values\ninputs:\n  osm:\n    path: {PBF}\n    bounds: [116.3, 39.99, .inf, 40.01]\n"
    )
    (tmp_path / "c.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(
        ConfigError,
        match=r"inputs\.osm\.bounds: \[116\.3, 39\.99, inf, 40\.01\]: write four finite numbers",
    ):
        load_config(tmp_path / "c.yaml")


# --- at load time: bounds against the data, the CRS from the units ------------------------------


def _layers(folder: Path, crs: str = "EPSG:4548", units=None, roads=None) -> dict:
    """units.parquet (one 1 km unit), roads.parquet (one road across it) and an empty b.parquet; the inputs of a config."""
    units = (
        units
        if units is not None
        else gdf([{"uid": "A", "geometry": shapely.box(X0, Y0, X0 + 1000, Y0 + 1000)}])
    )
    roads = (
        roads
        if roads is not None
        else gdf([{"hw": "residential", "geometry": line((0, 500), (1000, 500))}])
    )
    units.to_crs(crs).to_parquet(folder / "units.parquet")
    roads.to_crs(crs).to_parquet(folder / "roads.parquet")
    gpd.GeoDataFrame({"use": pd.Series([], dtype=str)}, geometry=[], crs=crs).to_parquet(
        folder / "b.parquet"
    )
    return {
        "units": {"path": "units.parquet", "id_column": "uid"},
        "roads": {"path": "roads.parquet", "class_column": "hw"},
        "buildings": {"path": "b.parquet", "type_column": "use"},
    }


def _deg(x: float, y: float) -> tuple[float, float]:
    return Transformer.from_crs("EPSG:4548", "EPSG:4326", always_xy=True).transform(x, y)


def test_bounds_far_from_the_data_stop_the_run(tmp_path):
    cfg = parse_config(
        {"name": "far", "bounds": SHANGHAI, "inputs": _layers(tmp_path)}, base_dir=tmp_path
    )
    with pytest.raises(ConfigError) as exc:
        load_study_area(cfg)
    msg = str(exc.value)
    assert "\n" not in msg
    head = re.match(
        r"bounds \[121\.4000, 31\.2000, 121\.4500, 31\.2500\] overlap neither the data nor the units: "
        r"roads \(roads\.parquet\) \[(.*?)\]; units \(units\.parquet\) \[(.*?)\]; check the numbers",
        msg,
    )
    assert head, msg
    # the units' extent: the fixture's corners taken to degrees by pyproj
    (w, s), (e, n) = _deg(X0, Y0), _deg(X0 + 1000, Y0 + 1000)
    got = [float(v) for v in head.group(2).split(", ")]
    assert got == pytest.approx([w, s, e, n], abs=2e-4)  # printed to 4 decimals
    got = [float(v) for v in head.group(1).split(", ")]
    assert got[0] == pytest.approx(_deg(X0, Y0 + 500)[0], abs=2e-4) and got[2] == pytest.approx(
        _deg(X0 + 1000, Y0 + 500)[0], abs=2e-4
    )


def test_bounds_overlapping_the_units_pass(tmp_path):
    (w, s), (e, n) = _deg(X0 + 200, Y0 + 200), _deg(X0 + 800, Y0 + 800)
    cfg = parse_config(
        {"name": "near", "bounds": [w, s, e, n], "inputs": _layers(tmp_path)}, base_dir=tmp_path
    )
    assert load_study_area(cfg).crs.to_epsg() == 4548


def test_swapped_reading_that_would_overlap_is_named(tmp_path):
    # Munich's data, bounds written [south, west, north, east]: both readings are valid degrees
    cfg = _parse(tmp_path, bounds=[48.1, 11.5, 48.2, 11.6])
    with pytest.raises(
        ConfigError,
        match=r"^bounds \[48\.1000, 11\.5000, 48\.2000, 11\.6000\] do not overlap the data: "
        r"roads \[11\.5200, 48\.1200, 11\.5800, 48\.1800\]; read as \[south, west, north, east\] they would "
        r"overlap: write \[11\.5000, 48\.1000, 11\.6000, 48\.2000\]$",
    ):
        check_bounds_overlap(cfg, {"roads": (11.52, 48.12, 11.58, 48.18)}, {})
    check_bounds_overlap(cfg, {"roads": None}, {"units": None})  # nothing known: nothing to say


def test_check_config_refuses_bounds_far_from_the_units(tmp_path):
    # the units file stores its extent (GeoPackage): check-config compares it without reading the features
    path = tmp_path / "far.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "name": "far",
                "bounds": SHANGHAI,
                "inputs": {
                    "osm": {"path": str(PBF)},
                    "units": {"path": str(UNITS_GPKG), "id_column": "unit_id"},
                },
            }
        ),
        encoding="utf-8",
    )
    res = _ditan("check-config", path)
    assert res.returncode == 2, res.stderr
    assert (
        "bounds [121.4000, 31.2000, 121.4500, 31.2500] do not overlap the units: units (units.gpkg) [116.3084, 39.9905"
        in res.stderr
    )
    assert "Traceback" not in res.stderr


def test_check_config_lists_value_problems_exit_2(tmp_path):
    path = _yaml(
        tmp_path,
        "bounds: [39.99, 116.30, 40.01, 116.33]\ntransit:\n  radius_m: .nan\nlife_circle:\n"
        "  tiers_m: {15mins: 800}\nmap:\n  color_by: road_densty\n",
    )
    res = _ditan("check-config", path)
    assert res.returncode == 2, res.stderr
    text = " ".join(res.stderr.split())  # the console wraps long lines
    for part in (
        "4 problem(s)",
        "bounds: [39.99, 116.3, 40.01, 116.33] look like [south, west, north, east]",
        "transit.radius_m: Input should be a finite number",
        "life_circle.tiers_m.15mins:",
        "did you mean '15min'?",
        "map.color_by: 'road_densty' is not a numeric unit column of this run; did you mean 'road_density_km_per_km2'?",
    ):
        assert part in text, part
    assert "Traceback" not in res.stderr


def _ditan(*args: object) -> subprocess.CompletedProcess:
    script = Path(sys.executable).with_name("ditan")
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "ditan.pipelines.cli"]
    return subprocess.run(
        [*cmd, *map(str, args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
        env={**os.environ, "COLUMNS": "500", "NO_COLOR": "1", "PYTHONIOENCODING": "utf-8"},
    )


def test_crs_from_the_units_centre(tmp_path):
    # units and roads around 119.6° E, 32.0° N (Yangzhou); the bounds' centre is 118° E
    units = gpd.GeoDataFrame(
        {"uid": ["A"]}, geometry=[shapely.box(119.59, 31.99, 119.61, 32.01)], crs=4326
    )
    roads = gpd.GeoDataFrame(
        {"hw": ["residential"]},
        geometry=[shapely.LineString([(119.59, 32.0), (119.61, 32.0)])],
        crs=4326,
    )
    inputs = _layers(tmp_path, crs="EPSG:4326", units=units, roads=roads)
    # by hand: centre 119.6° E → the nearest 3° central meridian is 120° E (119.6 / 3 = 39.87 → 40 × 3);
    # CGCS2000 3° GK CM 75E is EPSG:4534, one code per 3°: 4534 + (120 − 75) / 3 = 4549
    cfg = parse_config(
        {"name": "yz", "bounds": [115.0, 30.0, 121.0, 34.0], "inputs": inputs}, base_dir=tmp_path
    )
    sa = load_study_area(cfg)
    assert sa.crs.to_epsg() == 4549
    # without units, the bounds' centre: 118° E → 118 / 3 = 39.33 → 39 × 3 = 117° E → 4534 + 14 = 4548
    assert study_crs(cfg, None, None, roads).to_epsg() == 4548
    # the config's crs comes first
    cfg = parse_config(
        {"name": "yz", "crs": "EPSG:32650", "bounds": [115.0, 30.0, 121.0, 34.0], "inputs": inputs},
        base_dir=tmp_path,
    )
    assert study_crs(cfg, None, units, roads).to_epsg() == 32650


def test_custom_catalogue_reaches_the_loaded_study_area(tmp_path):
    (tmp_path / "cat.yaml").write_text(CUSTOM_CATALOGUE, encoding="utf-8")
    cfg = parse_config(
        {
            "name": "custom",
            "inputs": _layers(tmp_path),
            "life_circle": {"catalogue": "cat.yaml", "tiers_m": {"far": 1500}},
        },
        base_dir=tmp_path,
    )
    sa = load_study_area(cfg)
    assert {k: t.distance_m for k, t in sa.catalogue.tiers.items()} == {
        "near": 300.0,
        "mid": 600.0,
        "far": 1500.0,
    }
    # reach: the longest distance (far 1500) + snapping at both ends (2 × 100) + the service-area buffer (25) + 50 m
    assert reach_m(params_from_config(cfg), sa.catalogue) == 1500 + 200 + 25 + 50
