"""`ditan run`: load, compute, draw and write one study area (a :class:`~ditan.pipelines.jobs.skeleton.Job`)."""

from __future__ import annotations

import gc
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import shapely

from ditan.maps.basemaps import manifest_entry as basemap_manifest
from ditan.pipelines.assemble.load import load_study_area
from ditan.pipelines.compute.indicators import RunResult, Timer, compute, gap_free_categories
from ditan.pipelines.config.params import params_from_config
from ditan.pipelines.config.schema import Config
from ditan.pipelines.jobs import scenario_plan as plans
from ditan.pipelines.jobs.scenario import Scenario
from ditan.pipelines.jobs.scenario_compare import (
    PLAN_OUTPUTS,
    SCENARIO_OUTPUTS,
    write_scenario_files,
)
from ditan.pipelines.jobs.skeleton import Context, Job
from ditan.pipelines.outputs import files as write
from ditan.pipelines.outputs import postgis as db_write
from ditan.pipelines.outputs import qgis_styles
from ditan.pipelines.outputs.gpkg_layers import (
    LANDUSE_LAYER,
    landuse_dress,
    landuse_layer,
    service_area_layers,
    service_areas_dress,
)
from ditan.pipelines.outputs.manifest import (
    attribution,
    carbon_manifest,
    input_files,
    osm_fetch_entry,
    versions,
)
from ditan.pipelines.outputs.sheets import (
    NOT_ASSESSABLE_CSV,
    SHEET_MAX_ROWS,
    capped_sheet,
    carbon_sheets,
    not_assessable_sheet,
)
from ditan.spatial.indicators.carbon_plan import PlanCarbon
from ditan.spatial.indicators.roads import classify_roads
from ditan.spatial.standards import columns
from ditan.spatial.standards.compliance import evaluate, summarize
from ditan.spatial.standards.profiles import Profile, load_profile
from ditan.spatial.study_area.model import StudyArea

log = logging.getLogger(__name__)
OUTPUTS = (
    "indicators.csv",
    "indicators.xlsx",
    "communities.gpkg",
    "service_areas.gpkg",
    "map.html",
    "data_quality.csv",
    "manifest.json",
)
#: written besides OUTPUTS when the config names a programme profile (compliance.profile)
COMPLIANCE_OUTPUTS = ("compliance.csv", "compliance_summary.csv")
#: written besides OUTPUTS when the carbon inventory is computed (carbon.enabled, the default)
CARBON_OUTPUTS = ("carbon_inventory.csv", "carbon_factors.csv")
#: every name a run may leave in its output folder
ALLOWED = frozenset(
    OUTPUTS + SCENARIO_OUTPUTS + PLAN_OUTPUTS + COMPLIANCE_OUTPUTS + CARBON_OUTPUTS
) | {NOT_ASSESSABLE_CSV}


@dataclass
class RunOutput:
    out_dir: Path
    result: RunResult
    study: StudyArea
    files: dict[str, Path]
    manifest: dict
    quality: (
        pd.DataFrame
    )  # data_quality.csv: the study area's ledger with the computation's rows merged in


#: map layer → its name on the map (for the note on layers left out)
MAP_LAYER_NAMES = {
    "roads": "道路 roads",
    "buildings": "建筑 buildings",
    "facilities": "设施 facilities",
    "stations": "站点 stations",
    "service_areas": "服务范围 service areas",
    "landuse": "用地 land use",
    "gaps": "覆盖缺口 coverage gaps",
}


CIRCLE_VERTICES = 65  # ditan.maps.input_layers buffers a station by 16 segments per quarter circle


def map_detail_layers(layers: dict, max_vertices: int) -> tuple[dict, str]:
    """The detail layers small enough for a web map, and a bilingual note naming those left out (with their size)."""
    keep, out = {}, []
    for key, gdf in layers.items():
        n = (
            0
            if gdf is None or gdf.empty
            else int(shapely.get_num_coordinates(gdf.geometry.to_numpy()).sum())
        )
        if key == "stations":  # each is drawn with its radius circle too
            n *= 1 + CIRCLE_VERTICES
        if n > max_vertices:
            out.append(f"{MAP_LAYER_NAMES[key]} ({len(gdf):,} features, {n:,} vertices)")
            log.warning(
                "map: layer %s left out (%d vertices > map.max_vertices_per_layer %d)",
                key,
                n,
                max_vertices,
            )
        else:
            keep[key] = gdf
    note = (
        (
            "地图未绘 not drawn (too large for a web map; see communities.gpkg and the inputs): "
            + "; ".join(out)
        )
        if out
        else ""
    )
    return keep, note


def profile_radii(profile) -> tuple[float, ...]:
    """The station radii a profile's rules name (bus_stop_500m_radius_pct → 500): measured whatever transit.radius_m says."""
    if profile is None:
        return ()
    found = (columns.parse_proximity(r.indicator) for r in profile.rules)
    return tuple(sorted({p[1] for p in found if p is not None}))


def run_tiers(res: RunResult) -> list[str]:
    """The life-circle tier ids of a run, in the catalogue's order (from its columns)."""
    return [
        c.removeprefix("lc_").removesuffix("_all_pct")
        for c in res.columns
        if c.startswith("lc_") and c.endswith("_all_pct")
    ]


def key_indicators(res: RunResult, radius_m: float) -> list[str]:
    """The map's colourings: built from the run's own tiers and radius."""
    from ditan.maps.legend import key_indicators as keys  # rendering stays out of the computation

    return [k for k in keys(run_tiers(res), radius_m) if k in res.columns]


@dataclass
class RunInputs:
    sa: StudyArea
    profile: Profile | None
    plan: Scenario | None


@dataclass
class RunComputed:
    sa: StudyArea
    res: RunResult
    quality: pd.DataFrame  # data_quality.csv
    html: str = ""  # map.html
    compliance: RunCompliance | None = None  # with a profile (compliance.profile)
    what_if: WhatIf | None = None  # with a scenario (--scenario)


@dataclass
class RunCompliance:
    profile: Profile
    checks: pd.DataFrame  # compliance.csv
    summary: pd.DataFrame  # compliance_summary.csv


@dataclass
class WhatIf:
    plan: Scenario
    result: RunResult  # the changed study area's
    comparison: pd.DataFrame  # scenario_comparison.csv
    carbon: PlanCarbon | None = None  # a plan's measures: the reduction rate (scenario_carbon.csv)


class RunJob(Job[RunInputs, RunComputed]):
    """``ditan run``: every indicator of every unit, the compliance check, a scenario, the map and the tables.

    With ``scenario`` (a scenario file, see :mod:`ditan.pipelines.jobs.scenario`) the changed study area is
    computed too and SCENARIO_OUTPUTS are written beside the base outputs.
    """

    def __init__(self, cfg: Config, *, scenario: Path | None = None) -> None:
        self.cfg, self.scenario = cfg, scenario
        self.params = params_from_config(cfg)
        self.db_target = db_write.target(
            cfg
        )  # output.database: the results also go to PostGIS, as run_id

    def allowed(self, name: str) -> bool:
        return name in ALLOWED

    def load(self, ctx: Context) -> RunInputs:
        # a plan file's keys and measures are checked before the study area is loaded
        plan_file = plans.check_plan_file(self.scenario, carbon=self.cfg.carbon.enabled)
        sa = load_study_area(self.cfg)
        plan = plans.read_any(self.scenario, plan_file, sa)  # a bad scenario stops here
        profile = (
            load_profile(self.cfg.compliance.profile) if self.cfg.compliance.profile else None
        )  # so does a bad profile
        return RunInputs(sa, profile, plan)

    def compute(self, loaded: RunInputs, ctx: Context) -> RunComputed:
        sa, profile, plan, timer = loaded.sa, loaded.profile, loaded.plan, ctx.timer
        radii = profile_radii(profile)
        # the loaded layers live through the run: keep the garbage collector from re-scanning their millions of
        # objects at every collection (on a whole city that made later stages slower than their size)
        gc.collect()
        gc.freeze()
        try:
            res = compute(sa, self.params, timer, extra_radii_m=radii)
        finally:
            gc.unfreeze()
        out = RunComputed(sa, res, sa.ledger.merged(res.ledger).to_frame())
        if plan is not None:  # before compliance, which checks the plan's reduction rate
            with timer.stage("scenario"):
                kind = self.cfg.compliance.kind
                out.what_if = WhatIf(plan, *plans.run_plan(sa, plan, res, self.params, radii, kind))
        if profile is not None:
            with timer.stage("compliance"):
                kind = sa.units["kind"] if "kind" in sa.units else self.cfg.compliance.kind
                table, why = res.indicators, res.reasons
                if out.what_if is not None and out.what_if.carbon is not None:
                    table, why = plans.with_plan_rates(table, why, out.what_if.result)
                checks = evaluate(table, profile, kind=kind, reasons=why)
                out.compliance = RunCompliance(profile, checks, summarize(checks, profile))
        with timer.stage("map"):
            out.html = run_map(self.cfg, sa, res, out.compliance)
        return out

    def write(self, c: RunComputed, stage: Path, ctx: Context) -> list[str]:
        res, quality, comp, what_if = c.res, c.quality, c.compliance, c.what_if
        names = [n for n in OUTPUTS if n != self.manifest_name]
        na = not_assessable_sheet(res)  # a city's: in not_assessable.csv, the sheet says so
        na_csv = len(na) > SHEET_MAX_ROWS
        sheets = {"无法评估 not_assessable": capped_sheet(na, NOT_ASSESSABLE_CSV)}
        carbon = res.carbon if res.carbon_factors is not None else None
        factors = pd.DataFrame(res.carbon_factors.table()) if carbon is not None else None
        if carbon is not None and factors is not None:  # a city's inventory: in the CSV only
            sheets |= carbon_sheets(carbon.inventory, factors)
        if comp is not None:
            sheets |= {
                "达标核查 compliance": capped_sheet(comp.checks, "compliance.csv"),
                "达标汇总 compliance summary": comp.summary,
            }

        def geopackages() -> None:  # one after the other: GDAL's fixed date is process-wide
            # QGIS styles (the map's colourings, map.color_by the default) and Chinese field aliases
            keys = [self.cfg.map.color_by, *key_indicators(res, self.cfg.transit.radius_m)]
            units = {"communities": qgis_styles.communities(res.columns, keys)}
            layers = {"communities": res.units}
            landuse = landuse_layer(c.sa.landuse)  # in GB 50137 colours
            if landuse is not None:
                layers[LANDUSE_LAYER], units[LANDUSE_LAYER] = landuse, landuse_dress
            write.write_gpkg(stage / "communities.gpkg", layers, dress=units)
            areas = service_area_layers(res.service_areas)
            dress = dict.fromkeys(areas, service_areas_dress(c.sa.catalogue))
            write.write_gpkg(stage / "service_areas.gpkg", areas, dress=dress)
            if na_csv:  # the long CSVs too: the workbook is the longer task
                write.write_csv(stage / NOT_ASSESSABLE_CSV, na.set_index("单元 unit_id"))
            if carbon is not None:
                inventory = carbon.inventory.set_index("unit_id")
                write.write_csv(stage / "carbon_inventory.csv", inventory)

        # the GeoPackages (GDAL, mostly outside the GIL) are written beside the tables (Python, XlsxWriter)
        with ctx.timer.stage("write"), ThreadPoolExecutor(1) as beside:
            gpkgs = beside.submit(geopackages)
            write.write_csv(stage / "indicators.csv", res.indicators)
            write.write_xlsx(
                stage / "indicators.xlsx", res.indicators, res.columns, quality, extra_sheets=sheets
            )
            write.write_text(stage / "map.html", c.html)
            write.write_csv(stage / "data_quality.csv", quality.set_index("layer"))
            if na_csv:
                names.append(NOT_ASSESSABLE_CSV)
            if factors is not None:
                write.write_csv(stage / "carbon_factors.csv", factors.set_index("factor"))
                names += CARBON_OUTPUTS
            if comp is not None:
                write.write_csv(stage / "compliance.csv", comp.checks.set_index("unit_id"))
                write.write_csv(stage / "compliance_summary.csv", comp.summary)
                names += COMPLIANCE_OUTPUTS
            if what_if is not None:
                w = what_if
                names += write_scenario_files(
                    stage, w.comparison, w.plan, res.columns, w.result, w.carbon
                )
            gpkgs.result()  # their error, if any, is the run's
        return names

    def manifest(self, c: RunComputed, base: dict, ctx: Context) -> dict:
        cfg, sa, res = self.cfg, c.sa, c.res
        run_id = db_write.new_run_id(cfg.name, ctx.started) if self.db_target else None
        manifest = {
            "ditan": base["ditan"],
            "run_started_utc": base["run_started_utc"],
            "config_file": str(cfg.source_path),
            "config": cfg.model_dump(mode="json"),
            "crs": {"epsg": sa.crs.to_epsg(), "name": sa.crs.name},
            "inputs": {str(p): write.file_sha256(p) for p in input_files(cfg)},
            **osm_fetch_entry(cfg),  # inputs.osm place or bbox: what was fetched, from where, when
            **db_write.manifest_entries(cfg, self.db_target, run_id),
            "packages": versions(),
            "platform": base["platform"],
            "units": len(res.indicators),
            "network": res.stats,
            **carbon_manifest(res.carbon, res.carbon_factors),
            "timings_s": base["timings_s"],
            "data_gaps": res.gaps,
            "not_assessable_values": int(len(res.reasons)),
            "outputs": base["outputs"],
            "output_sha256": base["output_sha256"],
            "attribution": attribution(cfg),
            **basemap_manifest(cfg.map.tiles, cfg.map.tianditu_key),
        }
        if c.compliance is not None:
            prof, checks = c.compliance.profile, c.compliance.checks
            manifest["compliance"] = {
                "profile": prof.id,
                "source": prof.source,
                "status_counts": checks["status"].value_counts().sort_index().to_dict(),
            }
        if c.what_if is not None:
            cmp = c.what_if.comparison
            manifest["scenario"] = {
                **c.what_if.plan.summary(),
                "changed_values": int(cmp["changed"].sum()),
                "changed_units": int(cmp.loc[cmp["changed"], "unit_id"].nunique()),
            }
            manifest["scenario"] |= plans.plan_summary(c.what_if.carbon)
        return manifest

    def publish(self, c: RunComputed, manifest: dict | None, ctx: Context) -> None:
        """The results to PostGIS (output.database): a failed write leaves the previous outputs, and no rows."""
        if self.db_target is None or manifest is None:
            return
        comp = c.compliance
        with ctx.timer.stage("database"):
            db_write.write_run(
                self.db_target,
                manifest["database_output"]["run_id"],
                self.cfg,
                c.res,
                crs=c.sa.crs,
                quality=c.quality,
                manifest=manifest,
                checks=comp.checks if comp else None,
                summary=comp.summary if comp else None,
            )


def run_map(cfg: Config, sa: StudyArea, res: RunResult, comp: RunCompliance | None) -> str:
    """map.html of a run: the units coloured by their indicators, the detail layers small enough for a browser."""
    from ditan.maps.interactive import build_map, map_html  # rendering stays apart
    from ditan.maps.life_circle_gaps import coverage_gaps

    cats = {c.id: (c.zh, c.en) for c in sa.catalogue.categories.values()}
    city = sa.roads.assign(
        road_class=classify_roads(sa.roads, include=tuple(cfg.roads.include)).to_numpy()
    )
    city = city[city["road_class"].notna()]
    city = city[city.intersects(sa.bounds)]
    color_by = (
        cfg.map.color_by if cfg.map.color_by in res.units.columns else "road_density_km_per_km2"
    )
    keys = key_indicators(res, cfg.transit.radius_m)
    gaps = (
        None
        if cfg.life_circle.weight_by == "population" and cfg.life_circle.population_raster
        else coverage_gaps(
            sa.buildings,
            res.origin_distances,
            sa.catalogue,
            data_gaps=set(sa.catalogue.categories) - set(gap_free_categories(res, sa.catalogue)),
        )
    )
    layers, left_out = map_detail_layers(
        {
            "roads": city,
            "buildings": sa.buildings,
            "facilities": sa.facilities,
            "stations": sa.stations,
            "service_areas": res.service_areas,
            "landuse": sa.landuse,
            "gaps": gaps,
        },
        cfg.map.max_vertices_per_layer,
    )
    return map_html(
        build_map(
            res.units,
            indicators={k: v for k, v in res.columns.items() if k in res.units.columns},
            color_by=color_by,
            categories=cats,
            station_radius_m=cfg.transit.radius_m,
            compliance=comp.checks if comp is not None else None,
            attribution=attribution(cfg) + (f" · {left_out}" if left_out else ""),
            tiles=cfg.map.tiles,
            tianditu_key=cfg.map.tianditu_key,
            rules={r.id: r for r in comp.profile.rules} if comp is not None else None,
            key_indicators=keys,
            reasons=res.reasons,
            **layers,
        )
    )


def run(
    cfg: Config, out_dir: Path, *, timer: Timer | None = None, scenario: Path | None = None
) -> RunOutput:
    """Compute everything first, then write every output into a staging folder that replaces ``out_dir`` whole.

    With ``scenario`` (a scenario file, see :mod:`ditan.pipelines.jobs.scenario`) the changed study area is computed too and
    SCENARIO_OUTPUTS are written beside the base outputs.
    """
    done = RunJob(cfg, scenario=scenario).run(out_dir, timer=timer)
    c = done.computed
    return RunOutput(
        out_dir=done.out_dir,
        result=c.res,
        study=c.sa,
        files=done.files,
        manifest=done.manifest or {},
        quality=c.quality,
    )
