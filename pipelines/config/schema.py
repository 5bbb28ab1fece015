"""The run configuration: a typed model checked before any work.

Every problem is reported at once, each with its key path and a hint. Relative paths are
resolved against the folder of the config file.
"""

from __future__ import annotations

import difflib
import math
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field, ValidationError, ValidationInfo, field_validator, model_validator

from ditan.pipelines.config.base import Positive, _did_you_mean, _Options, _profile_ref, _refuse  # noqa: F401
from ditan.pipelines.config.jobs import ComplianceOptions, LandSaleOptions, ScreeningOptions  # noqa: F401  (re-exported)
from ditan.pipelines.config.sources import (  # noqa: F401  (re-exported: the input models live in config.sources)
    CODE_SYSTEMS,
    DatabaseSource,
    Inputs,
    LayerSource,
    OsmSource,
    OutputDatabase,
    OutputOptions,
    ParcelSource,
    RasterSource,
    _existing,
    _Model,
    _resolve,
)
from ditan.spatial.errors import ConfigError, format_validation_errors


class UnitsOptions(_Options):
    min_area_m2: float = Field(20_000.0, gt=0, description="Blocks smaller than this are slivers and dropped")
    min_width_m: float = Field(30.0, ge=0, description="Strips narrower than this (road medians) are dropped")
    max_area_m2: float = Field(1_000_000.0, gt=0, description="Larger blocks are subdivided by the next road tier")
    id_prefix: str = "U"

    @model_validator(mode="after")
    def _area_range(self) -> UnitsOptions:
        if self.max_area_m2 <= self.min_area_m2:
            _refuse([(("max_area_m2",), f"must be larger than min_area_m2 ({self.min_area_m2:g}): blocks over max_area_m2 are "
                                        f"subdivided and pieces under min_area_m2 dropped, so {self.max_area_m2:g} would drop them all")])  # fmt: skip
        return self


class RoadOptions(_Options):
    divided: bool = Field(True, description="Count a divided road (two one-way carriageways) once, as one centre line")
    divided_max_gap_m: float = Field(40.0, gt=0, description="Carriageways of one road lie at most this far apart")
    junction_tolerance_m: float = Field(15.0, ge=0, description="Junction nodes within 2× this are one intersection (0: off)")
    include: list[str] = Field(
        ["motorway", "motorway_link", "trunk", "trunk_link", "primary", "primary_link", "secondary",
         "secondary_link", "tertiary", "tertiary_link", "residential", "unclassified", "living_street"],
        description="OSM highway values counted as city roads (service, footway, cycleway, path excluded by default); "
        "a Chinese class of spatial/standards/road_classes.yaml (快速路, 主干路 …) stands for its OSM value and its _link",
    )  # fmt: skip

    @field_validator("include")
    @classmethod
    def _include(cls, v: list[str]) -> list[str]:
        """Known road classes only (did-you-mean otherwise), as OSM highway values."""
        from ditan.spatial.standards.road_classes import resolve_include

        return resolve_include(v)


class BuildingOptions(_Options):
    storey_height_m: float = Field(3.0, gt=0, description="Floors = height ÷ this when building:levels is missing")
    default_floors: dict[str, Positive] = Field(
        default_factory=dict, description="Floors by building type when neither levels nor height is known; key _other for the rest"
    )


class CategorySpec(_Model):
    """A life-circle facility category added in the config (same fields as the catalogue file)."""

    id: str = Field(pattern=r"^[a-z0-9_]+$")
    tier: str
    zh: str
    en: str
    source: str = "added in the run configuration"
    unconfirmed: bool = False
    aliases: list[str] = []
    overture: list[str] = []
    match: list[dict[str, Any]] = Field([], description="OSM tag rules, e.g. [{amenity: canteen}]")


class LifeCircleOptions(_Options):
    tiers_m: dict[str, Positive] = Field(
        default_factory=dict, description="Walking distance (m) of a tier of the catalogue, overriding the catalogue's (GB 50180-2018: "
        "5min 300, 10min 500, 15min 1000); increasing in tier order. After loading: every tier's distance")
    catalogue: Path | None = Field(None, description="Facility catalogue YAML; default: the packaged GB 50180 one")
    extra_categories: list[CategorySpec] = Field([], description="Categories added to (or replacing by id in) the catalogue")
    snap_max_m: float = Field(100.0, gt=0, description="Facilities and homes further than this from the walk network are not snapped")
    weight_by: Literal["floor_area", "population"] = Field(
        "floor_area",
        description="floor_area: residential floor area; population: inputs.buildings.population_column or population_raster",
    )
    population_raster: Path | None = Field(None, description="GeoTIFF of residents per pixel (with weight_by: population)")
    service_area_buffer_m: float = Field(
        25.0, gt=0, description="Service-area polygons: reachable streets buffered by this (for the streets themselves: service_areas: lines)")
    service_areas: Literal["auto", "polygons", "lines"] = Field(
        "auto", description="polygons: reachable streets buffered and dissolved; lines: the reachable streets themselves (a city's "
        "dissolve takes minutes); auto: polygons up to service_area_max_pieces reachable street pieces, else lines")
    service_area_max_pieces: int = Field(40_000, gt=0, description="auto: the most reachable street pieces drawn as polygons")
    walk_exclude: list[str] = Field(
        ["motorway", "motorway_link", "trunk", "trunk_link", "construction", "proposed", "raceway", "bus_guideway"],
        description="OSM highway values not walkable",
    )
    confirmed_absent: list[str] = Field(
        [], description="Category ids (or community amenities such as canteen) known to be absent from the study area: with no "
        "facility in the data they count as measured 0 % instead of a data gap (NaN)")

    @field_validator("catalogue", "population_raster", mode="before")
    @classmethod
    def _cat(cls, v: Any, info: ValidationInfo) -> Path | None:
        return None if v is None else _existing(v, info)

    def load_catalogue(self):  # -> ditan.spatial.standards.catalogue.Catalogue
        """The facility catalogue of this run: the file (or the packaged one) with tiers_m and extra_categories applied."""
        from ditan.spatial.standards.catalogue import load_catalogue

        return load_catalogue(self.catalogue, tier_distances_m=self.tiers_m, extra_categories=[c.model_dump() for c in self.extra_categories])

    @model_validator(mode="after")
    def _tiers(self) -> LifeCircleOptions:
        """tiers_m and extra_categories name tiers of the catalogue; tier distances increase in the catalogue's order."""
        from ditan.spatial.standards.catalogue import load_catalogue

        where = f"the catalogue {self.catalogue.name}" if self.catalogue else "the packaged catalogue (GB 50180-2018)"
        try:
            base = load_catalogue(self.catalogue)
        except Exception as exc:  # a hand-written catalogue: bad YAML, a missing key, a category naming an unknown tier
            _refuse([(("catalogue",), f"{where} cannot be read ({type(exc).__name__}: {exc}); see spatial/standards/life_circle.yaml "
                                      "for the layout (tiers: {id: {distance_m, zh, en}}, categories: [...])")])  # fmt: skip
        ids = list(base.tiers)
        known = f"tiers of {where}"
        problems = [(("tiers_m", k), f"'{k}' is not a tier of {where}; {_did_you_mean(k, ids, 'its tiers')} (another tier needs a "
                                     "catalogue of your own: life_circle.catalogue)") for k in self.tiers_m if k not in base.tiers]  # fmt: skip
        problems += [(("extra_categories", i, "tier"), f"'{c.tier}' is not a tier of {where}; {_did_you_mean(c.tier, ids, known)}")
                     for i, c in enumerate(self.extra_categories) if c.tier not in base.tiers]  # fmt: skip
        bad = {k: t.distance_m for k, t in base.tiers.items() if not (math.isfinite(t.distance_m) and t.distance_m > 0)}
        if bad and self.catalogue:
            problems.append((("catalogue",), f"{where}: tier distance_m must be a number of metres above 0 "
                                             f"({', '.join(f'{k}: {d:g}' for k, d in bad.items())}); fix the file or set tiers_m"))  # fmt: skip
        _refuse(problems)
        try:
            self.load_catalogue()
        except Exception as exc:  # e.g. an added category without a Chinese or English name
            _refuse([(("extra_categories",), f"cannot be added to {where} ({type(exc).__name__}: {exc})")])
        dist = {k: float(self.tiers_m.get(k, t.distance_m)) for k, t in base.tiers.items()}
        steps = list(dist.items())
        if any(b[1] <= a[1] for a, b in zip(steps, steps[1:], strict=False)):
            listing = ", ".join(f"{k} {d:g} m" for k, d in steps)
            _refuse([(("tiers_m",), f"tier distances must increase in the catalogue's tier order, each tier reaching farther than the one "
                                    f"before: {listing}" + ("" if self.tiers_m else f" (as set in {where})"))])  # fmt: skip
        self.tiers_m = dist  # every tier's distance, in tier order: what the run uses
        cat = self.load_catalogue()
        ids = [*cat.categories, *cat.amenities]
        _refuse([(("confirmed_absent", i), f"'{c}' is not a category or community amenity of {where}; {_did_you_mean(c, ids, 'its ids')}")
                 for i, c in enumerate(self.confirmed_absent) if c not in ids])  # fmt: skip
        return self


class ParkOptions(_Options):
    """城市体检 park service-radius coverage (公园绿地服务半径覆盖率)."""

    large_min_area_m2: float = Field(5000.0, gt=0, description="Parks at least this large serve large_radius_m")
    large_radius_m: float = Field(500.0, gt=0)
    small_min_area_m2: float = Field(2000.0, gt=0, description="Parks from this size up to large_min_area_m2 serve small_radius_m")
    small_radius_m: float = Field(300.0, gt=0)

    @model_validator(mode="after")
    def _sizes(self) -> ParkOptions:
        if self.small_min_area_m2 > self.large_min_area_m2:
            _refuse([(("small_min_area_m2",), f"must not exceed large_min_area_m2 ({self.large_min_area_m2:g}): small parks are those from "
                                               "small_min_area_m2 up to large_min_area_m2")])  # fmt: skip
        return self


class TransitOptions(_Options):
    radius_m: float = Field(500.0, gt=0, description="Radius of the 500 m proximity indicators")
    confirmed_absent: list[Literal["bus_stop", "metro", "bike_rental", "ev_charging"]] = Field(
        [], description="Station kinds known to be absent (e.g. metro in a town without one): with no station in the data they "
        "count as measured 0 instead of a data gap (NaN)")


class AssessmentOptions(_Options):
    """When a unit has residents: rules about residents (life circles, 500 m, parks, per person) are judged only there."""

    min_residential_land_m2: float = Field(100.0, ge=0, description="Residential land (m²) a unit needs to count as having residents")
    min_residential_land_pct: float = Field(0.5, ge=0, le=100, description="… and as a share (%) of the unit's area")


def colourable_columns(life_circle: LifeCircleOptions | None, radius_m: float | None) -> list[str]:
    """The numeric unit columns a run of this config writes, for map.color_by.

    The static spatial indicators (spatial/standards/indicators.yaml) without the text columns and without
    those named after a tier or a radius, then the life-circle columns of the catalogue in use and the
    proximity columns at ``radius_m`` (left out when ``life_circle`` / ``radius_m`` is None: not known).
    """
    from ditan.spatial.standards import columns
    from ditan.spatial.standards.registry import registry

    static = [k for k, ind in registry().items() if ind.spatial and ind.unit and not k.startswith("lc_") and columns.parse_proximity(k) is None]
    out = static + (columns.proximity_columns(radius_m) if radius_m is not None else [])
    if life_circle is not None:
        cat = life_circle.load_catalogue()
        tiers = [f(t) for t in cat.tiers for f in (columns.lc_all, columns.lc_score, columns.lc_assessed, columns.lc_categories_total)]
        out += [columns.lc_category(c) for c in cat.categories] + tiers
    return out


class MapOptions(_Options):
    color_by: str = Field("road_density_km_per_km2", description="Indicator id the units are coloured by")
    tiles: bool = Field(True, description="Draw an online basemap (the data layers draw without it)")
    paper: Literal["A4", "A3"] = Field("A4", description="Paper of the map annex sheets (ditan annex); --paper overrides it")
    max_vertices_per_layer: int = Field(
        100_000, gt=0, description="A detail layer (buildings, roads, land use, service areas …) with more vertices is left out of "
        "map.html, with a note on the map; a browser stalls on a whole city's footprints (they stay in communities.gpkg)")


class Config(_Options):
    name: str = Field(pattern=r"^[A-Za-z0-9_\-]+$", description="Run name; outputs go to out/<name>/")
    title: str | None = Field(None, description="Title shown in tables and maps")
    crs: str | None = Field(None, description="Metric CRS to measure in; default: CGCS2000 3° Gauss–Krüger zone or UTM")
    bounds: tuple[float, float, float, float] | None = Field(
        None, description="Study bounds [west, south, east, north] in degrees (WGS 84); default: inputs.osm bounds, else the units"
    )
    attribution: str | None = Field(None, description="Data attribution shown on maps and in the manifest")
    inputs: Inputs
    units: UnitsOptions = UnitsOptions()
    roads: RoadOptions = RoadOptions()
    buildings: BuildingOptions = BuildingOptions()
    life_circle: LifeCircleOptions = LifeCircleOptions()
    transit: TransitOptions = TransitOptions()
    assessment: AssessmentOptions = AssessmentOptions()
    parks: ParkOptions = ParkOptions()
    compliance: ComplianceOptions = ComplianceOptions()
    screening: ScreeningOptions = ScreeningOptions()
    map: MapOptions = MapOptions()
    land_sale: LandSaleOptions | None = Field(None, description="Parcels about to be sold, for `ditan check-parcels`")
    database: DatabaseSource | None = Field(
        None, description="PostgreSQL/PostGIS database of the layers given as table: or sql:; {} (no url): libpq's PG* variables")
    output: OutputOptions = Field(OutputOptions(), description="Where results go besides out/<name>/ (output.database: PostGIS)")
    source_path: Path | None = Field(None, exclude=True, description="(set by the loader)")

    _check_bounds = field_validator("bounds")(OsmSource._bounds.__func__)  # type: ignore[attr-defined]

    @model_validator(mode="after")
    def _database_layers(self) -> Config:
        """Give each table / sql layer the config's database (there must be one)."""
        layers = {f"inputs.{k}": src for k, src in self.inputs.database_layers().items()}
        if self.land_sale is not None and self.land_sale.parcels.path is None:
            layers["land_sale.parcels"] = self.land_sale.parcels
        if layers and self.database is None:
            raise ValueError(f"{', '.join(layers)} name a PostGIS table or sql but the config has no database: add "
                             "database: {url: postgresql://user@host:5432/dbname} (or database: {} to use PGHOST, PGPORT, PGUSER, "
                             "PGDATABASE and PGPASSWORD / ~/.pgpass)")  # fmt: skip
        for src in layers.values():
            src._database = self.database
        return self

    @field_validator("map")
    @classmethod
    def _color_by(cls, v: MapOptions, info: ValidationInfo) -> MapOptions:
        """map.color_by names a column this config writes (checked once life_circle and transit are valid)."""
        from ditan.spatial.standards.columns import parse_proximity

        lc, transit = info.data.get("life_circle"), info.data.get("transit")  # None when invalid (reported there)
        known = colourable_columns(lc, transit.radius_m if transit else None)
        unsure = (lc is None and v.color_by.startswith("lc_")) or (transit is None and parse_proximity(v.color_by) is not None)
        if v.color_by not in known and not unsure:
            close = difflib.get_close_matches(v.color_by, known, n=3, cutoff=0.6)
            hint = f"did you mean '{close[0]}'?" if close else f"the numeric columns of this run: {', '.join(known)}"
            _refuse([(("color_by",), f"'{v.color_by}' is not a numeric unit column of this run; {hint}")])
        return v

    @field_validator("crs")
    @classmethod
    def _crs(cls, v: str | None) -> str | None:
        if v is None:
            return v
        from pyproj import CRS

        try:
            crs = CRS.from_user_input(v)
        except Exception as exc:  # pyproj raises CRSError; message kept
            raise ValueError(f"'{v}' is not a coordinate system pyproj knows ({exc})") from None
        if not crs.is_projected:
            raise ValueError(f"'{v}' is geographic (degrees); name a projected CRS in metres, e.g. EPSG:4548")
        return v


RENAMED = {"landuse": "parcels (with code_column and code_system)"}


def format_errors(exc: ValidationError, source: str, *, root: type[BaseModel] | None = None) -> str:
    """Every problem of a config (``root``: its model, default Config), one line each with its key path and a hint.

    The one formatter of ditan's YAML files (:func:`ditan.spatial.errors.format_validation_errors`), with the
    config's renamed keys.
    """
    return format_validation_errors(exc, source, root=root or Config, renamed=RENAMED)


def load_config(path: str | Path, *, deriving_units: bool = False) -> Config:
    """Read and validate a YAML config; raise ConfigError listing every problem.

    With ``deriving_units`` (``ditan units``) the units layer is ignored: it is what is being made.
    """
    path = Path(path)
    if not path.is_file():
        what = "is a folder, not a file" if path.is_dir() else "not found"
        raise ConfigError(f"config file {what}: {path}; the default is pipelines/configs/beijing_haidian.yaml")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8-sig"))
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not UTF-8 text; save the config as UTF-8") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping of keys (name, inputs, …), not {type(data).__name__}")
    if deriving_units and isinstance(data.get("inputs"), dict):
        data["inputs"].pop("units", None)
    return parse_config(data, base_dir=path.parent.resolve(), source=str(path))


def parse_config(data: dict, *, base_dir: Path, source: str = "config") -> Config:
    try:
        cfg = Config.model_validate(data, context={"base_dir": base_dir})
    except ValidationError as exc:
        raise ConfigError(format_errors(exc, source)) from None
    cfg.source_path = Path(source)
    return cfg
