"""The main job: every indicator family for every unit of a StudyArea (orchestration only)."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd

from ditan.pipelines.compute.carbon_step import carbon_step
from ditan.pipelines.compute.data_gaps import data_evidence
from ditan.pipelines.compute.distances import PROXIMITY, _distances, _service_areas
from ditan.pipelines.compute.timer import Timer
from ditan.pipelines.config.params import ComputeParams, LifeCircleParams
from ditan.spatial.engine.network import Network, build_network
from ditan.spatial.engine.origins import (
    Origins,
    building_population_origins,
    population_per_unit,
    raster_population_origins,
    residential_origins,
)
from ditan.spatial.errors import ConfigError
from ditan.spatial.indicators import (
    amenities,
    green,
    greenway,
    intensity,
    landuse,
    life_circle,
    parcels,
    parks,
    roads,
    transit,
)
from ditan.spatial.indicators.carbon import CarbonResult
from ditan.spatial.indicators.carbon_plan import no_plan_columns
from ditan.spatial.io.validate import Ledger
from ditan.spatial.standards import columns
from ditan.spatial.standards import reasons as R
from ditan.spatial.standards.carbon import CarbonFactors
from ditan.spatial.standards.evidence import apply_evidence
from ditan.spatial.standards.registry import (
    Indicator,
    life_circle_indicator,
    life_circle_tier_indicators,
    proximity_indicator,
    registry,
)
from ditan.spatial.study_area.model import StudyArea

log = logging.getLogger(__name__)


def reasons_frame_empty() -> pd.DataFrame:
    return R.reasons_frame([])


@dataclass
class RunResult:
    indicators: pd.DataFrame  # index unit_id, registry columns
    units: gpd.GeoDataFrame  # units with the indicators
    columns: dict[str, Indicator]  # the registry entries of the columns, in order
    network: Network
    origin_distances: (
        pd.DataFrame
    )  # per origin: network metres to each category / station kind, inf beyond its tier / radius
    stats: dict
    service_areas: (
        gpd.GeoDataFrame
    )  # category, tier, distance_m, reachable_network_km, area_km2, geometry
    reasons: pd.DataFrame = field(
        default_factory=reasons_frame_empty
    )  # why each NaN is NaN (ditan.spatial.standards.reasons)
    gaps: list[str] = field(
        default_factory=list
    )  # the data gaps of the run, one line each (bilingual), for the summary
    #: the computation's own rows of data_quality.csv (walk-network snapping, data gaps): the study area's ledger is
    #: not changed; ``sa.ledger.merged(result.ledger)`` is the run's whole ledger
    ledger: Ledger = field(default_factory=Ledger)
    #: the carbon inventory (碳盘查): per-unit columns are in ``indicators``; here the sector table and the roofs
    carbon: CarbonResult | None = None
    carbon_factors: CarbonFactors | None = None  # the factors used, with their sources


def gap_free_categories(res: RunResult, catalogue) -> list[str]:
    """The catalogue's categories that are not data gaps in this run (a facility in some source, or confirmed absent)."""
    r = res.reasons
    gaps = set(r.loc[r["reason"] == "category_gap", "column"]) if len(r) else set()
    return [c for c in catalogue.categories if columns.lc_category(c) not in gaps]


def walk_roads(roads: gpd.GeoDataFrame, exclude: tuple[str, ...] | list[str]) -> gpd.GeoDataFrame:
    """Walkable ways: all highways but the ``exclude`` classes (life_circle.walk_exclude) and those tagged foot/access=no."""
    r = roads
    keep = ~r["highway"].isin(list(exclude))
    for key in ("foot", "access"):
        if key in r:
            keep &= ~r[key].isin(["no"])
    return r[keep]


def column_registry(sa: StudyArea, radii_m: list[float] | None = None) -> dict[str, Indicator]:
    """Registry entries of every output column, in table order.

    Life-circle columns come from the catalogue (its categories and tiers, whatever their ids), proximity
    columns from the radii measured (the configured one first, then any a profile rule needs).
    """
    cat = sa.catalogue
    lc = [
        life_circle_indicator(
            c.id,
            c.zh,
            c.en,
            cat.tiers[c.tier].zh,
            cat.tiers[c.tier].distance_m,
            source=c.source or "GB 50180-2018",
            unconfirmed=c.unconfirmed,
        )
        for c in cat.categories.values()
    ]
    for t in cat.tiers.values():
        lc += life_circle_tier_indicators(t.id, t.zh, t.en, t.distance_m)
    prox = [
        proximity_indicator(k, r, m)
        for r in (radii_m or [500.0])
        for k in columns.PROXIMITY_KINDS
        for m in columns.METHODS
    ]
    static = registry()
    dynamic = {i.id: i for i in lc + prox}
    order: list[str] = []
    for k in static:
        if k == "lc_basis":
            order += [i.id for i in lc] + [k]
        elif columns.parse_proximity(k) or (k.startswith("lc_") and k.endswith("_all_pct")):
            if k == columns.proximity(columns.PROXIMITY_KINDS[0], 500.0, "radius"):
                order += [i.id for i in prox]  # the proximity block, at the radii measured
        else:
            order.append(k)
    reg = {**static, **dynamic}
    return {k: reg[k] for k in dict.fromkeys(order)}


def compute(
    sa: StudyArea,
    params: ComputeParams,
    timer: Timer | None = None,
    *,
    extra_radii_m: tuple[float, ...] = (),
) -> RunResult:
    """Every indicator of every unit; NaN with a reason (``RunResult.reasons``) wherever the data behind a value is absent.

    ``params``: what the computation needs of the config (:func:`ditan.pipelines.config.params.params_from_config`).
    ``extra_radii_m``: station radii measured besides ``params.transit.radius_m`` (those a profile's rules name).
    ``sa`` is not changed: the computation's rows of the data-quality ledger are ``RunResult.ledger``.
    """
    timer = timer or Timer()
    ledger = Ledger()
    units = sa.units
    n = len(units)
    idx = units.index
    radii = list(dict.fromkeys([float(params.transit.radius_m), *map(float, extra_radii_m)]))
    parts: list[pd.DataFrame] = [
        pd.DataFrame({"name": units["name"], "area_km2": units.geometry.area / 1e6}, index=idx)
    ]
    rp = params.roads
    with timer.stage("roads"), ThreadPoolExecutor(1) as side:
        # the junctions are counted on a second thread while the lengths are measured: both are mostly GEOS
        # and numpy work that releases the GIL, and neither changes what the other reads
        junctions = side.submit(
            roads.intersection_density,
            units,
            sa.roads,
            include=rp.include,
            junction_tolerance_m=rp.junction_tolerance_m,
        )
        parts.append(
            roads.road_density(
                units,
                sa.roads,
                include=rp.include,
                divided=rp.divided,
                max_gap_m=rp.divided_max_gap_m,
            )
        )
        parts.append(junctions.result())
    with timer.stage("intensity"):
        pieces = intensity.building_pieces(units, sa.buildings)
        dense = intensity.intensity(units, sa.buildings, pieces)
        dense["far_buildings_ratio"] = dense["far_ratio"]
        dense["far_source"] = "buildings"
        dense["far_parcel_area_pct"] = 0.0
        if sa.parcels is not None and np.isfinite(parcels.parcel_floor_area_m2(sa.parcels)).any():
            dense.update(parcels.far_with_parcels(units, sa.parcels, sa.buildings))
        parts.append(dense)
        parts.append(intensity.housing_heights(units, sa.buildings, pieces))
    with timer.stage("land use"):
        faces = landuse.landuse_faces(landuse.with_unknown_parcels(sa.landuse, sa.parcels))
        # one overlay of the faces with the units, for the shares and the parks
        cut = landuse.face_pieces(units, faces)
        lu = landuse.landuse_shares(units, faces, code_system=sa.code_system, pieces=cut)
        lu["lu_code_system"] = sa.code_system
        lu["green_space_source"] = "land use"
        if sa.parcels is not None:
            attrs = parcels.parcel_attributes(units, sa.parcels)
            if "attached_green_m2" in attrs and sa.parcels["green_ratio_pct"].notna().any():
                lu["green_space_ratio_pct"] += (
                    attrs["attached_green_m2"].to_numpy() / units.geometry.area.to_numpy() * 100.0
                )
                lu["green_space_source"] = "land use + parcel green ratios"
            if sa.parcels["height_limit_m"].notna().any():
                lu["parcel_height_limit_max_m"] = attrs["parcel_height_limit_max_m"]
        p = params.parks
        lu = lu.join(
            parks.park_service_coverage(
                units,
                faces,
                parks.merged_parks(sa.landuse),
                large_min_area_m2=p.large_min_area_m2,
                large_radius_m=p.large_radius_m,
                small_min_area_m2=p.small_min_area_m2,
                small_radius_m=p.small_radius_m,
                face_pieces=cut,
            )
        )
        del cut
        parts.append(lu)
        ways = greenway.greenways(units, sa.roads, faces, sa.stations)
        parts.append(ways)
    with timer.stage("green coverage"):
        if sa.landcover is not None:
            lc = sa.landcover
            green_part = green.green_coverage_from_raster(
                units,
                lc.path,
                vegetation_classes=lc.vegetation_classes,
                impervious_classes=lc.impervious_classes,
                tree_classes=lc.tree_classes,
                ndvi_threshold=lc.ndvi_threshold,
                nodata=lc.nodata,
            )
        else:
            green_land = faces[faces["lu_class"].isin(landuse.GREEN_SPACE_CLASSES)]
            green_part = green.green_coverage_from_polygons(units, sa.vegetation, green_land)
        parts.append(green_part)
    with timer.stage("walk network"):
        net = build_network(
            walk_roads(sa.roads, params.life_circle.walk_exclude).geometry.to_numpy()
        )
        housing = residential_origins(units, sa.buildings, pieces, faces)
        origins = make_origins(sa, params.life_circle, pieces, housing)
    with timer.stage("network distances"):
        dist, stats, reach = _distances(
            sa, net, origins, max(radii), snap_max_m=params.life_circle.snap_max_m, ledger=ledger
        )
    ev, gap_lines = data_evidence(sa, params, lu, origins, radii, ledger=ledger)
    with timer.stage("life circles and 500 m"):
        parts.append(
            pd.DataFrame(
                {
                    "residential_floor_area_m2": housing.floor_area_m2(n),
                    "has_residents": ev.residents,
                },
                index=idx,
            )
        )
        assessed = {c for c in sa.catalogue.categories if columns.lc_category(c) not in ev.gaps}
        parts.append(
            life_circle.life_circle_coverage(
                n, origins, dist, sa.catalogue, index=idx, assessed=assessed
            )
        )
        radius = transit.straight_distances(origins.points, sa.stations, PROXIMITY)
        parts.append(
            transit.proximity_coverage(
                n, origins, radius, dist[PROXIMITY], index=idx, radius_m=radii
            )
        )
        parts.append(transit.station_counts(units, sa.stations))
        if sa.amenities is not None:
            parts.append(
                amenities.amenity_counts(units, sa.amenities, list(sa.catalogue.amenities))
            )
        people = _population(
            sa, params.life_circle, pieces, origins, housing, ways["greenway_km"].to_numpy()
        )
        parts.append(people)
    carbon_res = factors = None
    if params.carbon.enabled:
        with timer.stage("carbon"):
            carbon_res, factors, carbon_gaps, carbon_lines = carbon_step(
                sa,
                params.carbon,
                pieces,
                green_part,
                people["population"].to_numpy(dtype=float),
                ledger=ledger,
            )
            parts.append(carbon_res.table)
            parts.append(
                no_plan_columns(idx)
            )  # the plan's reduction rate: a scenario with measures fills it
            ev.gaps.update(carbon_gaps)
            gap_lines = [*gap_lines, *carbon_lines]
    with timer.stage("service areas"):
        areas = _service_areas(sa, params.life_circle, params.transit.radius_m, net, reach)
    table = pd.concat(parts, axis=1)
    cols = {
        k: v for k, v in column_registry(sa, radii).items() if k == "unit_id" or k in table.columns
    }
    table = table[[c for c in cols if c != "unit_id"]]
    table.index.name = "unit_id"
    why = apply_evidence(table, cols, ev)
    table = table.copy()  # one block per dtype again after the columns set to NaN
    stats.update(walk_nodes=net.n_nodes, walk_edges=len(net.u), origins=len(origins.points))
    out_units = gpd.GeoDataFrame(
        table.drop(columns=["name"]).join(units[["name", "geometry"]]),
        geometry="geometry",
        crs=units.crs,
    )
    return RunResult(
        indicators=table,
        units=out_units,
        columns=cols,
        network=net,
        origin_distances=dist,
        stats=stats,
        service_areas=areas,
        carbon=carbon_res,
        carbon_factors=factors,
        reasons=why,
        gaps=gap_lines,
        ledger=ledger,
    )


def _population(
    sa: StudyArea,
    lc: LifeCircleParams,
    pieces: pd.DataFrame,
    origins: Origins,
    housing: Origins,
    greenway_km: np.ndarray,
) -> pd.DataFrame:
    """Residents per unit, when the data has them, and the per-person indicators that need them."""
    n, idx = len(sa.units), sa.units.index
    if origins.basis.eq("population").any():
        pop = population_per_unit(origins, n)
    elif "population" in sa.buildings and sa.buildings["population"].notna().any():
        pop = population_per_unit(building_population_origins(sa.units, sa.buildings, pieces), n)
    elif lc.population_raster is not None:
        pop = population_per_unit(raster_population_origins(sa.units, lc.population_raster), n)
    else:
        pop = np.full(n, np.nan)
    out = pd.DataFrame({"population": pop}, index=idx)
    with np.errstate(invalid="ignore", divide="ignore"):
        out["floor_area_per_person_m2"] = np.where(pop > 0, housing.floor_area_m2(n) / pop, np.nan)
        out["greenway_km_per_10k_people"] = np.where(pop > 0, greenway_km / pop * 1e4, np.nan)
    return out


def make_origins(
    sa: StudyArea, lc: LifeCircleParams, pieces: pd.DataFrame, housing: Origins
) -> Origins:
    """Where residents start from, weighted as ``lc.weight_by`` says (residential floor area by default)."""
    if lc.weight_by == "population":
        if lc.population_raster is not None:
            return raster_population_origins(sa.units, lc.population_raster)
        if "population" in sa.buildings and sa.buildings["population"].notna().any():
            return building_population_origins(sa.units, sa.buildings, pieces)
        raise ConfigError(
            "life_circle.weight_by is 'population' but there is no population: set life_circle.population_raster "
            "or inputs.buildings.population_column"
        )
    return housing
