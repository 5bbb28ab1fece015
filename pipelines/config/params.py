"""The parameters of the computation: small frozen objects derived once from the config.

The indicator steps take these (or plain keyword arguments), never the whole
:class:`~ditan.pipelines.config.schema.Config`, so that a signature shows what a step depends on
and a notebook can call the steps without a config file::

    cfg = load_config("pipelines/configs/beijing_haidian.yaml")
    result = compute(load_study_area(cfg), params_from_config(cfg))
    compute(sa, ComputeParams(transit=TransitParams(radius_m=300.0)))  # defaults, one value changed

Each group mirrors a section of the config (same key names, same defaults);
``params_from_config`` copies the values.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ditan.pipelines.config.schema import Config

__all__ = [
    "AssessmentParams",
    "CarbonParams",
    "ComputeParams",
    "LifeCircleParams",
    "ParkParams",
    "RoadParams",
    "TransitParams",
    "params_from_config",
]

#: OSM highway values counted as city roads (config roads.include)
ROAD_INCLUDE = (
    "motorway", "motorway_link", "trunk", "trunk_link", "primary", "primary_link", "secondary",
    "secondary_link", "tertiary", "tertiary_link", "residential", "unclassified", "living_street",
)  # fmt: skip
#: OSM highway values not walkable (config life_circle.walk_exclude)
WALK_EXCLUDE = (
    "motorway", "motorway_link", "trunk", "trunk_link", "construction", "proposed", "raceway",
    "bus_guideway",
)  # fmt: skip


@dataclass(frozen=True)
class RoadParams:
    """roads: which ways are city roads, and how divided roads and junctions are counted."""

    include: tuple[str, ...] = ROAD_INCLUDE
    divided: bool = True
    divided_max_gap_m: float = 40.0
    junction_tolerance_m: float = 15.0


@dataclass(frozen=True)
class LifeCircleParams:
    """life_circle: the walk network, where residents start from, and the service-area drawing."""

    walk_exclude: tuple[str, ...] = WALK_EXCLUDE
    snap_max_m: float = 100.0
    weight_by: str = "floor_area"  # floor_area | population
    population_raster: str | None = None  # GeoTIFF of residents per pixel (weight_by population)
    service_area_buffer_m: float = 25.0
    service_areas: str = "auto"  # auto | polygons | lines
    service_area_max_pieces: int = 40_000
    service_area_simplify_m: float = 1.0  # metres; geometry only (attributes: exact)
    confirmed_absent: tuple[
        str, ...
    ] = ()  # categories and community amenities known to be absent: 0, not a gap


@dataclass(frozen=True)
class TransitParams:
    """transit: the radius of the proximity indicators and the station kinds known to be absent."""

    radius_m: float = 500.0
    confirmed_absent: tuple[str, ...] = ()


@dataclass(frozen=True)
class ParkParams:
    """parks: park service radii by park size (城市体检 公园绿地服务半径覆盖率)."""

    large_min_area_m2: float = 5000.0
    large_radius_m: float = 500.0
    small_min_area_m2: float = 2000.0
    small_radius_m: float = 300.0


@dataclass(frozen=True)
class AssessmentParams:
    """assessment: how much residential land makes a unit one with residents."""

    min_residential_land_m2: float = 100.0
    min_residential_land_pct: float = 0.5


@dataclass(frozen=True)
class CarbonParams:
    """carbon: whether to compute the inventory, and the factors the config overrides (plain values)."""

    enabled: bool = True
    overrides: dict = field(default_factory=dict)


@dataclass(frozen=True)
class ComputeParams:
    """Everything :func:`~ditan.pipelines.compute.indicators.compute` needs besides the study area."""

    roads: RoadParams = field(default_factory=RoadParams)
    life_circle: LifeCircleParams = field(default_factory=LifeCircleParams)
    transit: TransitParams = field(default_factory=TransitParams)
    parks: ParkParams = field(default_factory=ParkParams)
    assessment: AssessmentParams = field(default_factory=AssessmentParams)
    carbon: CarbonParams = field(default_factory=lambda: CarbonParams())


def params_from_config(cfg: Config) -> ComputeParams:
    """The parameters of ``cfg`` that the computation uses (built once per run)."""
    lc, r, p, a = cfg.life_circle, cfg.roads, cfg.parks, cfg.assessment
    return ComputeParams(
        roads=RoadParams(
            include=tuple(r.include),
            divided=r.divided,
            divided_max_gap_m=r.divided_max_gap_m,
            junction_tolerance_m=r.junction_tolerance_m,
        ),
        life_circle=LifeCircleParams(
            walk_exclude=tuple(lc.walk_exclude),
            snap_max_m=lc.snap_max_m,
            weight_by=lc.weight_by,
            population_raster=None if lc.population_raster is None else str(lc.population_raster),
            service_area_buffer_m=lc.service_area_buffer_m,
            service_areas=lc.service_areas,
            service_area_max_pieces=lc.service_area_max_pieces,
            service_area_simplify_m=lc.service_area_simplify_m,
            confirmed_absent=tuple(lc.confirmed_absent),
        ),
        transit=TransitParams(
            radius_m=cfg.transit.radius_m, confirmed_absent=tuple(cfg.transit.confirmed_absent)
        ),
        parks=ParkParams(
            large_min_area_m2=p.large_min_area_m2,
            large_radius_m=p.large_radius_m,
            small_min_area_m2=p.small_min_area_m2,
            small_radius_m=p.small_radius_m,
        ),
        assessment=AssessmentParams(
            min_residential_land_m2=a.min_residential_land_m2,
            min_residential_land_pct=a.min_residential_land_pct,
        ),
        carbon=CarbonParams(enabled=cfg.carbon.enabled, overrides=cfg.carbon.overrides()),
    )
