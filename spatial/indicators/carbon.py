"""Screening-level carbon inventory (碳盘查) per unit: building operational CO₂, the vegetation sink, rooftop solar.

Method (the factors and their sources: ``ditan.spatial.standards.carbon_factors.yaml``):

- **Building energy.** Each building's floor area on the unit (overlapping footprints counted once, as for the
  floor-area ratio) × the non-heating energy-use intensity of its use (GB/T 51161 by climate zone) gives
  electricity (kWh). In the 严寒 and 寒冷 zones the heated uses also take district heat: floor area × heat
  delivered per m² (GJ). Industrial floor area carries process energy no map can estimate: it is left out of
  the totals and its share reported (``carbon_floor_area_covered_pct``).
- **CO₂.** Electricity × the grid factor (provincial, else regional, else national; kgCO₂/kWh = tCO₂/MWh) +
  heat × the purchased-heat factor (tCO₂/GJ).
- **Sink.** Tree cover (from the land-cover raster's tree classes) × the tree sequestration rate; without a
  raster, the vegetation polygons and green land × the green-land rate.
- **Rooftop solar.** Roof area = footprint area (overlaps once) × the installable share of the building's use
  (整县屋顶分布式光伏 pilot shares) = installable m² → × kWp per m² → × annual horizontal irradiation × the
  performance ratio K (GB 50797 6.6: E = H × P × K / 1 kW/m²).

Every quantity has a low and a high bound: the lows of every range together, and the highs (a ratio takes the
low numerator over the high denominator for its low bound). What the data cannot give is NaN with a reason in
``CarbonResult.reasons``, never 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd

from ditan.spatial.crs.metric import ensure_projected
from ditan.spatial.standards.carbon import USE_NAMES, USES, CarbonFactors, use_codes_of_types

__all__ = ["BOUNDS", "CarbonResult", "carbon_inventory", "building_uses"]

#: the three estimates of every quantity: central, low, high (column suffixes "", "_low", "_high")
BOUNDS = ("value", "low", "high")
_SUFFIX = {"value": "", "low": "_low", "high": "_high"}
#: the per-unit columns, each with _low and _high beside it
COLUMNS = (
    "building_energy_mwh_per_year",
    "building_co2_t_per_year",
    "co2_per_capita_t",
    "co2_per_floor_area_kg_per_m2",
    "carbon_sink_t_per_year",
    "source_sink_ratio",
    "rooftop_pv_kwp",
    "rooftop_pv_mwh_per_year",
    "renewable_substitution_potential_pct",
)


@dataclass
class CarbonResult:
    """The inventory of every unit."""

    table: pd.DataFrame  # per unit: COLUMNS with _low / _high, covered and unknown-use shares
    inventory: pd.DataFrame  # long: unit × sector × energy carrier (carbon_inventory.csv)
    roofs: (
        pd.DataFrame
    )  # per building: use, roof_m2, installable_m2, pv_kwp (the rooftop-solar sheet)
    reasons: dict[
        str, tuple[str, str]
    ]  # column → why it is NaN for every unit (English, Chinese): a data gap
    #: by unit (rows, the units' order) and use (columns, USES), for plan measures; NaN without a building
    #: layer. Installable roof area (m²):
    installable_by_use: np.ndarray | None = None
    #: floor area (m², overlaps once)
    floor_by_use: np.ndarray | None = None
    #: electricity (MWh) and district heat (GJ) by bound (value / low / high); 0 where not estimable
    electricity_by_use: dict[str, np.ndarray] | None = None
    heat_by_use: dict[str, np.ndarray] | None = None


#: the uses by code (a building's use code indexes it)
_USE_OF_CODE = np.asarray(USES, dtype=object)


def building_uses(buildings: gpd.GeoDataFrame) -> np.ndarray:
    """Each building's use (:data:`~ditan.spatial.standards.carbon.USES`) from ``building`` and ``residential``."""
    return _USE_OF_CODE[building_use_codes(buildings)]


def building_use_codes(buildings: gpd.GeoDataFrame) -> np.ndarray:
    """Each building's use as its position in :data:`USES` (int64); each type looked up once."""
    types = (
        buildings["building"]
        if "building" in buildings
        else pd.Series("yes", index=buildings.index)
    )
    res = (
        buildings["residential"].to_numpy(dtype=bool)
        if "residential" in buildings
        else np.zeros(len(buildings), dtype=bool)
    )
    return use_codes_of_types(types, res)


def _per_unit_use(unit: np.ndarray, use_idx: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """(n units, len(USES)) sums of ``values`` by unit and use."""
    k = len(USES)
    return np.bincount(unit * k + use_idx, weights=values, minlength=n * k).reshape(n, k)


def carbon_inventory(
    units: gpd.GeoDataFrame,
    buildings: gpd.GeoDataFrame | None,
    pieces: pd.DataFrame | None,
    factors: CarbonFactors,
    *,
    population: np.ndarray,
    tree_m2: np.ndarray | None = None,
    green_m2: np.ndarray | None = None,
    buildings_missing: str = "",
) -> CarbonResult:
    """The carbon columns of every unit, the sector table and the roofs (see the module's method).

    ``pieces``: :func:`ditan.spatial.indicators.intensity.building_pieces` (unit, building, footprint_m2,
    floor_area_m2). ``population``: residents per unit (NaN: unknown). ``tree_m2``: tree-cover area per unit
    from a land-cover raster (NaN where it does not cover the unit); else ``green_m2``: vegetation and green-land
    area from polygons. ``buildings_missing``: why there is no building layer ("" when there is one).
    """
    ensure_projected(units, "units")
    n = len(units)
    k = len(USES)
    reasons: dict[str, tuple[str, str]] = {}
    table = pd.DataFrame(index=units.index)

    if buildings is None or pieces is None or buildings_missing:
        why = (
            buildings_missing or "no building layer: floor areas and roofs unknown",
            "无建筑数据：建筑面积和屋顶面积未知",
        )
        floor = roof = np.full((n, k), np.nan)
        codes = np.zeros(0, dtype=np.int64)
        for c in COLUMNS:
            if c not in ("carbon_sink_t_per_year",):
                reasons[c] = why
    else:
        ensure_projected(buildings, "buildings")
        codes = building_use_codes(buildings)
        b = pieces["building"].to_numpy()
        u = pieces["unit"].to_numpy()
        ui = codes[b]
        floor = _per_unit_use(u, ui, pieces["floor_area_m2"].to_numpy(dtype=float), n)
        roof = _per_unit_use(u, ui, pieces["footprint_m2"].to_numpy(dtype=float), n)

    # ---- energy and CO2 by use
    estimable = np.array([factors.eui_kwh_per_m2[x] is not None for x in USES])
    total_floor = floor.sum(axis=1)
    covered_floor = (floor * estimable).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        table["carbon_floor_area_covered_pct"] = np.where(
            total_floor > 0, covered_floor / total_floor * 100.0, np.nan
        )
        table["carbon_use_unknown_pct"] = np.where(
            total_floor > 0, floor[:, USES.index("unknown")] / total_floor * 100.0, np.nan
        )
    elec: dict[str, np.ndarray] = {}  # MWh by unit and use
    heat: dict[str, np.ndarray] = {}  # GJ
    for bound in BOUNDS:
        elec[bound], heat[bound] = factors.energy_of_floor(floor, bound)
    grid = factors.grid_kg_per_kwh  # = tCO2/MWh
    no_zone = factors.climate_zone is None and not estimable[USES.index("residential")]
    for bound in BOUNDS:
        s = _SUFFIX[bound]
        energy = elec[bound].sum(axis=1) + heat[bound].sum(axis=1) / 3.6
        co2 = elec[bound].sum(axis=1) * grid + heat[bound].sum(axis=1) * factors.heat_t_per_gj
        table[f"building_energy_mwh_per_year{s}"] = energy
        table[f"building_co2_t_per_year{s}"] = co2
    if no_zone:
        reasons.setdefault(
            "building_energy_mwh_per_year",
            (
                f"climate zone unknown ({factors.province_how}): set carbon.climate_zone or carbon.province",
                "气候区未知：请设置 carbon.climate_zone 或 carbon.province",
            ),
        )
    if math.isnan(grid):
        reasons.setdefault(
            "building_co2_t_per_year",
            (factors.why_no_grid, "该地区无电网排放因子：请设置 carbon.grid_kg_per_kwh"),
        )

    # ---- per capita and per floor area
    pop = np.asarray(population, dtype=float)
    other = sum(v for v, _ in factors.other_sectors.values())
    for bound in BOUNDS:
        s = _SUFFIX[bound]
        co2 = table[f"building_co2_t_per_year{s}"].to_numpy()
        with np.errstate(invalid="ignore", divide="ignore"):
            table[f"co2_per_capita_t{s}"] = np.where(pop > 0, co2 / pop + other, np.nan)
            table[f"co2_per_floor_area_kg_per_m2{s}"] = np.where(
                covered_floor > 0, co2 * 1000.0 / covered_floor, np.nan
            )

    # ---- sink
    if tree_m2 is not None:
        area_ha, rate, what = (
            np.asarray(tree_m2, dtype=float) / 1e4,
            factors.sink_tree_t_per_ha,
            "tree cover",
        )
    elif green_m2 is not None:
        area_ha, rate, what = (
            np.asarray(green_m2, dtype=float) / 1e4,
            factors.sink_green_t_per_ha,
            "green land",
        )
    else:
        area_ha, rate, what = np.full(n, np.nan), factors.sink_tree_t_per_ha, ""
        reasons["carbon_sink_t_per_year"] = (
            "no land-cover raster and no vegetation or green land: sink unknown",
            "无土地覆盖栅格、植被或绿地数据：碳汇未知",
        )
    table["carbon_sink_basis"] = what or None
    for bound in BOUNDS:
        s = _SUFFIX[bound]
        table[f"carbon_sink_t_per_year{s}"] = area_ha * getattr(rate, bound)
    # ratio: low = low source / high sink
    pairs = {"value": ("value", "value"), "low": ("low", "high"), "high": ("high", "low")}
    for bound, (a, b) in pairs.items():
        src = table[f"building_co2_t_per_year{_SUFFIX[a]}"].to_numpy()
        sink = table[f"carbon_sink_t_per_year{_SUFFIX[b]}"].to_numpy()
        with np.errstate(invalid="ignore", divide="ignore"):
            table[f"source_sink_ratio{_SUFFIX[bound]}"] = np.where(sink > 0, src / sink, np.nan)
    sink_c = table["carbon_sink_t_per_year"].to_numpy()

    # ---- rooftop solar
    share = np.array([factors.install_share[x] for x in USES])
    installable = roof * share  # m² by unit and use
    ghi = factors.ghi_kwh_per_m2
    for bound in BOUNDS:
        s = _SUFFIX[bound]
        kwp = installable.sum(axis=1) * getattr(factors.kwp_per_m2, bound)
        table[f"rooftop_pv_kwp{s}"] = kwp
        table[f"rooftop_pv_mwh_per_year{s}"] = (
            kwp * getattr(ghi, bound) * getattr(factors.performance_ratio, bound) / 1000.0
            if ghi is not None
            else np.nan
        )
    if ghi is None and "rooftop_pv_kwp" not in reasons:
        reasons["rooftop_pv_mwh_per_year"] = (
            f"no solar irradiation for {factors.province or 'this location'}: set carbon.solar_ghi_kwh_per_m2",
            "该地区无太阳辐照量数据：请设置 carbon.solar_ghi_kwh_per_m2",
        )
    for bound, (a, b) in pairs.items():
        pv = table[f"rooftop_pv_mwh_per_year{_SUFFIX[a]}"].to_numpy()
        energy = table[f"building_energy_mwh_per_year{_SUFFIX[b]}"].to_numpy()
        with np.errstate(invalid="ignore", divide="ignore"):
            table[f"renewable_substitution_potential_pct{_SUFFIX[bound]}"] = np.where(
                energy > 0, pv / energy * 100.0, np.nan
            )
    # a whole-run reason carries to what is computed from it
    _propagate(reasons)
    for c in reasons:
        for s in _SUFFIX.values():
            table[f"{c}{s}"] = np.nan
    sink_why = reasons.get("carbon_sink_t_per_year") if not what else None
    inventory = _inventory_rows(
        units, floor, elec, heat, factors, pop, sink_c, what, table, sink_why
    )
    roofs = _roofs(buildings, pieces, codes, factors) if len(codes) else pd.DataFrame()
    return CarbonResult(
        table,
        inventory,
        roofs,
        reasons,
        installable_by_use=installable,
        floor_by_use=floor,
        electricity_by_use=elec,
        heat_by_use=heat,
    )


#: what each column is computed from (a reason for the source is a reason for the column)
_DEPENDS = {
    "building_co2_t_per_year": ("building_energy_mwh_per_year",),
    "co2_per_capita_t": ("building_co2_t_per_year",),
    "co2_per_floor_area_kg_per_m2": ("building_co2_t_per_year",),
    "source_sink_ratio": ("building_co2_t_per_year", "carbon_sink_t_per_year"),
    "rooftop_pv_mwh_per_year": ("rooftop_pv_kwp",),
    "renewable_substitution_potential_pct": (
        "rooftop_pv_mwh_per_year",
        "building_energy_mwh_per_year",
    ),
}


def _propagate(reasons: dict[str, tuple[str, str]]) -> None:
    for _ in range(3):
        for col, deps in _DEPENDS.items():
            for d in deps:
                if d in reasons and col not in reasons:
                    reasons[col] = reasons[d]


def _inventory_rows(
    units: gpd.GeoDataFrame,
    floor: np.ndarray,
    elec: dict[str, np.ndarray],
    heat: dict[str, np.ndarray],
    f: CarbonFactors,
    pop: np.ndarray,
    sink: np.ndarray,
    sink_basis: str,
    table: pd.DataFrame,
    sink_why: tuple[str, str] | None = None,
) -> pd.DataFrame:
    """carbon_inventory.csv: one row per unit × sector × energy carrier, then the sink, solar and other sectors.

    ``sink_why``: why the sink is unknown (no vegetation source): NaN rows, their note says why.
    """
    n = len(units)
    ids = units.index.to_numpy()
    frames = []
    grid = f.grid_kg_per_kwh
    for j, use in enumerate(USES):
        fl = floor[:, j]
        if not np.nansum(fl) > 0:
            continue
        estimable = f.eui_kwh_per_m2[use] is not None
        for carrier, zh, per in (("electricity", "电力", "MWh"), ("district heat", "热力", "GJ")):
            src = elec if carrier == "electricity" else heat
            if carrier == "district heat" and not (f.heating_gj_per_m2 and use in f.heated_uses):
                continue
            factor = grid if carrier == "electricity" else f.heat_t_per_gj
            row = pd.DataFrame(
                {
                    "unit_id": ids,
                    "sector_zh": f"建筑运行 · {USE_NAMES[use]}",
                    "sector": f"buildings · {use}",
                    "carrier_zh": zh,
                    "carrier": carrier,
                    "floor_area_m2": fl,
                    "energy_unit": per,
                }
            )
            for bound in BOUNDS:
                s = _SUFFIX[bound]
                amount = src[bound][:, j] if estimable else np.full(n, np.nan)
                row[f"energy_amount{s}"] = amount
                row[f"co2_t{s}"] = amount * factor
            row["note"] = (
                ""
                if estimable
                else "process energy of industry: not estimable from a map (left out of the totals)"
            )
            frames.append(row[fl > 0])
    t = table
    pv = {bd: t[f"rooftop_pv_mwh_per_year{_SUFFIX[bd]}"].to_numpy() for bd in BOUNDS}
    frames.append(
        pd.DataFrame(
            {
                "unit_id": ids,
                "sector_zh": "碳汇 · 植被",
                "sector": f"sink · {sink_basis or 'vegetation'}",
                "co2_t": -sink,
                "co2_t_low": -t["carbon_sink_t_per_year_high"].to_numpy(),
                "co2_t_high": -t["carbon_sink_t_per_year_low"].to_numpy(),
                "note": "removal (negative); not subtracted from the building total"
                if sink_why is None
                else f"{sink_why[1]} / {sink_why[0]}",
            }
        )
    )
    frames.append(
        pd.DataFrame(
            {
                "unit_id": ids,
                "sector_zh": "屋顶光伏潜力",
                "sector": "rooftop PV potential",
                "carrier_zh": "电力",
                "carrier": "electricity",
                "energy_unit": "MWh",
                "energy_amount": pv["value"],
                "energy_amount_low": pv["low"],
                "energy_amount_high": pv["high"],
                "co2_t": -pv["value"] * grid,
                "co2_t_low": -pv["high"] * grid,
                "co2_t_high": -pv["low"] * grid,
                "note": "potential if installed (grid CO2 avoided); not in the building total",
            }
        )
    )
    for sector, zh in (("transport", "交通"), ("waste", "废弃物"), ("water", "水资源")):
        if sector in f.other_sectors:
            per_cap, source = f.other_sectors[sector]
            with np.errstate(invalid="ignore"):
                co2 = np.where(pop > 0, per_cap * pop, np.nan)
            note = f"config: {per_cap} tCO2 per resident per year ({source})"
        else:
            co2 = np.full(n, np.nan)
            note = "not assessable from spatial data (give carbon.other_sectors to include it)"
        frames.append(
            pd.DataFrame(
                {"unit_id": ids, "sector_zh": zh, "sector": sector, "co2_t": co2, "note": note}
            )
        )
    out = pd.concat(frames, ignore_index=True)
    # unit by unit, in the units' order (each unit's buildings by use, then sink, solar, other sectors)
    pos = pd.Series(np.arange(n), index=ids)
    out = out.iloc[np.argsort(pos.loc[out["unit_id"]].to_numpy(), kind="stable")].reset_index(
        drop=True
    )
    order = ["unit_id", "sector_zh", "sector", "carrier_zh", "carrier", "floor_area_m2", "energy_unit",
             "energy_amount", "energy_amount_low", "energy_amount_high", "co2_t", "co2_t_low", "co2_t_high",
             "note"]  # fmt: skip
    return out.reindex(columns=order)


def _roofs(
    buildings: gpd.GeoDataFrame, pieces: pd.DataFrame, codes: np.ndarray, f: CarbonFactors
) -> pd.DataFrame:
    """Per building: use, roof area (overlaps once), installable area and kWp (the 屋顶光伏潜力图)."""
    b = pieces["building"].to_numpy()
    roof = np.bincount(
        b, weights=pieces["footprint_m2"].to_numpy(dtype=float), minlength=len(buildings)
    )
    share = np.array([f.install_share[x] for x in USES])[codes]
    installable = roof * share
    return pd.DataFrame(
        {
            "use": _USE_OF_CODE[codes],
            "roof_m2": roof,
            "installable_m2": installable,
            "pv_kwp": installable * f.kwp_per_m2.value,
        },
        index=buildings.index,
    )
