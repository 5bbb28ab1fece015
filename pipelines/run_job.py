"""`ditan run`: load, compute, draw and write one study area."""

from __future__ import annotations

import datetime as dt
import logging
import platform
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from pipelines import write
from pipelines.community_indicators import RunResult, Timer, compute
from pipelines.config import Config
from pipelines.load import load_study_area
from spatial.indicators.roads import classify_roads
from spatial.study_area import StudyArea

log = logging.getLogger(__name__)
PACKAGES = ("ditan", "geopandas", "shapely", "pyproj", "osmium", "networkx", "osmnx", "scipy", "numpy",
            "pandas", "rasterio", "folium", "pyogrio", "pydantic", "openpyxl")  # fmt: skip
ATTRIBUTION = "© OpenStreetMap contributors (ODbL 1.0)"
OUTPUTS = ("indicators.csv", "indicators.xlsx", "communities.gpkg", "map.html", "data_quality.csv", "manifest.json")


def attribution(cfg: Config) -> str:
    """The data attribution of a run: the config's, else OpenStreetMap's."""
    return cfg.attribution or ATTRIBUTION


@dataclass
class RunOutput:
    out_dir: Path
    result: RunResult
    study: StudyArea
    files: dict[str, Path]
    manifest: dict


def input_files(cfg: Config) -> list[Path]:
    inp = cfg.inputs
    paths = [getattr(inp, k).path for k in ("osm", "units", "roads", "buildings", "parcels", "pois", "stations", "landcover") if getattr(inp, k)]
    paths += [p for p in (cfg.life_circle.catalogue, cfg.life_circle.population_raster) if p]
    return paths


def service_area_layers(areas) -> dict:
    """One GeoPackage layer per tier (service_areas_5min …, service_areas_500m), one row per category."""
    return {f"service_areas_{tier}": grp.reset_index(drop=True) for tier, grp in areas.groupby("tier", sort=False)}


def versions() -> dict[str, str]:
    out = {"python": sys.version.split()[0]}
    for p in PACKAGES:
        try:
            out[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            out[p] = "not installed"
    return out


def run(cfg: Config, out_dir: Path, *, timer: Timer | None = None) -> RunOutput:
    """Compute everything first, then write every output into a staging folder that replaces ``out_dir`` whole."""
    from maps.interactive import build_map, map_html  # rendering stays out of the computation

    timer = timer or Timer()
    write.check_output_folder(Path(out_dir), set(OUTPUTS))  # before any work, not after
    started = dt.datetime.now(dt.UTC)
    with timer.stage("load"):
        sa = load_study_area(cfg)
    res = compute(sa, cfg, timer)
    with timer.stage("map"):
        cats = {c.id: (c.zh, c.en) for c in sa.catalogue.categories.values()}
        city = sa.roads.assign(road_class=classify_roads(sa.roads, include=tuple(cfg.roads.include)).to_numpy())
        city = city[city["road_class"].notna()]
        city = city[city.intersects(sa.bounds)]
        color_by = cfg.map.color_by if cfg.map.color_by in res.units.columns else "road_density_km_per_km2"
        html = map_html(build_map(
            res.units, indicators={k: v for k, v in res.columns.items() if k in res.units.columns}, color_by=color_by,
            roads=city, buildings=sa.buildings, facilities=sa.facilities, categories=cats, stations=sa.stations,
            station_radius_m=cfg.transit.radius_m, service_areas=res.service_areas, attribution=attribution(cfg),
            tiles=cfg.map.tiles,
        ))  # fmt: skip
    quality = sa.ledger.to_frame()
    with write.staged_dir(out_dir, allowed=set(OUTPUTS)) as stage:
        files = {name: stage / name for name in OUTPUTS}
        with timer.stage("write"):
            write.write_csv(files["indicators.csv"], res.indicators)
            write.write_xlsx(files["indicators.xlsx"], res.indicators, res.columns, quality)
            write.write_gpkg(files["communities.gpkg"], {"communities": res.units, **service_area_layers(res.service_areas)})
            write.write_text(files["map.html"], html)
            write.write_csv(files["data_quality.csv"], quality.set_index("layer"))
        manifest = {
            "ditan": versions()["ditan"],
            "run_started_utc": started.isoformat(timespec="seconds"),
            "config_file": str(cfg.source_path),
            "config": cfg.model_dump(mode="json"),
            "crs": {"epsg": sa.crs.to_epsg(), "name": sa.crs.name},
            "inputs": {str(p): write.file_sha256(p) for p in input_files(cfg)},
            "packages": versions(),
            "platform": platform.platform(),
            "units": len(res.indicators),
            "network": res.stats,
            "timings_s": timer.seconds,
            "outputs": sorted(files),
            "output_sha256": {name: write.file_sha256(p) for name, p in sorted(files.items()) if name != "manifest.json"},
            "attribution": attribution(cfg),
        }
        write.write_json(files["manifest.json"], manifest)
    files = {name: out_dir / name for name in OUTPUTS}
    return RunOutput(out_dir=out_dir, result=res, study=sa, files=files, manifest=manifest)
