"""The map section of a run config and the numeric unit columns a map can be coloured by."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field, field_serializer, field_validator, model_validator

from ditan.maps import basemaps
from ditan.pipelines.config.base import _Options, _refuse
from ditan.pipelines.config.life_circle import LifeCircleOptions


def colourable_columns(life_circle: LifeCircleOptions | None, radius_m: float | None) -> list[str]:
    """The numeric unit columns a run of this config writes, for map.color_by.

    The static spatial indicators (spatial/standards/indicators.yaml) without the text columns and without
    those named after a tier or a radius, then the life-circle columns of the catalogue in use and the
    proximity columns at ``radius_m`` (left out when ``life_circle`` / ``radius_m`` is None: not known).
    """
    from ditan.spatial.standards import columns
    from ditan.spatial.standards.registry import registry

    static = [
        k
        for k, ind in registry().items()
        if ind.spatial
        and ind.unit
        and not k.startswith("lc_")
        and columns.parse_proximity(k) is None
    ]
    out = static + (columns.proximity_columns(radius_m) if radius_m is not None else [])
    if life_circle is not None:
        cat = life_circle.load_catalogue()
        tiers = [
            f(t)
            for t in cat.tiers
            for f in (
                columns.lc_all,
                columns.lc_score,
                columns.lc_assessed,
                columns.lc_categories_total,
            )
        ]
        out += [columns.lc_category(c) for c in cat.categories] + tiers
    return out


class MapOptions(_Options):
    # a job or test setting map.tiles = False (the old boolean) gets "none", as from YAML
    model_config = ConfigDict(**_Options.model_config, validate_assignment=True)

    color_by: str = Field(
        "road_density_km_per_km2", description="Indicator id the units are coloured by"
    )
    tiles: str = Field(
        "osm",
        description="Online basemap fetched by the browser: osm | tianditu (天地图 vector + annotation) | "
        "tianditu_img (imagery + annotation) | gaode (高德, GCJ-02: the data are shifted on screen only) | none | "
        "an XYZ URL template with {x} {y} {z}; true = osm, false = none (the data layers draw without it)",
    )
    tianditu_key: str | None = Field(
        None,
        description="天地图 browser key (tk) for map.tiles tianditu / tianditu_img; else the environment variable "
        "TIANDITU_KEY (https://console.tianditu.gov.cn). Masked in manifest.json",
    )
    paper: Literal["A4", "A3"] = Field(
        "A4", description="Paper of the map annex sheets (ditan annex); --paper overrides it"
    )
    max_vertices_per_layer: int = Field(
        100_000,
        gt=0,
        description="A detail layer (buildings, roads, land use, service areas …) with more vertices is left out of "
        "map.html, with a note on the map; a browser stalls on a whole city's footprints (they stay in communities.gpkg)",
    )

    @field_validator("tiles", mode="before")
    @classmethod
    def _tiles(cls, v: object) -> object:
        v = basemaps.normalise_tiles(v)
        if isinstance(v, str) and (why := basemaps.tiles_problem(v)):
            raise ValueError(why)
        return v

    @model_validator(mode="after")
    def _tianditu_key(self) -> MapOptions:
        if self.tiles in ("tianditu", "tianditu_img") and not basemaps.resolve_key(
            self.tianditu_key
        ):
            _refuse(
                [
                    (
                        ("tianditu_key",),
                        f"map.tiles '{self.tiles}' needs a Tianditu key: set map.tianditu_key or the "
                        f"environment variable {basemaps.KEY_ENV} ({basemaps.KEY_HINT})",
                    )
                ],
                "MapOptions",
            )
        return self

    @field_serializer("tianditu_key")
    def _mask_key(self, v: str | None) -> str | None:
        # a user's key stays out of manifest.json and the database
        return None if v is None else "***"
