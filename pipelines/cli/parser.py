"""The `ditan` command line's arguments: the parser of every command and its options."""

from __future__ import annotations

import argparse
from pathlib import Path

#: `ditan run` without a config: the Beijing sample (its packaged config, runnable from any folder of a checkout)
DEFAULT_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "beijing_haidian.yaml"


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("ditan")
    except metadata.PackageNotFoundError:  # a source tree on sys.path, not installed
        return "unknown (not installed)"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="ditan",
        description="ditan 低碳: measure communities against the spatial indicators of low-carbon and "
        "green community programmes (road density, FAR, land use, green space, life circles, transit).",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="show debug messages")
    p.add_argument("--version", action="version", version=f"ditan {_version()}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    r = sub.add_parser(
        "run",
        help="compute every indicator per unit and write tables and a map",
        description="Load the inputs named in CONFIG, compute every indicator family per unit, and write "
        "indicators.csv/.xlsx, communities.gpkg, service_areas.gpkg, map.html, data_quality.csv and manifest.json.",
    )
    r.add_argument(
        "config",
        nargs="?",
        type=Path,
        default=DEFAULT_CONFIG,
        help="YAML config (default: the Beijing sample, pipelines/configs/beijing_haidian.yaml)",
    )
    r.add_argument(
        "--sample",
        default=None,
        metavar="NAME",
        help="run a packaged sample instead of CONFIG: beijing, hongkong, beijing_land_sale, batch",
    )
    _out(r, "output folder (default: out/<name>/)", None)
    _no_wait(r)
    r.add_argument(
        "-q", "--quiet", action="store_true", help="no progress display or summary table"
    )
    r.add_argument(
        "--scenario",
        type=Path,
        default=None,
        metavar="FILE",
        help="what-if scenario (GeoPackage, GeoJSON or CSV with x/y; rows: action add|remove, layer "
        "facility|station|parcel, …), or a plan file (YAML: measures: rooftop_pv_share, green_building_share, "
        "district_heating_to_heat_pump_share …, and changes: FILE) that also gives the CO2 reduction rate: writes "
        "scenario_comparison.csv, scenario.xlsx and scenario_indicators.csv (and scenario_carbon.csv)",
    )
    r.add_argument(
        "--refresh-osm",
        action="store_true",
        help="fetch inputs.osm place or bbox from Overpass again, even when cached (as inputs.osm.refresh: true)",
    )
    par = r.add_mutually_exclusive_group()
    par.add_argument(
        "--workers",
        type=_count,
        default=None,
        metavar="N",
        help="batch config (areas:): run the areas on a local dask cluster of N worker processes (default: one after another)",
    )
    par.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="batch config (areas:): run the areas on a running dask scheduler, e.g. tcp://HOST:8786 "
        "(start it with `dask scheduler`, workers with `dask worker tcp://HOST:8786`)",
    )

    u = sub.add_parser(
        "units",
        help="derive analysis units (blocks) from the road network",
        description="Derive units as blocks enclosed by roads of tertiary class and above (the land between "
        "the outermost roads and the study bounds is dropped; blocks over units.max_area_m2 are subdivided by "
        "the next road tier, then named paths, then a regular grid, each reported), drop slivers, name them "
        "from the OSM data, and write a file "
        "you can edit and name in inputs.units.",
    )
    u.add_argument("config", type=Path, help="YAML config")
    _out(
        u,
        "file to write (.gpkg or .geojson; default: out/<name>_units.gpkg, beside the run's folder "
        "out/<name>/, which a run replaces whole)",
        None,
    )
    u.add_argument(
        "--min-area-m2",
        type=float,
        default=None,
        help="drop blocks smaller than this (default: config units.min_area_m2)",
    )

    c = sub.add_parser(
        "check-config",
        help="validate a config and list every problem",
        description="Validate CONFIG against the typed model and report every problem with its key path.",
    )
    c.add_argument("config", type=Path, help="YAML config")

    s = sub.add_parser(
        "screen",
        help="试点遴选: score and rank every unit against a programme profile and shortlist the best",
        description="Compute the indicators of every unit of CONFIG (the candidates), check them against a programme "
        "profile, score them (config screening.method: points, weights or rules), rank them and write screening.csv/.xlsx "
        "(rank, score, reasons met and missed), screening_map.html and compliance.csv.",
    )
    s.add_argument(
        "config",
        nargs="?",
        type=Path,
        default=DEFAULT_CONFIG,
        help=f"YAML config (default: {DEFAULT_CONFIG})",
    )
    s.add_argument(
        "--profile",
        default=None,
        metavar="ID_OR_PATH",
        help="packaged profile id (e.g. lowcarbon_pilot_2015, lowcarbon_application) or profile YAML path "
        "(default: config screening.profile, else compliance.profile, else lowcarbon_pilot_2015)",
    )
    s.add_argument(
        "--kind",
        default=None,
        help="pilot kind of every unit, e.g. new, existing, rural (default: inputs.units.kind_column, "
        "else screening.kind, else compliance.kind, else existing)",
    )
    s.add_argument(
        "--top",
        type=int,
        default=None,
        metavar="N",
        help="shortlist size (default: config screening.top, 10)",
    )
    _out(s, "output folder (default: out/<name>_screening/)", None)
    _no_wait(s)

    k = sub.add_parser(
        "check-parcels",
        help="土地出让前指标核查: check parcels about to be sold against a programme profile",
        description="Check each parcel of config land_sale.parcels: its plan (FAR, green ratio, height) against the "
        "profile's ranges, its location (bus stop, bike rental, metro within 500 m; life-circle categories reached) and "
        "its unit before and after it is built; write parcel_check.csv/.xlsx, parcel_summary.csv and parcels/<id>.html.",
    )
    k.add_argument("config", type=Path, help="YAML config with a land_sale section")
    k.add_argument(
        "--parcels",
        type=Path,
        default=None,
        metavar="FILE",
        help="parcel layer to check instead of land_sale.parcels.path (same columns)",
    )
    _out(k, "output folder (default: out/<name>_land_sale/)")
    _no_wait(k)

    a = sub.add_parser(
        "annex",
        help="附图: print the map annex of an implementation plan (six to nine sheets per unit, PDF and PNG)",
        description="Compute the indicators of CONFIG once, then draw the sheets of each unit (区位图, 用地现状图, 道路系统图, "
        "15分钟生活圈覆盖图, 公交/单车500米覆盖图, 绿地与绿化覆盖图, with the carbon inventory 屋顶光伏潜力图 and 碳排放强度图, "
        "and with a compliance profile the chart 指标达标图) "
        "over a light context of roads, water, buildings and neighbouring units (and map.tile_cache tiles when set), "
        "with legend, scale bar, north arrow, sources, date and CRS; "
        "write <unit>.pdf (one page per sheet) and <unit>_<n>_<sheet>.png (300 dpi). "
        "Needs a CJK font (apt-get install fonts-noto-cjk).",
    )
    a.add_argument("config", type=Path, help="YAML config")
    a.add_argument(
        "--units",
        default=None,
        metavar="U001,U002",
        help="comma-separated unit ids to draw (default: every unit)",
    )
    a.add_argument(
        "--paper",
        choices=("A4", "A3"),
        default=None,
        help="paper size (default: A4); portrait or landscape follows each unit's shape",
    )
    _out(a, "output folder (default: out/<name>_annex/)")
    _no_wait(a)

    rp = sub.add_parser(
        "report",
        help="指标核查报告: the Word report (and PDF with LibreOffice) with tables, charts and the annex",
        description="Compute CONFIG once and write out/<name>_report/: 报告.docx (报告.pdf when LibreOffice is "
        "installed), 图表/ (charts, PNG and SVG), 附图/ (the annex sheets) and 数据/ (the run's tables). "
        "report.language: zh | en | bilingual; report.template: an institute's .docx.",
    )
    rp.add_argument("config", type=Path, help="YAML config")
    _out(rp, "output folder (default: out/<name>_report/)")
    _no_wait(rp)

    i = sub.add_parser(
        "init",
        help="write a commented config for a new study area from its OSM file",
        description="Write NAME.yaml (or --out) with the bounds, the metric CRS and the province worked out from the "
        "OSM file; with --units, the units file you give, else a path for `ditan units` to derive blocks into.",
    )
    i.add_argument("name", help="run name (letters, digits, _ and -): outputs go to out/NAME/")
    i.add_argument(
        "--osm", type=Path, required=True, metavar="FILE", help="OSM extract (.osm.pbf or .osm)"
    )
    i.add_argument("--units", type=Path, default=None, metavar="FILE", help="your units (optional)")
    _out(i, "config path (default: NAME.yaml)", "FILE")

    e = sub.add_parser(
        "export",
        help="导出: write a run's communities.gpkg in another format (a Shapefile)",
        description="Write the units of a run (RUN_DIR/communities.gpkg, or a .gpkg) as communities.shp with field names "
        "of 10 characters at most, field_map.csv (short name → column, Chinese name, unit), a .cpg (UTF-8) and the .prj.",
    )
    e.add_argument(
        "--shapefile",
        type=Path,
        required=True,
        metavar="RUN_DIR_OR_GPKG",
        help="a run's output folder (out/<name>/) or its communities.gpkg",
    )
    _out(
        e,
        "output folder (default: <run folder>_shapefile/ beside the run's folder, which a run "
        "replaces whole)",
    )
    _no_wait(e)
    return p


def _out(sub: argparse.ArgumentParser, help: str, metavar: str | None = "DIR") -> None:
    """``--out``: where the command writes (``metavar`` None: argparse's own, OUT)."""
    sub.add_argument("--out", type=Path, default=None, metavar=metavar, help=help)


def _no_wait(sub: argparse.ArgumentParser) -> None:
    sub.add_argument(
        "--no-wait",
        action="store_true",
        help="when another ditan run is writing the same output folder, stop at once (exit code 75) "
        "instead of waiting for it to finish",
    )


def _count(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of 1 or more, not {text!r}")
    return n
