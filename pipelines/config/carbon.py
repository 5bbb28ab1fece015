"""The ``carbon:`` section: the carbon inventory (碳盘查) and overrides of its factors (a city's own statistics).

Every factor defaults to ``spatial/standards/carbon_factors.yaml`` for the place the study area lies in; a value
given here replaces it (and the factor table of the run says so). A factor with a range can be given as a number
(low = high = the value) or as ``{value: …, low: …, high: …}``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from ditan.pipelines.config.base import Positive, _Options, _refuse
from ditan.spatial.errors import did_you_mean
from ditan.spatial.standards.carbon import USES, ZONES, factor_tables


class FactorRange(_Options):
    """A factor with its range: ``{value: 80, low: 60, high: 110}`` (low ≤ value ≤ high)."""

    value: float = Field(ge=0)
    low: float | None = Field(None, ge=0)
    high: float | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> FactorRange:
        low = self.value if self.low is None else self.low
        high = self.value if self.high is None else self.high
        if not low <= self.value <= high:
            raise ValueError(f"need low ≤ value ≤ high, got {low}, {self.value}, {high}")
        return self

    def plain(self) -> dict:
        return {"value": self.value, "low": self.low, "high": self.high} | {
            k: self.value for k in ("low", "high") if getattr(self, k) is None
        }


Factor = float | FactorRange


class OtherSector(_Options):
    """A sector no map can measure, supplied per resident (e.g. from the city's transport survey)."""

    t_per_capita_per_year: float = Field(ge=0, description="tCO₂ per resident per year")
    source: str = Field(description="Where the figure comes from (shown in the inventory)")


class CarbonOptions(_Options):
    """碳盘查: building energy and CO₂, vegetation sink and rooftop solar per unit, with the factors' ranges."""

    enabled: bool = Field(True, description="Compute the carbon inventory (needs buildings)")
    province: str | None = Field(
        None,
        description="Province (北京, 广东 …) for the grid factor, climate zone and sunshine; default: nearest provincial capital",
    )
    climate_zone: Literal["严寒", "寒冷", "夏热冬冷", "夏热冬暖", "温和"] | None = Field(
        None, description="GB 50176 climate zone; default: the province's"
    )
    grid_kg_per_kwh: Positive | None = Field(
        None,
        description="Grid electricity emission factor, kgCO₂/kWh; default: the 2022 provincial factor",
    )
    district_heating: bool | None = Field(
        None, description="Buildings on district heating; default: in the 严寒 and 寒冷 zones"
    )
    heating_gj_per_m2: Factor | None = Field(
        None, description="District heat delivered per m² of heated floor area per year (GJ)"
    )
    heat_t_per_gj: Positive | None = Field(
        None, description="Purchased-heat emission factor, tCO₂/GJ (0.11)"
    )
    eui_kwh_per_m2: dict[str, Factor] = Field(
        default_factory=dict,
        description="Non-heating energy intensity by use (residential, office, …), kWh/m² per year",
    )
    install_share: dict[str, float] = Field(
        default_factory=dict, description="Installable roof share for PV by use, 0–1"
    )
    kwp_per_m2: Factor | None = Field(
        None, description="PV power per m² of installable roof, kWp (0.15)"
    )
    performance_ratio: Factor | None = Field(None, description="PV performance ratio K, 0–1 (0.8)")
    solar_ghi_kwh_per_m2: Factor | None = Field(
        None, description="Annual global horizontal irradiation, kWh/m²; default: the province's"
    )
    sink_tree_t_per_ha: Factor | None = Field(
        None, description="Tree-cover sequestration, tCO₂/ha per year"
    )
    sink_green_t_per_ha: Factor | None = Field(
        None, description="Green-land sequestration without a tree raster, tCO₂/ha per year"
    )
    other_sectors: dict[Literal["transport", "waste", "water"], OtherSector] = Field(
        default_factory=dict,
        description="Sectors no map measures, per resident (transport, waste, water); otherwise not assessable",
    )

    @field_validator("province")
    @classmethod
    def _province(cls, v: str | None) -> str | None:
        if v is None:
            return v
        known = list(factor_tables()["capitals"]["points"])
        if v not in known:
            raise ValueError(f"unknown province '{v}' — {did_you_mean(v, known, 'known')}")
        return v

    @model_validator(mode="after")
    def _keys(self) -> CarbonOptions:
        problems: list[tuple[tuple, str]] = []
        for key in ("eui_kwh_per_m2", "install_share"):
            for use in getattr(self, key):
                if use not in USES:
                    problems.append(
                        (
                            (key, use),
                            f"unknown use '{use}' — {did_you_mean(use, list(USES), 'uses')}",
                        )
                    )
        for use, share in self.install_share.items():
            if not 0.0 <= share <= 1.0:
                problems.append((("install_share", use), f"a share is 0–1, got {share}"))
        pr = self.performance_ratio
        if pr is not None and (pr.value if isinstance(pr, FactorRange) else pr) > 1:
            problems.append(
                (("performance_ratio",), "the performance ratio K is at most 1 (e.g. 0.8)")
            )
        _refuse(problems, "CarbonOptions")
        return self

    def overrides(self) -> dict:
        """The given values as plain numbers and mappings (what :func:`resolve_factors` reads)."""

        def plain(v):
            return v.plain() if isinstance(v, FactorRange) else v

        out = {
            k: plain(getattr(self, k))
            for k in (
                "province",
                "climate_zone",
                "grid_kg_per_kwh",
                "district_heating",
                "heating_gj_per_m2",
                "heat_t_per_gj",
                "kwp_per_m2",
                "performance_ratio",
                "solar_ghi_kwh_per_m2",
                "sink_tree_t_per_ha",
                "sink_green_t_per_ha",
            )  # fmt: skip
            if getattr(self, k) is not None
        }
        if self.eui_kwh_per_m2:
            out["eui_kwh_per_m2"] = {u: plain(v) for u, v in self.eui_kwh_per_m2.items()}
        if self.install_share:
            out["install_share"] = dict(self.install_share)
        if self.other_sectors:
            out["other_sectors"] = {k: v.model_dump() for k, v in self.other_sectors.items()}
        return out


__all__ = ["CarbonOptions", "FactorRange", "OtherSector", "ZONES"]
