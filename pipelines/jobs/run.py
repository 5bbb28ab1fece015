"""`ditan run`: load, compute, draw and write one study area."""

from __future__ import annotations

import datetime as dt
import gc
import logging
import platform
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd
import shapely

from ditan.pipelines.assemble.load import load_study_area
from ditan.pipelines.compute.indicators import RunResult, Timer, compute, gap_free_categories
from ditan.pipelines.config.schema import Config
from ditan.pipelines.jobs.scenario import apply_scenario, compare, read_scenario, write_scenario_xlsx
from ditan.pipelines.outputs import files as write
from ditan.pipelines.outputs import postgis as db_write
from ditan.spatial.indicators.roads import classify_roads
from ditan.spatial.standards import columns
from ditan.spatial.standards.compliance import evaluate, summarize
from ditan.spatial.standards.profiles import load_profile
from ditan.spatial.study_area.model import StudyArea

log = logging.getLogger(__name__)
PACKAGES = ("ditan", "geopandas", "shapely", "pyproj", "osmium", "networkx", "osmnx", "scipy", "numpy",
            "pandas", "rasterio", "folium", "pyogrio", "pydantic", "openpyxl", "psycopg")  # fmt: skip
ATTRIBUTION = "© OpenStreetMap contributors (ODbL 1.0)"
OUTPUTS = ("indicators.csv", "indicators.xlsx", "communities.gpkg", "map.html", "data_quality.csv", "manifest.json")
#: written besides OUTPUTS by a run with a scenario (``ditan run --scenario FILE``)
SCENARIO_OUTPUTS = ("scenario_comparison.csv", "scenario.xlsx", "scenario_indicators.csv")
#: written besides OUTPUTS when the config names a programme profile (compliance.profile)
COMPLIANCE_OUTPUTS = ("compliance.csv", "compliance_summary.csv")


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
    layers = [inp.osm, *inp.vector_layers().values(), inp.landcover]  # several stations layers each
    paths = [src.path for src in layers if src is not None and src.path is not None]  # PostGIS layers: manifest database_inputs
    paths += [p for p in (cfg.life_circle.catalogue, cfg.life_circle.population_raster) if p]
    return paths


def service_area_layers(areas) -> dict:
    """One GeoPackage layer per tier (service_areas_5min …, service_areas_500m), one row per category."""
    return {f"service_areas_{tier}": grp.reset_index(drop=True) for tier, grp in areas.groupby("tier", sort=False)}


#: map layer → its name on the map (for the note on layers left out)
MAP_LAYER_NAMES = {"roads": "道路 roads", "buildings": "建筑 buildings", "facilities": "设施 facilities", "stations": "站点 stations",
                   "service_areas": "服务范围 service areas", "landuse": "用地 land use", "gaps": "覆盖缺口 coverage gaps"}


CIRCLE_VERTICES = 65  # ditan.maps.interactive buffers a station by 16 segments per quarter circle


def map_detail_layers(layers: dict, max_vertices: int) -> tuple[dict, str]:
    """The detail layers small enough for a web map, and a bilingual note naming those left out (with their size)."""
    keep, out = {}, []
    for key, gdf in layers.items():
        n = 0 if gdf is None or gdf.empty else int(shapely.get_num_coordinates(gdf.geometry.to_numpy()).sum())
        if key == "stations":  # each is drawn with its radius circle too
            n *= 1 + CIRCLE_VERTICES
        if n > max_vertices:
            out.append(f"{MAP_LAYER_NAMES[key]} ({len(gdf):,} features, {n:,} vertices)")
            log.warning("map: layer %s left out (%d vertices > map.max_vertices_per_layer %d)", key, n, max_vertices)
        else:
            keep[key] = gdf
    note = ("地图未绘 not drawn (too large for a web map; see communities.gpkg and the inputs): " + "; ".join(out)) if out else ""
    return keep, note


def profile_radii(profile) -> tuple[float, ...]:
    """The station radii a profile's rules name (bus_stop_500m_radius_pct → 500): measured whatever transit.radius_m says."""
    if profile is None:
        return ()
    found = (columns.parse_proximity(r.indicator) for r in profile.rules)
    return tuple(sorted({p[1] for p in found if p is not None}))


def key_indicators(res: RunResult, radius_m: float) -> list[str]:
    """The map's colourings: built from the run's own tiers and radius."""
    tiers = [c.removeprefix("lc_").removesuffix("_all_pct") for c in res.columns if c.startswith("lc_") and c.endswith("_all_pct")]
    keys = ["road_density_km_per_km2", "intersection_density_per_km2", "far_ratio", "building_density_pct", "green_space_ratio_pct",
            "green_coverage_pct", "park_service_coverage_pct"]  # fmt: skip
    for t in reversed(tiers):
        keys += [columns.lc_all(t), columns.lc_score(t)]
    keys += [columns.proximity("bus_stop", radius_m, "radius"), columns.proximity("bus_stop", radius_m, "network"),
             columns.proximity("metro", radius_m, "network"), columns.proximity("bike_rental", radius_m, "network")]  # fmt: skip
    return [k for k in keys if k in res.columns]


def not_assessable_sheet(res: RunResult) -> pd.DataFrame:
    """One row per NaN value: unit, column with its names, the reason in Chinese and English, data gap or not."""
    r = res.reasons
    names = res.indicators["name"].reindex(r["unit_id"]).to_numpy() if len(r) else []
    ind = [res.columns.get(c) for c in r["column"]]
    return pd.DataFrame({
        "单元 unit_id": r["unit_id"].to_numpy(), "名称 name": names, "指标 column": r["column"].to_numpy(),
        "指标名称 indicator": [f"{i.zh} {i.en}" if i else c for i, c in zip(ind, r["column"], strict=True)],
        "原因 reason (中文)": r["reason_zh"].to_numpy(), "reason (English)": r["reason_en"].to_numpy(),
        "数据缺失 data gap": np.where(r["data_gap"].to_numpy(dtype=bool), "是 yes", "否 no"), "code": r["reason"].to_numpy(),
    })  # fmt: skip


def versions() -> dict[str, str]:
    out = {"python": sys.version.split()[0]}
    for p in PACKAGES:
        try:
            out[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            out[p] = "not installed"
    return out


def run(cfg: Config, out_dir: Path, *, timer: Timer | None = None, scenario: Path | None = None) -> RunOutput:
    """Compute everything first, then write every output into a staging folder that replaces ``out_dir`` whole.

    With ``scenario`` (a scenario file, see :mod:`ditan.pipelines.jobs.scenario`) the changed study area is computed too and
    SCENARIO_OUTPUTS are written beside the base outputs.
    """
    from ditan.maps.interactive import build_map, coverage_gaps, map_html  # rendering stays out of the computation

    timer = timer or Timer()
    allowed = set(OUTPUTS) | set(SCENARIO_OUTPUTS) | set(COMPLIANCE_OUTPUTS)
    write.check_output_folder(Path(out_dir), allowed)  # before any work, not after
    started = dt.datetime.now(dt.UTC)
    db_target = db_write.target(cfg)  # output.database: the results also go to PostGIS, as run_id
    run_id = db_write.new_run_id(cfg.name, started) if db_target else None
    with timer.stage("load"):
        sa = load_study_area(cfg)
        plan = read_scenario(scenario, sa, cfg) if scenario is not None else None  # a bad scenario stops the run here
        profile = load_profile(cfg.compliance.profile) if cfg.compliance.profile else None  # so does a bad profile
    # the loaded layers live through the run: keep the garbage collector from re-scanning their millions of
    # objects at every collection (on a whole city that made later stages slower than their size)
    gc.collect()
    gc.freeze()
    try:
        res = compute(sa, cfg, timer, extra_radii_m=profile_radii(profile))
    finally:
        gc.unfreeze()
    if profile is not None:
        with timer.stage("compliance"):
            kind = sa.units["kind"] if "kind" in sa.units else cfg.compliance.kind
            checks = evaluate(res.indicators, profile, kind=kind, reasons=getattr(res, "reasons", None))
            summary = summarize(checks, profile)
    if plan is not None:
        with timer.stage("scenario"):
            scen = compute(apply_scenario(sa, plan), cfg, Timer(), extra_radii_m=profile_radii(profile))
            comparison = compare(res, scen)
    with timer.stage("map"):
        cats = {c.id: (c.zh, c.en) for c in sa.catalogue.categories.values()}
        city = sa.roads.assign(road_class=classify_roads(sa.roads, include=tuple(cfg.roads.include)).to_numpy())
        city = city[city["road_class"].notna()]
        city = city[city.intersects(sa.bounds)]
        color_by = cfg.map.color_by if cfg.map.color_by in res.units.columns else "road_density_km_per_km2"
        keys = key_indicators(res, cfg.transit.radius_m)
        gaps = (None if cfg.life_circle.weight_by == "population" and cfg.life_circle.population_raster
                else coverage_gaps(sa.buildings, res.origin_distances, sa.catalogue,
                                   data_gaps=set(sa.catalogue.categories) - set(gap_free_categories(res, sa.catalogue))))
        layers, left_out = map_detail_layers(
            {"roads": city, "buildings": sa.buildings, "facilities": sa.facilities, "stations": sa.stations,
             "service_areas": res.service_areas, "landuse": sa.landuse, "gaps": gaps}, cfg.map.max_vertices_per_layer)  # fmt: skip
        html = map_html(build_map(
            res.units, indicators={k: v for k, v in res.columns.items() if k in res.units.columns}, color_by=color_by,
            categories=cats, station_radius_m=cfg.transit.radius_m, compliance=checks if profile is not None else None,
            attribution=attribution(cfg) + (f" · {left_out}" if left_out else ""), tiles=cfg.map.tiles, key_indicators=keys,
            reasons=res.reasons, **layers,
        ))  # fmt: skip
    quality = sa.ledger.to_frame()
    names = OUTPUTS + (SCENARIO_OUTPUTS if plan is not None else ()) + (COMPLIANCE_OUTPUTS if profile is not None else ())
    sheets = {"无法评估 not_assessable": not_assessable_sheet(res)}
    if profile is not None:
        sheets |= {"达标核查 compliance": checks, "达标汇总 compliance summary": summary}
    with write.staged_dir(out_dir, allowed=allowed) as stage:
        files = {name: stage / name for name in names}
        with timer.stage("write"):
            write.write_csv(files["indicators.csv"], res.indicators)
            write.write_xlsx(files["indicators.xlsx"], res.indicators, res.columns, quality, extra_sheets=sheets)
            write.write_gpkg(files["communities.gpkg"], {"communities": res.units, **service_area_layers(res.service_areas)})
            write.write_text(files["map.html"], html)
            write.write_csv(files["data_quality.csv"], quality.set_index("layer"))
            if profile is not None:
                write.write_csv(files["compliance.csv"], checks.set_index("unit_id"))
                write.write_csv(files["compliance_summary.csv"], summary)
            if plan is not None:
                write.write_csv(files["scenario_comparison.csv"], comparison.set_index("unit_id"))
                write_scenario_xlsx(files["scenario.xlsx"], comparison, plan, res.columns)
                write.write_csv(files["scenario_indicators.csv"], scen.indicators)
        manifest = {
            "ditan": versions()["ditan"],
            "run_started_utc": started.isoformat(timespec="seconds"),
            "config_file": str(cfg.source_path),
            "config": cfg.model_dump(mode="json"),
            "crs": {"epsg": sa.crs.to_epsg(), "name": sa.crs.name},
            "inputs": {str(p): write.file_sha256(p) for p in input_files(cfg)},
            **db_write.manifest_entries(cfg, db_target, run_id),
            "packages": versions(),
            "platform": platform.platform(),
            "units": len(res.indicators),
            "network": res.stats,
            "timings_s": timer.seconds,
            "data_gaps": res.gaps,
            "not_assessable_values": int(len(res.reasons)),
            "outputs": sorted(files),
            "output_sha256": {name: write.file_sha256(p) for name, p in sorted(files.items()) if name != "manifest.json"},
            "attribution": attribution(cfg),
        }
        if profile is not None:
            manifest["compliance"] = {"profile": profile.id, "source": profile.source,
                                      "status_counts": checks["status"].value_counts().sort_index().to_dict()}  # fmt: skip
        if plan is not None:
            manifest["scenario"] = {**plan.summary(), "changed_values": int(comparison["changed"].sum()),
                                    "changed_units": int(comparison.loc[comparison["changed"], "unit_id"].nunique())}  # fmt: skip
        write.write_json(files["manifest.json"], manifest)
        if db_target is not None:  # inside the staging block: a failed database write leaves the previous outputs, and no rows
            with timer.stage("database"):
                db_write.write_run(db_target, run_id, cfg, res, crs=sa.crs, quality=quality, manifest=manifest,
                                   checks=checks if profile is not None else None, summary=summary if profile is not None else None)
    files = {name: out_dir / name for name in names}
    return RunOutput(out_dir=out_dir, result=res, study=sa, files=files, manifest=manifest)
