"""The map section of a run config and the numeric unit columns a map can be coloured by."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import (
    ConfigDict,
    Field,
    ValidationInfo,
    field_serializer,
    field_validator,
    model_validator,
)

from ditan.maps import basemaps
from ditan.pipelines.config.base import _Options, _refuse
from ditan.pipelines.config.life_circle import LifeCircleOptions
from ditan.pipelines.config.model import _existing


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


#: the tile caches an annex sheet can draw on: Web Mercator tiles aligned to WGS 84
TILE_CACHE_SCHEMES = ("osm", "tianditu", "tianditu_img", "xyz")
#: GCJ-02 tile sources, refused for the annex
GCJ02_SCHEMES = ("gaode", "amap", "autonavi", "gcj02", "gcj-02", "gaode_img", "tencent")


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
    tile_cache: Path | None = Field(
        None,
        description="Offline tile folder {z}/{x}/{y}.png (e.g. made by a tile downloader) drawn lightly beneath the annex "
        "sheets; Web Mercator (EPSG:3857) tiles aligned to WGS 84, see tile_cache_scheme. Never downloaded: a sheet "
        "the cache does not cover is drawn over the vector context with the note 底图缺失 basemap tiles missing",
    )
    tile_cache_scheme: str = Field(
        "osm",
        description="What the tile cache holds: osm | tianditu (天地图 vec_w) | tianditu_img (img_w) | xyz (another "
        "WGS 84-aligned Web Mercator source). GCJ-02 tiles (gaode 高德, amap) are refused: the printed sheet must not "
        "shift the data",
    )
    max_vertices_per_layer: int = Field(
        100_000,
        gt=0,
        description="A detail layer (buildings, roads, land use, service areas …) with more vertices is left out of "
        "map.html, with a note on the map; a browser stalls on a whole city's footprints (they stay in communities.gpkg)",
    )

    @field_validator("tile_cache", mode="before")
    @classmethod
    def _check_tile_cache(cls, v: Any, info: ValidationInfo) -> Path | None:
        return None if v is None else _existing(v, info)

    @field_validator("tile_cache")
    @classmethod
    def _tile_dir(cls, v: Path | None) -> Path | None:
        if v is not None and not v.is_dir():
            raise ValueError(
                f"{v}: a tile cache is a folder of {{z}}/{{x}}/{{y}}.png tiles, not a file"
            )
        return v

    @field_validator("tile_cache_scheme", mode="before")
    @classmethod
    def _tile_scheme(cls, v: object) -> object:
        s = str(v).strip().lower()
        if s in GCJ02_SCHEMES:
            raise ValueError(
                f"'{v}' tiles are GCJ-02 (offset a few hundred metres from WGS 84) and cannot underlie a printed annex "
                "sheet, which must not shift the data: use osm, tianditu or tianditu_img tiles (Web Mercator, WGS 84)"
            )
        if s not in TILE_CACHE_SCHEMES:
            raise ValueError(
                f"unknown tile cache scheme '{v}': one of {', '.join(TILE_CACHE_SCHEMES)} (WGS 84-aligned Web Mercator)"
            )
        return s

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
