"""The factors of the carbon inventory (碳盘查), resolved for one study area.

``carbon_factors.yaml`` holds the published tables (grid factors, building energy intensities by use and
climate zone, district heating, vegetation sinks, rooftop solar) with their sources; :func:`resolve_factors`
picks the rows that apply where the study area lies (its province, by the nearest provincial capital, and the
province's climate zone, both overridable) and applies the config's overrides. The result,
:class:`CarbonFactors`, is all the computation reads, and :meth:`CarbonFactors.table` lists every factor used
with its value, range, source and clause for the outputs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import numpy as np
import pandas as pd

from ditan.spatial.errors import ConfigError
from ditan.spatial.standards import packaged_yaml

__all__ = [
    "USES",
    "USE_NAMES",
    "Range",
    "CarbonFactors",
    "factor_tables",
    "nearest_province",
    "resolve_factors",
]

#: building uses of the inventory, in table order
USES = (
    "residential",
    "office",
    "government",
    "hotel",
    "commercial",
    "school",
    "hospital",
    "public",
    "storage",
    "industrial",
    "unknown",
)
#: Chinese names of the uses (the inventory table and the report)
USE_NAMES = {
    "residential": "居住建筑",
    "office": "办公建筑",
    "government": "党政机关建筑",
    "hotel": "旅馆建筑",
    "commercial": "商业建筑",
    "school": "学校建筑",
    "hospital": "医院建筑",
    "public": "其他公共建筑",
    "storage": "仓储及附属建筑",
    "industrial": "工业建筑",
    "unknown": "用途不明建筑",
}
ZONES = ("严寒", "寒冷", "夏热冬冷", "夏热冬暖", "温和")
#: GB/T 51161 merges 严寒 and 寒冷 into one column
_EUI_ZONE = {"严寒": "严寒和寒冷", "寒冷": "严寒和寒冷"}


@dataclass(frozen=True)
class Range:
    """A factor's central value and its low–high range (equal when the source gives one value)."""

    value: float
    low: float
    high: float

    @classmethod
    def of(cls, v: Any) -> Range:
        """From a number or a ``{value, low, high}`` mapping (missing bounds: the value)."""
        if isinstance(v, Range):
            return v
        if isinstance(v, dict):
            value = float(v["value"])
            return cls(value, float(v.get("low", value)), float(v.get("high", value)))
        return cls(float(v), float(v), float(v))

    def scaled(self, k: float) -> Range:
        return Range(self.value * k, self.low * k, self.high * k)


@dataclass(frozen=True)
class Factor:
    """One row of the factor table of a run: what was used, from where."""

    factor: str
    unit: str
    value: float
    low: float
    high: float
    source: str
    clause: str = ""
    unconfirmed: bool = False
    overridden: bool = False


@dataclass
class CarbonFactors:
    """The factors that apply to one study area (see :func:`resolve_factors`)."""

    province: str | None
    province_how: str
    climate_zone: str | None
    grid_kg_per_kwh: float  # NaN: no grid factor for the place (outside the notice)
    eui_kwh_per_m2: dict[str, Range | None]  # by use; None: not estimable (industrial)
    heating_gj_per_m2: Range | None  # None: no district heating
    heated_uses: tuple[str, ...]
    heat_t_per_gj: float
    sink_tree_t_per_ha: Range
    sink_green_t_per_ha: Range
    install_share: dict[str, float]
    kwp_per_m2: Range
    performance_ratio: Range
    ghi_kwh_per_m2: Range | None  # None: no irradiation for the place
    other_sectors: dict[str, tuple[float, str]] = field(default_factory=dict)
    rows: list[Factor] = field(default_factory=list)
    why_no_grid: str = ""

    def table(self) -> list[dict]:
        """Every factor used, as rows (factor, unit, value, low, high, source, clause, unconfirmed, overridden)."""
        return [r.__dict__.copy() for r in self.rows]

    def energy_of_floor(self, floor: np.ndarray, bound: str) -> tuple[np.ndarray, np.ndarray]:
        """Electricity (MWh) and district heat (GJ) of ``floor`` (m², columns :data:`USES`) at ``bound``.

        ``bound``: value, low or high. Electricity: floor area × the use's non-heating EUI; heat: floor area ×
        heat delivered per m², for the heated uses whose energy is estimable. A use without an EUI (industry)
        and a place without district heating give 0 (the inventory leaves them out of the totals).
        """
        eui = np.array(
            [
                getattr(self.eui_kwh_per_m2[u], bound) if self.eui_kwh_per_m2[u] else 0.0
                for u in USES
            ]
        )
        h = getattr(self.heating_gj_per_m2, bound) if self.heating_gj_per_m2 else 0.0
        heated = np.array(
            [u in self.heated_uses and self.eui_kwh_per_m2[u] is not None for u in USES]
        )
        return floor * eui / 1000.0, floor * (heated * h)


def factor_tables() -> dict:
    """The published tables (``carbon_factors.yaml``), read once."""
    return packaged_yaml("carbon_factors.yaml")


def nearest_province(lon: float, lat: float) -> tuple[str | None, float]:
    """The province whose capital is nearest (great-circle), and the distance in km; None beyond the limit."""
    caps = factor_tables()["capitals"]
    names = list(caps["points"])
    pts = np.radians(np.array([caps["points"][n] for n in names], dtype=float))
    lo, la = math.radians(lon), math.radians(lat)
    h = (
        np.sin((pts[:, 1] - la) / 2) ** 2
        + math.cos(la) * np.cos(pts[:, 1]) * np.sin((pts[:, 0] - lo) / 2) ** 2
    )
    km = 2 * 6371.0 * np.arcsin(np.sqrt(h))
    i = int(np.argmin(km))
    if km[i] > float(caps["max_distance_km"]):
        return None, float(km[i])
    return names[i], float(km[i])


def resolve_factors(
    centre_lonlat: tuple[float, float], overrides: dict[str, Any] | None = None
) -> CarbonFactors:
    """The factors for a study area centred at ``centre_lonlat`` (WGS 84), with the config's ``overrides``.

    ``overrides`` (the config's ``carbon:`` section, as plain values): province, climate_zone, grid_kg_per_kwh,
    district_heating (True / False / None = by zone), heating_gj_per_m2, eui_kwh_per_m2 {use: value or range},
    install_share {use: share}, kwp_per_m2, performance_ratio, solar_ghi_kwh_per_m2, sink_tree_t_per_ha,
    sink_green_t_per_ha, other_sectors {sector: {t_per_capita_per_year, source}}.
    """
    o = {k: v for k, v in (overrides or {}).items() if v is not None}
    t = factor_tables()
    rows: list[Factor] = []

    def add(name: str, unit: str, r: Range, entry: dict, key: str | None, clause: str = "") -> None:
        over = key is not None and key in o
        rows.append(
            Factor(
                factor=name,
                unit=unit,
                value=r.value,
                low=r.low,
                high=r.high,
                source="config: carbon." + key if over and key else str(entry.get("source", "")),
                clause="" if over else clause or str(entry.get("clause", "")),
                unconfirmed=False if over else bool(entry.get("unconfirmed", False)),
                overridden=over,
            )
        )

    # ---- where
    province: str | None
    if "province" in o:
        province, how = str(o["province"]), "config: carbon.province"
    else:
        province, km = nearest_province(*centre_lonlat)
        how = (
            f"nearest provincial capital 最近的省会: {province} ({km:.0f} km)"
            if province
            else f"no provincial capital within {t['capitals']['max_distance_km']} km (outside China?)"
        )
    zone = o.get("climate_zone") or (t["climate_zone"]["of"].get(province) if province else None)
    # ---- grid
    g = t["grid"]
    why_no_grid = ""
    if "grid_kg_per_kwh" in o:
        grid = float(o["grid_kg_per_kwh"])
    elif province in g["provincial"]:
        grid = float(g["provincial"][province])
    elif province in g["region_of"]:
        grid = float(g["regional"][g["region_of"][province]])
    else:
        grid = math.nan
        why_no_grid = (
            f"no grid emission factor for {province or 'this location'} in the 2022 notice "
            "(set carbon.grid_kg_per_kwh)"
        )
    if not math.isnan(grid):
        level = (
            "config"
            if "grid_kg_per_kwh" in o
            else "provincial 省级"
            if province in g["provincial"]
            else "regional 区域"
        )
        add(
            f"grid electricity ({level}: {province})",
            "kgCO2/kWh",
            Range.of(grid),
            g,
            "grid_kg_per_kwh",
        )
    # ---- building energy intensity by use
    e = t["eui"]
    hh = float(e["household_floor_area_m2"]["value"])
    eui: dict[str, Range | None] = {}
    user_eui = o.get("eui_kwh_per_m2", {})
    for use in USES:
        if use in user_eui:
            given = eui[use] = Range.of(user_eui[use])
            add(f"EUI {use}", "kWh/(m²·a)", given, {}, "eui_kwh_per_m2")
            continue
        entry = e["uses"].get("public" if use == "unknown" else use)
        if entry is None:
            eui[use] = None
            continue
        cell = entry.get("all") or (entry.get(_EUI_ZONE.get(zone, zone)) if zone else None)
        if cell is None:
            eui[use] = None
            continue
        r = Range.of(cell)
        if entry.get("per_household"):
            r = r.scaled(1.0 / hh)
        eui[use] = r
        add(f"EUI {use} ({zone or 'any zone'})", "kWh/(m²·a)", r, e, None, entry.get("clause", ""))
    # ---- district heating
    h = t["heating"]
    dh = o.get("district_heating")
    heating: Range | None = None
    if "heating_gj_per_m2" in o and dh is not False:
        heating = Range.of(o["heating_gj_per_m2"])
        add("district heat delivered", "GJ/(m²·a)", heating, h, "heating_gj_per_m2")
    elif dh is not False and zone in h["gj_per_m2"]:
        heating = Range.of(h["gj_per_m2"][zone])
        add(f"district heat delivered ({zone})", "GJ/(m²·a)", heating, h, None)
    elif dh is True:
        raise ConfigError(
            f"carbon.district_heating: true, but the climate zone {zone} has no heating intensity in the "
            "table; give carbon.heating_gj_per_m2 (GJ per m² of heated floor area per year)"
        )
    heat_factor = float(o.get("heat_t_per_gj", h["factor_t_per_gj"]["value"]))
    if heating is not None:
        add(
            "purchased heat",
            "tCO2/GJ",
            Range.of(heat_factor),
            h["factor_t_per_gj"],
            "heat_t_per_gj",
        )
    # ---- sinks
    s = t["sink"]
    tree = Range.of(o.get("sink_tree_t_per_ha", s["tree_cover"]))
    green = Range.of(o.get("sink_green_t_per_ha", s["green_land"]))
    add("sink: tree cover", "tCO2/(ha·a)", tree, s["tree_cover"], "sink_tree_t_per_ha")
    add(
        "sink: green land (no tree raster)",
        "tCO2/(ha·a)",
        green,
        s["green_land"],
        "sink_green_t_per_ha",
    )
    # ---- solar
    sol = t["solar"]
    share = {**sol["install_share"]["of"], **o.get("install_share", {})}
    share.setdefault("unknown", share.get("public", 0.0))
    for use in USES:
        add(
            f"installable roof share {use}",
            "share",
            Range.of(float(share.get(use, 0.0))),
            sol["install_share"],
            None,
        )
    kwp = Range.of(o.get("kwp_per_m2", sol["kwp_per_m2"]))
    pr = Range.of(o.get("performance_ratio", sol["performance_ratio"]))
    add("PV power per m² of installable roof", "kWp/m²", kwp, sol["kwp_per_m2"], "kwp_per_m2")
    add("PV performance ratio K", "-", pr, sol["performance_ratio"], "performance_ratio")
    g_of = sol["ghi_kwh_per_m2"]
    ghi: Range | None = None
    if "solar_ghi_kwh_per_m2" in o:
        ghi = Range.of(o["solar_ghi_kwh_per_m2"])
    elif province in g_of["of"]:
        v, d = float(g_of["of"][province]), float(g_of["spread"])
        ghi = Range(v, v - d, v + d)
    if ghi is not None:
        add(
            f"annual horizontal irradiation ({province})",
            "kWh/m²",
            ghi,
            g_of,
            "solar_ghi_kwh_per_m2",
        )
    other = {
        k: (float(v["t_per_capita_per_year"]), str(v.get("source", "config")))
        for k, v in o.get("other_sectors", {}).items()
    }
    return CarbonFactors(
        province=province,
        province_how=how,
        climate_zone=zone,
        grid_kg_per_kwh=grid,
        eui_kwh_per_m2=eui,
        heating_gj_per_m2=heating,
        heated_uses=tuple(h["heated_uses"]),
        heat_t_per_gj=heat_factor,
        sink_tree_t_per_ha=tree,
        sink_green_t_per_ha=green,
        install_share={u: float(share.get(u, 0.0)) for u in USES},
        kwp_per_m2=kwp,
        performance_ratio=pr,
        ghi_kwh_per_m2=ghi,
        other_sectors=other,
        rows=rows,
        why_no_grid=why_no_grid,
    )


def use_of_types(types: np.ndarray, residential: np.ndarray) -> np.ndarray:
    """Each building's use (one of :data:`USES`) from its type (OSM building=*) and residential flag.

    A type listed in ``uses_of_types`` gives its use; otherwise a building marked residential (by its type
    or the land use under it) is residential, and the rest is ``unknown``.
    """
    return np.asarray(USES, dtype=object)[use_codes_of_types(types, residential)]


def use_codes_of_types(types: np.ndarray | pd.Series, residential: np.ndarray) -> np.ndarray:
    """Each building's use as its position in :data:`USES` (int64): :func:`use_of_types` as codes.

    The types are factorized first: only the distinct ones are normalised (stripped, lower case) and
    looked up.
    A missing type (None, NaN) reads as ``yes``.
    """
    if not isinstance(types, pd.Series):
        types = np.asarray(types, dtype=object)
    codes, uniq = pd.factorize(types)
    lookup = _use_index_of_types()
    # the use of each distinct type (-1: not listed), then a missing type's (code -1: the last)
    listed = np.array(
        [lookup.get(str(v).strip().lower(), -1) for v in uniq] + [lookup.get("yes", -1)],
        dtype=np.int64,
    )[codes]
    fallback = np.where(
        np.asarray(residential, dtype=bool), USES.index("residential"), USES.index("unknown")
    )
    return np.where(listed >= 0, listed, fallback).astype(np.int64)


@cache
def _use_index_of_types() -> dict[str, int]:
    """``uses_of_types`` as normalised type → position of its use in :data:`USES`."""
    return {
        str(v).strip().lower(): USES.index(use)
        for use, values in factor_tables()["uses_of_types"].items()
        for v in values
    }
