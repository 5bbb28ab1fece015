"""Plan measures of the carbon inventory (the reduction a plan would bring): their defaults, limits and validation.

A plan file (``ditan run --scenario plan.yaml``) gives them in its ``measures:`` section::

    measures:
      rooftop_pv_share: 0.3                  # share of the installable roof area fitted with PV, 0–1,
                                             # or by use: {residential: 0.2, school: 0.6}
      green_building_share: 0.7              # share of the NEW floor area built as green buildings, 0–1
      green_building_saving_pct: 30          # their energy saving, % of the standard building's energy
      district_heating_to_heat_pump_share: 0.5   # share of district heat supplied by heat pumps instead, 0–1
      heat_pump_cop: 3.0                     # default: carbon_measures.yaml (or {value, low, high})

:func:`parse_measures` checks them and names the key path of anything wrong in one line each (all at once).
``carbon_measures.yaml`` holds the defaults (heat-pump COP), the limits and the land-use class → carbon use of the
parcels a plan adds, each with its source.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ditan.spatial.errors import ConfigError, did_you_mean
from ditan.spatial.landuse.classes import LANDUSE_CLASSES
from ditan.spatial.standards import packaged_yaml
from ditan.spatial.standards.carbon import USES, Range

__all__ = [
    "MEASURES",
    "PlanMeasures",
    "check_landuse_uses",
    "measure_tables",
    "parse_measures",
    "use_of_landuse_class",
]

#: the measures a plan may give, with what each is (for the error messages and the measures table)
MEASURES = {
    "rooftop_pv_share": "share of the installable (eligible) roof area fitted with PV, 0–1, or {use: share}",
    "green_building_share": "share of the new floor area built as green buildings, 0–1",
    "green_building_saving_pct": "energy saving of a green building against the standard one, %",
    "district_heating_to_heat_pump_share": "share of the district heat supplied by heat pumps instead, 0–1",
    "heat_pump_cop": "seasonal coefficient of performance of the heat pumps (a number or {value, low, high})",
}


def measure_tables() -> dict:
    """``carbon_measures.yaml``, read once."""
    return packaged_yaml("carbon_measures.yaml")


def use_of_landuse_class(lu_class: str | None) -> str | None:
    """The carbon use (:data:`~ditan.spatial.standards.carbon.USES`) of a land-use class; None: no floor area counted."""
    if lu_class is None:
        return None
    return measure_tables()["landuse_uses"]["of"].get(lu_class)


@dataclass(frozen=True)
class PlanMeasures:
    """The carbon measures of a plan (all zero: a plan that only adds or removes features)."""

    rooftop_pv_share: dict[str, float] = field(default_factory=lambda: dict.fromkeys(USES, 0.0))
    green_building_share: float = 0.0
    green_building_saving_pct: float = 0.0
    heat_pump_share: float = 0.0  # district_heating_to_heat_pump_share
    heat_pump_cop: Range = Range(3.0, 3.0, 3.0)
    cop_source: str = ""
    cop_unconfirmed: bool = False
    given: tuple[str, ...] = ()  # the keys the plan gave

    def table(self) -> list[dict]:
        """The measures as rows (measure, value, unit, source): the plan's sheet of scenario.xlsx."""
        pv = self.rooftop_pv_share
        same = len(set(pv.values())) == 1
        rows = [
            {
                "measure": "rooftop_pv_share" if same else f"rooftop_pv_share.{u}",
                "value": v,
                "unit": "share",
                "source": "plan" if "rooftop_pv_share" in self.given else "default (none)",
            }
            for u, v in ([("", pv[USES[0]])] if same else pv.items())
        ]
        for key, value, unit in (
            ("green_building_share", self.green_building_share, "share"),
            ("green_building_saving_pct", self.green_building_saving_pct, "%"),
            ("district_heating_to_heat_pump_share", self.heat_pump_share, "share"),
        ):
            rows.append(
                {
                    "measure": key,
                    "value": value,
                    "unit": unit,
                    "source": "plan" if key in self.given else "default (none)",
                }
            )
        c = self.heat_pump_cop
        rows.append(
            {
                "measure": "heat_pump_cop",
                "value": c.value,
                "unit": f"- (low {c.low:g}, high {c.high:g})",
                "source": "plan"
                if "heat_pump_cop" in self.given
                else f"default: {self.cop_source}"
                + (" (unconfirmed)" if self.cop_unconfirmed else ""),
            }
        )
        return rows


def _number(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    x = float(v)
    return x if math.isfinite(x) else None


def _share(v: Any, path: str, problems: list[str], hint: str) -> float:
    x = _number(v)
    if x is None:
        problems.append(f"{path}: {v!r} is not a number; {hint}")
        return 0.0
    if not 0.0 <= x <= 1.0:
        pct = f" (if you meant {x:g} %, write {x / 100:g})" if 1.0 < x <= 100.0 else ""
        problems.append(f"{path}: {x:g} is outside 0–1{pct}; {hint}")
        return 0.0
    return x


def _limit(key: str) -> tuple[float, float]:
    lim = measure_tables()["limits"][key]
    return float(lim["min"]), float(lim["max"])


def parse_measures(raw: Any, where: str = "measures") -> PlanMeasures:
    """The ``measures:`` mapping of a plan checked: ConfigError listing every bad key path with a hint, one per line."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{where}: expected a mapping of measures ({', '.join(MEASURES)}), got {type(raw).__name__}"
        )
    problems: list[str] = []
    for key in raw:
        if key not in MEASURES:
            hint = did_you_mean(key, list(MEASURES), "known measures")
            problems.append(f"{where}.{key}: unknown measure; {hint}")
    # ---- rooftop PV, one share or by use
    pv = dict.fromkeys(USES, 0.0)
    hint_pv = "give the share of the installable roof area fitted with PV (0.3 = 30 %)"
    v = raw.get("rooftop_pv_share")
    if isinstance(v, dict):
        for use, share in v.items():
            if use not in USES:
                problems.append(
                    f"{where}.rooftop_pv_share.{use}: unknown building use; "
                    + did_you_mean(use, USES, "known uses")
                )
                continue
            pv[use] = _share(share, f"{where}.rooftop_pv_share.{use}", problems, hint_pv)
    elif v is not None:
        pv = dict.fromkeys(USES, _share(v, f"{where}.rooftop_pv_share", problems, hint_pv))
    # ---- green buildings
    green = _share(
        raw.get("green_building_share", 0.0),
        f"{where}.green_building_share",
        problems,
        "give the share of the new floor area built as green buildings (0.7 = 70 %)",
    )
    saving = 0.0
    lo, hi = _limit("green_building_saving_pct")
    if "green_building_saving_pct" in raw:
        s = _number(raw["green_building_saving_pct"])
        if s is None or not lo <= s <= hi:
            problems.append(
                f"{where}.green_building_saving_pct: {raw['green_building_saving_pct']!r} is not a percentage "
                f"{lo:g}–{hi:g}; give the green buildings' energy saving against the standard building, in % (30 = 30 %)"
            )
        else:
            saving = s
    elif green > 0:
        problems.append(
            f"{where}.green_building_saving_pct: missing; green_building_share needs the green buildings' energy "
            "saving in % (it depends on their star level and design: e.g. 30)"
        )
    # ---- heat pumps
    hp = _share(
        raw.get("district_heating_to_heat_pump_share", 0.0),
        f"{where}.district_heating_to_heat_pump_share",
        problems,
        "give the share of the district heat supplied by heat pumps instead (0.5 = 50 %)",
    )
    entry = measure_tables()["heat_pump_cop"]
    cop = Range.of(entry)
    lo, hi = _limit("heat_pump_cop")
    if "heat_pump_cop" in raw:
        c = raw["heat_pump_cop"]
        try:
            cop = Range.of(c)
            ok = all(_number(x) is not None for x in (cop.value, cop.low, cop.high))
        except (KeyError, TypeError, ValueError):
            ok = False
        if not ok or not lo <= cop.low <= cop.value <= cop.high <= hi:
            problems.append(
                f"{where}.heat_pump_cop: {c!r} is not a coefficient of performance {lo:g}–{hi:g} (a number, or "
                "{value, low, high} with low ≤ value ≤ high); e.g. 3 for air-source heat pumps"
            )
            cop = Range.of(entry)
    if problems:
        raise ConfigError(
            f"{len(problems)} problem(s) in the plan's measures:\n"
            + "\n".join(f"  - {p}" for p in problems)
        )
    return PlanMeasures(
        rooftop_pv_share=pv,
        green_building_share=green,
        green_building_saving_pct=saving,
        heat_pump_share=hp,
        heat_pump_cop=cop,
        cop_source=str(entry.get("source", "")),
        cop_unconfirmed=bool(entry.get("unconfirmed", False)),
        given=tuple(k for k in raw if k in MEASURES),
    )


def check_landuse_uses() -> None:
    """The mapping names every land-use class and only known uses (checked by the tests)."""
    of = measure_tables()["landuse_uses"]["of"]
    missing = set(LANDUSE_CLASSES) - set(of)
    bad = {k: v for k, v in of.items() if v is not None and v not in USES}
    if missing or bad or set(of) - set(LANDUSE_CLASSES):
        raise ValueError(
            f"carbon_measures.yaml landuse_uses: classes missing {sorted(missing)}, unknown uses {bad}, "
            f"unknown classes {sorted(set(of) - set(LANDUSE_CLASSES))}"
        )
