"""The indicator registry: the one place indicator ids, Chinese and English names and units live."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import yaml


@dataclass(frozen=True)
class Indicator:
    id: str
    zh: str
    en: str
    unit: str = ""
    method: str = ""
    source: str = ""

    @property
    def label(self) -> str:
        """Bilingual label with unit, e.g. '路网密度 Road network density (km/km²)'."""
        unit = f" ({self.unit})" if self.unit and self.unit not in ("count", "ratio") else ""
        return f"{self.zh} {self.en}{unit}"


@lru_cache(maxsize=1)
def _static() -> dict[str, Indicator]:
    text = resources.files("spatial.standards").joinpath("indicators.yaml").read_text(encoding="utf-8")
    return {d["id"]: Indicator(**d) for d in yaml.safe_load(text)}


def life_circle_indicator(
    category_id: str, zh: str, en: str, tier: str, distance_m: float, *, source: str = "GB 50180-2018", unconfirmed: bool = False
) -> Indicator:
    """The registry entry of one life-circle facility category's coverage column."""
    return Indicator(
        id=f"lc_{category_id}_pct",
        zh=f"{zh}{tier}覆盖率",
        en=f"{en} within {distance_m:g} m",
        unit="%",
        method=f"Residential floor area (or the configured weight) within {distance_m:g} m walking distance of a {en.lower()}",
        source=source + (" (unconfirmed: tier or entry not checked against the printed standard)" if unconfirmed else ""),
    )


def registry(extra: list[Indicator] | None = None) -> dict[str, Indicator]:
    """All indicators: the static ones plus any dynamic ones (life-circle categories)."""
    out = dict(_static())
    for ind in extra or []:
        out[ind.id] = ind
    return out


def indicator(indicator_id: str) -> Indicator:
    """Look one static indicator up by id."""
    return _static()[indicator_id]
