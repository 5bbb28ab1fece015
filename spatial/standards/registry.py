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
    spatial: bool = True  # False: no spatial data can measure it (survey, records); kept for the programme profiles

    @property
    def label(self) -> str:
        """Bilingual label with unit, e.g. '路网密度 Road network density (km/km²)'."""
        unit = f" ({self.unit})" if self.unit and self.unit not in ("count", "ratio") else ""
        return f"{self.zh} {self.en}{unit}"


def _read(name: str) -> list[dict]:
    return yaml.safe_load(resources.files("spatial.standards").joinpath(name).read_text(encoding="utf-8")) or []


@lru_cache(maxsize=1)
def _static() -> dict[str, Indicator]:
    """The spatial indicators (indicators.yaml), then the non-spatial ones (indicators_nonspatial.yaml).

    Non-spatial entries come after every spatial one, so table order is unchanged; an id defined in
    both files keeps its spatial entry.
    """
    out = {d["id"]: Indicator(**d) for d in _read("indicators.yaml")}
    for d in _read("indicators_nonspatial.yaml"):
        if d.get("spatial", False):
            raise ValueError(f"indicators_nonspatial.yaml: '{d['id']}' says spatial: true; move it to indicators.yaml")
        out.setdefault(d["id"], Indicator(**{**d, "spatial": False}))
    return out


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
    """All indicators: the static spatial ones, the non-spatial ones, then any dynamic ones (life-circle categories)."""
    out = dict(_static())
    for ind in extra or []:
        out[ind.id] = ind
    return out


def indicator(indicator_id: str) -> Indicator:
    """Look one static indicator (spatial or non-spatial) up by id."""
    return _static()[indicator_id]
