"""The run configuration: a typed model checked before any work.

Every problem is reported at once, each with its key path and a hint. Relative paths are
resolved against the folder of the config file.
"""

from __future__ import annotations

import difflib
from pathlib import Path

import yaml
from pydantic import (
    BaseModel,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from ditan.pipelines.config.base import _Options, _refuse
from ditan.pipelines.config.carbon import CarbonOptions
from ditan.pipelines.config.database import DatabaseSource, OutputOptions
from ditan.pipelines.config.jobs import ComplianceOptions, LandSaleOptions, ScreeningOptions
from ditan.pipelines.config.life_circle import LifeCircleOptions
from ditan.pipelines.config.map_options import MapOptions, colourable_columns
from ditan.pipelines.config.options import (
    AssessmentOptions,
    BuildingOptions,
    ParkOptions,
    RoadOptions,
    TransitOptions,
    UnitsOptions,
)
from ditan.pipelines.config.osm_source import OsmSource
from ditan.pipelines.config.report_options import ReportOptions
from ditan.pipelines.config.sources import Inputs
from ditan.spatial.errors import ConfigError, format_validation_errors


class Config(_Options):
    name: str = Field(
        pattern=r"^[A-Za-z0-9_\-]+$", description="Run name; outputs go to out/<name>/"
    )
    title: str | None = Field(None, description="Title shown in tables and maps")
    crs: str | None = Field(
        None, description="Metric CRS to measure in; default: CGCS2000 3° Gauss–Krüger zone or UTM"
    )
    bounds: tuple[float, float, float, float] | None = Field(
        None,
        description="Study bounds [west, south, east, north] in degrees (WGS 84); default: inputs.osm bounds, else the units",
    )
    attribution: str | None = Field(
        None, description="Data attribution shown on maps and in the manifest"
    )
    inputs: Inputs
    units: UnitsOptions = UnitsOptions()
    roads: RoadOptions = RoadOptions()
    buildings: BuildingOptions = BuildingOptions()
    life_circle: LifeCircleOptions = LifeCircleOptions()
    transit: TransitOptions = TransitOptions()
    assessment: AssessmentOptions = AssessmentOptions()
    parks: ParkOptions = ParkOptions()
    carbon: CarbonOptions = Field(
        CarbonOptions(), description="碳盘查 carbon inventory: factors and their overrides"
    )
    compliance: ComplianceOptions = ComplianceOptions()
    screening: ScreeningOptions = ScreeningOptions()
    map: MapOptions = MapOptions()
    report: ReportOptions = Field(
        ReportOptions(),
        description="The 指标核查报告 of `ditan report` (language, template, annex, PDF)",
    )
    land_sale: LandSaleOptions | None = Field(
        None, description="Parcels about to be sold, for `ditan check-parcels`"
    )
    database: DatabaseSource | None = Field(
        None,
        description="PostgreSQL/PostGIS database of the layers given as table: or sql:; {} (no url): libpq's PG* variables",
    )
    output: OutputOptions = Field(
        OutputOptions(),
        description="Where results go besides out/<name>/ (output.database: PostGIS)",
    )
    source_path: Path | None = Field(None, exclude=True, description="(set by the loader)")

    _check_bounds = field_validator("bounds")(OsmSource._bounds.__func__)  # type: ignore[attr-defined]

    @model_validator(mode="after")
    def _database_layers(self) -> Config:
        """Give each table / sql layer the config's database (there must be one)."""
        layers = {f"inputs.{k}": src for k, src in self.inputs.database_layers().items()}
        if self.land_sale is not None and self.land_sale.parcels.path is None:
            layers["land_sale.parcels"] = self.land_sale.parcels
        if layers and self.database is None:
            raise ValueError(
                f"{', '.join(layers)} name a PostGIS table or sql but the config has no database: add "
                "database: {url: postgresql://user@host:5432/dbname} (or database: {} to use PGHOST, PGPORT, PGUSER, "
                "PGDATABASE and PGPASSWORD / ~/.pgpass)"
            )
        for src in layers.values():
            src._database = self.database
        return self

    @field_validator("map")
    @classmethod
    def _color_by(cls, v: MapOptions, info: ValidationInfo) -> MapOptions:
        """map.color_by names a column this config writes (checked once life_circle and transit are valid)."""
        from ditan.spatial.standards.columns import parse_proximity

        lc, transit = (
            info.data.get("life_circle"),
            info.data.get("transit"),
        )  # None when invalid (reported there)
        known = colourable_columns(lc, transit.radius_m if transit else None)
        unsure = (lc is None and v.color_by.startswith("lc_")) or (
            transit is None and parse_proximity(v.color_by) is not None
        )
        if v.color_by not in known and not unsure:
            close = difflib.get_close_matches(v.color_by, known, n=3, cutoff=0.6)
            hint = (
                f"did you mean '{close[0]}'?"
                if close
                else f"the numeric columns of this run: {', '.join(known)}"
            )
            _refuse(
                [
                    (
                        ("color_by",),
                        f"'{v.color_by}' is not a numeric unit column of this run; {hint}",
                    )
                ]
            )
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
            raise ValueError(
                f"'{v}' is geographic (degrees); name a projected CRS in metres, e.g. EPSG:4548"
            )
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
        raise ConfigError(
            f"config file {what}: {path}; the default is pipelines/configs/beijing_haidian.yaml"
        )
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8-sig"))
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not UTF-8 text; save the config as UTF-8") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path} must hold a mapping of keys (name, inputs, …), not {type(data).__name__}"
        )
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
