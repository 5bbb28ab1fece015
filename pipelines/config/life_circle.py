"""The life-circle section of a run config: the facility catalogue, its tiers and categories added in the config."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from ditan.pipelines.config.base import Positive, _did_you_mean, _Options, _refuse
from ditan.pipelines.config.model import _existing, _Model


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


class CategoryExtension(_Model):
    """Values and rules added to an existing entry of the catalogue (a category, community amenity or station kind)."""

    id: str = Field(
        description="The id of the entry extended, e.g. primary_school, canteen, bus_stop"
    )
    aliases: list[str] = Field(
        [],
        description="Values accepted in a category or kind column (with category_system amap / baidu: whole type "
        "paths, e.g. 科教文化服务;学校;学校)",
    )
    match: list[dict[str, Any]] = Field(
        [], description="OSM tag rules, e.g. [{amenity: school, name_regex: 附小}]"
    )
    overture: list[str] = Field([], description="Overture places categories")


class LifeCircleOptions(_Options):
    tiers_m: dict[str, Positive] = Field(
        default_factory=dict,
        description="Walking distance (m) of a tier of the catalogue, overriding the catalogue's (GB 50180-2018: "
        "5min 300, 10min 500, 15min 1000); increasing in tier order. After loading: every tier's distance",
    )
    catalogue: Path | None = Field(
        None, description="Facility catalogue YAML; default: the packaged GB 50180 one"
    )
    extra_categories: list[CategorySpec] = Field(
        [],
        description="New categories added to the catalogue (an id the catalogue has is refused: extend_categories "
        "extends one)",
    )
    extend_categories: list[CategoryExtension] = Field(
        [],
        description="Aliases, OSM rules and Overture values added to existing categories, community amenities or "
        "station kinds of the catalogue, by id",
    )
    snap_max_m: float = Field(
        100.0,
        gt=0,
        description="Facilities and homes further than this from the walk network are not snapped",
    )
    weight_by: Literal["floor_area", "population"] = Field(
        "floor_area",
        description="floor_area: residential floor area; population: inputs.buildings.population_column or population_raster",
    )
    population_raster: Path | None = Field(
        None, description="GeoTIFF of residents per pixel (with weight_by: population)"
    )
    service_area_buffer_m: float = Field(
        25.0,
        gt=0,
        description="Service-area polygons: reachable streets buffered by this (for the streets themselves: service_areas: lines)",
    )
    service_areas: Literal["auto", "polygons", "lines"] = Field(
        "auto",
        description="polygons: reachable streets buffered and dissolved; lines: the reachable streets themselves (a city's "
        "dissolve takes minutes); auto: polygons up to service_area_max_pieces reachable street pieces, else lines",
    )
    service_area_max_pieces: int = Field(
        40_000, gt=0, description="auto: the most reachable street pieces drawn as polygons"
    )
    service_area_simplify_m: float = Field(
        1.0,
        ge=0,
        description="Service-area geometry as written is simplified within this many metres (0: exact); "
        "reachable_network_km and area_km2 are of the exact geometry",
    )
    walk_exclude: list[str] = Field(
        [
            "motorway",
            "motorway_link",
            "trunk",
            "trunk_link",
            "construction",
            "proposed",
            "raceway",
            "bus_guideway",
        ],
        description="OSM highway values not walkable",
    )
    confirmed_absent: list[str] = Field(
        [],
        description="Category ids (or community amenities such as canteen) known to be absent from the study area: with no "
        "facility in the data they count as measured 0 % instead of a data gap (NaN)",
    )

    @field_validator("catalogue", "population_raster", mode="before")
    @classmethod
    def _cat(cls, v: Any, info: ValidationInfo) -> Path | None:
        return None if v is None else _existing(v, info)

    def load_catalogue(self):  # -> ditan.spatial.standards.catalogue.Catalogue
        """The facility catalogue of this run: the file (or the packaged one) with tiers_m and extra_categories applied."""
        from ditan.spatial.standards.catalogue import load_catalogue

        return load_catalogue(
            self.catalogue,
            tier_distances_m=self.tiers_m,
            extra_categories=[c.model_dump() for c in self.extra_categories],
            extend_categories=[c.model_dump() for c in self.extend_categories],
        )

    @model_validator(mode="after")
    def _tiers(self) -> LifeCircleOptions:
        """tiers_m and extra_categories name tiers of the catalogue; tier distances increase in the catalogue's order."""
        from ditan.spatial.standards.catalogue import load_catalogue

        where = (
            f"the catalogue {self.catalogue.name}"
            if self.catalogue
            else "the packaged catalogue (GB 50180-2018)"
        )
        try:
            base = load_catalogue(self.catalogue)
        except Exception as exc:  # a hand-written catalogue: bad YAML, a missing key, a category naming an unknown tier
            _refuse(
                [
                    (
                        ("catalogue",),
                        f"{where} cannot be read ({type(exc).__name__}: {exc}); see spatial/standards/life_circle.yaml "
                        "for the layout (tiers: {id: {distance_m, zh, en}}, categories: [...])",
                    )
                ]
            )
        ids = list(base.tiers)
        known = f"tiers of {where}"
        problems = [
            (
                ("tiers_m", k),
                f"'{k}' is not a tier of {where}; {_did_you_mean(k, ids, 'its tiers')} (another tier needs a "
                "catalogue of your own: life_circle.catalogue)",
            )
            for k in self.tiers_m
            if k not in base.tiers
        ]
        existing = {
            **{k: "station kind" for k in base.stations},
            **{k: "community amenity" for k in base.amenities},
            **{k: "category" for k in base.categories},
        }
        problems += [
            (
                ("extra_categories", i, "id"),
                f"'{c.id}' is already a {existing[c.id]} of {where}: extra_categories adds new categories and never "
                f"replaces one. To add aliases, OSM rules or Overture values to it use extend_categories "
                f"([{{id: {c.id}, aliases: [...]}}]); to change its tier or names copy the catalogue "
                "(life_circle.catalogue); a new category needs a new id",
            )
            for i, c in enumerate(self.extra_categories)
            if c.id in existing
        ]
        problems += [
            (
                ("extend_categories", i, "id"),
                f"'{c.id}' is not in {where}; {_did_you_mean(c.id, list(existing), 'its ids')} "
                "(a new category goes in extra_categories)",
            )
            for i, c in enumerate(self.extend_categories)
            if c.id not in existing
        ]
        problems += [
            (
                ("extra_categories", i, "tier"),
                f"'{c.tier}' is not a tier of {where}; {_did_you_mean(c.tier, ids, known)}",
            )
            for i, c in enumerate(self.extra_categories)
            if c.tier not in base.tiers
        ]
        bad = {
            k: t.distance_m
            for k, t in base.tiers.items()
            if not (math.isfinite(t.distance_m) and t.distance_m > 0)
        }
        if bad and self.catalogue:
            problems.append(
                (
                    ("catalogue",),
                    f"{where}: tier distance_m must be a number of metres above 0 "
                    f"({', '.join(f'{k}: {d:g}' for k, d in bad.items())}); fix the file or set tiers_m",
                )
            )
        _refuse(problems)
        try:
            self.load_catalogue()
        except Exception as exc:  # e.g. an added category without a Chinese or English name
            _refuse(
                [
                    (
                        ("extra_categories",),
                        f"cannot be added to {where} ({type(exc).__name__}: {exc})",
                    )
                ]
            )
        dist = {k: float(self.tiers_m.get(k, t.distance_m)) for k, t in base.tiers.items()}
        steps = list(dist.items())
        if any(b[1] <= a[1] for a, b in zip(steps, steps[1:], strict=False)):
            listing = ", ".join(f"{k} {d:g} m" for k, d in steps)
            _refuse(
                [
                    (
                        ("tiers_m",),
                        f"tier distances must increase in the catalogue's tier order, each tier reaching farther than the one "
                        f"before: {listing}" + ("" if self.tiers_m else f" (as set in {where})"),
                    )
                ]
            )
        self.tiers_m = dist  # every tier's distance, in tier order: what the run uses
        cat = self.load_catalogue()
        ids = [*cat.categories, *cat.amenities]
        _refuse(
            [
                (
                    ("confirmed_absent", i),
                    f"'{c}' is not a category or community amenity of {where}; {_did_you_mean(c, ids, 'its ids')}",
                )
                for i, c in enumerate(self.confirmed_absent)
                if c not in ids
            ]
        )
        return self
