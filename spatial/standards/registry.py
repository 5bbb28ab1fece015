"""The indicator registry: the one place indicator ids, Chinese and English names and units live."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from ditan.spatial.standards import columns, packaged_yaml

__all__ = [
    "Indicator",
    "proximity_indicator",
    "life_circle_tier_indicators",
    "life_circle_indicator",
    "registry",
    "indicator",
]


@dataclass(frozen=True)
class Indicator:
    id: str
    zh: str
    en: str
    unit: str = ""
    method: str = ""
    source: str = ""
    spatial: bool = True  # False: no spatial data can measure it (survey, records); kept for the programme profiles
    #: what the value rests on (roads, buildings, floor_area, landuse, vegetation, raster, parcels, population, residents,
    #: facilities, stations): where one is absent for a unit the value is NaN with that reason (ditan.spatial.standards.evidence)
    needs: tuple[str, ...] = ()
    nan: str = ""  # reason code (ditan.spatial.standards.reasons) of a NaN the computation itself leaves (e.g. no residential land)

    @property
    def label(self) -> str:
        """Bilingual label with unit, e.g. '路网密度 Road network density (km/km²)'."""
        unit = f" ({self.unit})" if self.unit and self.unit not in ("count", "ratio") else ""
        return f"{self.zh} {self.en}{unit}"


def _read(name: str) -> list[dict]:
    return packaged_yaml(name) or []


@lru_cache(maxsize=1)
def _static() -> dict[str, Indicator]:
    """The spatial indicators (indicators.yaml), then the non-spatial ones (indicators_nonspatial.yaml).

    Non-spatial entries come after every spatial one, so table order is unchanged; an id defined in
    both files keeps its spatial entry.
    """
    out = {}
    for d in _read("indicators.yaml"):
        bounds = d.get("bounds", False)
        d = {k: v for k, v in d.items() if k != "bounds"}  # the packaged table stays as read
        out[d["id"]] = Indicator(**{**d, "needs": tuple(d.get("needs", ()))})
        if bounds:  # the low and high estimates beside the central one (the carbon inventory)
            for suffix, zh, en in (
                ("_low", "（下限）", " (low bound)"),
                ("_high", "（上限）", " (high bound)"),
            ):
                out[d["id"] + suffix] = Indicator(
                    **{
                        **d,
                        "id": d["id"] + suffix,
                        "zh": d["zh"] + zh,
                        "en": d["en"] + en,
                        "needs": tuple(d.get("needs", ())),
                    }
                )
    for d in _read("indicators_nonspatial.yaml"):
        if d.get("spatial", False):
            raise ValueError(
                f"indicators_nonspatial.yaml: '{d['id']}' says spatial: true; move it to indicators.yaml"
            )
        out.setdefault(d["id"], Indicator(**{**d, "spatial": False}))
    return out


def proximity_indicator(kind: str, radius_m: float, method: str) -> Indicator:
    """The registry entry of a proximity column at any radius, from the packaged 500 m entry of the same kind and method."""
    base = _static()[columns.proximity(kind, 500.0, method)]
    if float(radius_m) == 500.0:
        return base
    r = f"{float(radius_m):g}"
    return Indicator(
        id=columns.proximity(kind, radius_m, method),
        zh=base.zh.replace("500", r),
        en=base.en.replace("500", r),
        unit=base.unit,
        method=base.method.replace("500", r),
        source=base.source + (f" (at {r} m, not the official 500 m)" if base.source else ""),
        needs=base.needs,
        nan=base.nan,
    )


def life_circle_tier_indicators(tier: str, zh: str, en: str, distance_m: float) -> list[Indicator]:
    """The per-tier columns: all categories within reach, the graded score, categories assessed and in the catalogue."""
    base = _static().get(columns.lc_all(tier))
    d = f"{distance_m:g}"
    all_ = base or Indicator(
        id=columns.lc_all(tier),
        zh=f"{zh}全覆盖率",
        en=f"{en}, all facilities",
        unit="%",
        method=f"Residential floor area with every {en} category within {d} m (network)",
        source="GB 50180-2018",
    )
    all_ = Indicator(**{**all_.__dict__, "needs": ("facilities", "residents")})
    return [
        all_,
        Indicator(
            id=columns.lc_score(tier),
            zh=f"{zh}设施完备度",
            en=f"{en}, share of facilities within reach",
            unit="%",
            method=f"Mean over the tier's assessed categories of the share of residential floor area within {d} m of one "
            "(the floor-area-weighted share of the categories reached); categories that are data gaps are left out, "
            f"see {columns.lc_assessed(tier)}",
            source="GB 50180-2018",
            needs=("facilities", "residents"),
        ),
        Indicator(
            id=columns.lc_assessed(tier),
            zh=f"{zh}可评估设施类别数",
            en=f"{en}, categories assessed",
            unit="count",
            method="Categories of the tier with at least one facility in the study area, or confirmed absent in the config "
            "(life_circle.confirmed_absent)",
            needs=("facilities",),
        ),
        Indicator(
            id=columns.lc_categories_total(tier),
            zh=f"{zh}设施类别数",
            en=f"{en}, categories in the catalogue",
            unit="count",
            method="Categories of the tier in the facility catalogue",
        ),
    ]


def life_circle_indicator(
    category_id: str,
    zh: str,
    en: str,
    tier: str,
    distance_m: float,
    *,
    source: str = "GB 50180-2018",
    unconfirmed: bool = False,
) -> Indicator:
    """The registry entry of one life-circle facility category's coverage column."""
    return Indicator(
        id=columns.lc_category(category_id),
        zh=f"{zh}{tier}覆盖率",
        en=f"{en} within {distance_m:g} m",
        unit="%",
        method=f"Residential floor area (or the configured weight) within {distance_m:g} m walking distance of a {en.lower()}",
        source=source
        + (
            " (unconfirmed: tier or entry not checked against the printed standard)"
            if unconfirmed
            else ""
        ),
        needs=("facilities", "residents"),
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
