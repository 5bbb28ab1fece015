"""The options of the jobs besides the run: compliance, pilot screening (ditan screen), the land-sale precheck."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from ditan.pipelines.config.base import _Options, _profile_ref
from ditan.pipelines.config.layer_source import ParcelSource
from ditan.pipelines.config.model import _Model


class ComplianceOptions(_Model):
    """Which programme profile the units are checked against (compliance.csv)."""

    profile: str | None = Field(
        None, description="A packaged profile id (e.g. lowcarbon_pilot_2015) or a profile YAML path"
    )

    @field_validator("profile")
    @classmethod
    def _profile_path(cls, v: str | None, info: ValidationInfo) -> str | None:
        return _profile_ref(v, info)

    kind: str | None = Field(
        None,
        description="Pilot kind of every unit (e.g. new, existing, rural), unless inputs.units.kind_column says",
    )


class ScreeningOptions(_Options):
    """Pilot screening (试点遴选, `ditan screen`): how the candidate units are scored, ranked and shortlisted."""

    profile: str | None = Field(
        None,
        description="Packaged profile id or profile YAML path (relative to this file); default: compliance.profile, else lowcarbon_pilot_2015",
    )

    @field_validator("profile")
    @classmethod
    def _profile_path(cls, v: str | None, info: ValidationInfo) -> str | None:
        return _profile_ref(v, info)

    kind: str | None = Field(
        None,
        description="Pilot kind of every candidate, unless inputs.units.kind_column says; default: compliance.kind, else existing",
    )
    method: Literal["points", "weights", "rules"] | None = Field(
        None,
        description="points: the profile's item points; weights: weighted 0–1 indicator scores; rules: 100 × (2 × binding met + "
        "guiding met) / (2 × binding assessable + guiding assessable); default: points when the profile scores items, else rules",
    )
    weights: dict[str, float] = Field(
        {},
        description="method weights: indicator id → weight (> 0); scored against the profile's rule, else min–max across candidates",
    )
    direction: dict[str, Literal["higher", "lower"]] = Field(
        {},
        description="method weights, indicators without a profile rule: which way is better (default higher)",
    )
    top: int = Field(10, ge=1, description="Number of candidates shortlisted")
    min_binding_pct: float | None = Field(
        None,
        ge=0,
        le=100,
        description="Shortlist only candidates meeting at least this share (%) of their assessable binding rules",
    )

    @model_validator(mode="after")
    def _weights(self) -> ScreeningOptions:
        bad = [k for k, w in self.weights.items() if not w > 0]
        if bad:
            raise ValueError(f"weights must be greater than 0 (check {', '.join(bad)})")
        if self.method == "weights" and not self.weights:
            raise ValueError("method 'weights' needs weights: indicator id → weight")
        stray = [k for k in self.direction if k not in self.weights]
        if stray:
            raise ValueError(f"direction names indicators without a weight: {', '.join(stray)}")
        return self


class LandSaleOptions(_Options):
    """Parcels about to be sold, checked by `ditan check-parcels` (土地出让前指标核查)."""

    parcels: ParcelSource = Field(
        description="The parcels to check: a land-use code, planned far_column or floor_area_column; optional green_ratio_column, "
        "height_limit_column, id_column, name_column"
    )
    profile: str = Field(
        "lowcarbon_pilot_2015",
        description="Packaged profile id or profile YAML path (relative to this file)",
    )
    kind: str = Field(
        "new", description="Pilot kind the parcels are checked as (a kind of the profile, e.g. new)"
    )
    storey_height_m: float = Field(
        3.0, gt=0, description="Floors = height limit ÷ this (for max_floors rules)"
    )

    @field_validator("profile")
    @classmethod
    def _profile_path(cls, v: str, info: ValidationInfo) -> str:
        return _profile_ref(v, info)
