"""The option sections of a run config: units, roads, buildings, parks, transit and assessment."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from ditan.pipelines.config.base import Positive, _Options, _refuse


class UnitsOptions(_Options):
    min_area_m2: float = Field(
        20_000.0, gt=0, description="Blocks smaller than this are slivers and dropped"
    )
    min_width_m: float = Field(
        30.0, ge=0, description="Strips narrower than this (road medians) are dropped"
    )
    max_area_m2: float = Field(
        1_000_000.0,
        gt=0,
        description="Larger blocks are subdivided: by the next road tier, then named paths, then a "
        "regular grid (a block mostly parks or water is kept whole and listed)",
    )
    id_prefix: str = "U"

    @model_validator(mode="after")
    def _area_range(self) -> UnitsOptions:
        if self.max_area_m2 <= self.min_area_m2:
            _refuse(
                [
                    (
                        ("max_area_m2",),
                        f"must be larger than min_area_m2 ({self.min_area_m2:g}): blocks over max_area_m2 are "
                        f"subdivided and pieces under min_area_m2 dropped, so {self.max_area_m2:g} would drop them all",
                    )
                ]
            )
        return self


class RoadOptions(_Options):
    divided: bool = Field(
        True, description="Count a divided road (two one-way carriageways) once, as one centre line"
    )
    divided_max_gap_m: float = Field(
        40.0, gt=0, description="Carriageways of one road lie at most this far apart"
    )
    junction_tolerance_m: float = Field(
        15.0, ge=0, description="Junction nodes within 2× this are one intersection (0: off)"
    )
    include: list[str] = Field(
        [
            "motorway",
            "motorway_link",
            "trunk",
            "trunk_link",
            "primary",
            "primary_link",
            "secondary",
            "secondary_link",
            "tertiary",
            "tertiary_link",
            "residential",
            "unclassified",
            "living_street",
        ],
        description="OSM highway values counted as city roads (service, footway, cycleway, path excluded by default); "
        "a Chinese class of spatial/standards/road_classes.yaml (快速路, 主干路 …) stands for its OSM value and its _link",
    )

    @field_validator("include")
    @classmethod
    def _include(cls, v: list[str]) -> list[str]:
        """Known road classes only (did-you-mean otherwise), as OSM highway values."""
        from ditan.spatial.standards.road_classes import resolve_include

        return resolve_include(v)


class BuildingOptions(_Options):
    storey_height_m: float = Field(
        3.0, gt=0, description="Floors = height ÷ this when building:levels is missing"
    )
    default_floors: dict[str, Positive] = Field(
        default_factory=dict,
        description="Floors by building type when neither levels nor height is known; key _other for the rest",
    )


class ParkOptions(_Options):
    """城市体检 park service-radius coverage (公园绿地服务半径覆盖率)."""

    large_min_area_m2: float = Field(
        5000.0, gt=0, description="Parks at least this large serve large_radius_m"
    )
    large_radius_m: float = Field(500.0, gt=0)
    small_min_area_m2: float = Field(
        2000.0,
        gt=0,
        description="Parks from this size up to large_min_area_m2 serve small_radius_m",
    )
    small_radius_m: float = Field(300.0, gt=0)

    @model_validator(mode="after")
    def _sizes(self) -> ParkOptions:
        if self.small_min_area_m2 > self.large_min_area_m2:
            _refuse(
                [
                    (
                        ("small_min_area_m2",),
                        f"must not exceed large_min_area_m2 ({self.large_min_area_m2:g}): small parks are those from "
                        "small_min_area_m2 up to large_min_area_m2",
                    )
                ]
            )
        return self


class TransitOptions(_Options):
    radius_m: float = Field(500.0, gt=0, description="Radius of the 500 m proximity indicators")
    confirmed_absent: list[Literal["bus_stop", "metro", "bike_rental", "ev_charging"]] = Field(
        [],
        description="Station kinds known to be absent (e.g. metro in a town without one): with no station in the data they "
        "count as measured 0 instead of a data gap (NaN)",
    )


class AssessmentOptions(_Options):
    """When a unit has residents: rules about residents (life circles, 500 m, parks, per person) are judged only there."""

    min_residential_land_m2: float = Field(
        100.0, ge=0, description="Residential land (m²) a unit needs to count as having residents"
    )
    min_residential_land_pct: float = Field(
        0.5, ge=0, le=100, description="… and as a share (%) of the unit's area"
    )
