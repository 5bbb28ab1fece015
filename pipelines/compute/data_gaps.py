"""What the data of a run can support: absent layers, units beyond a layer's data, empty categories and kinds, residents.

The decisions are the configuration's (confirmed absences, the residents threshold: ``ComputeParams``); the rules
are in :mod:`ditan.spatial.standards.evidence`. Every data gap is named in the computation's ledger (merged into
data_quality.csv, layer "data gap: …"; the study area's own ledger is not changed) and returned as a line for the
run summary.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd

from ditan.pipelines.config.params import ComputeParams
from ditan.spatial.engine.origins import Origins
from ditan.spatial.errors import feature_list
from ditan.spatial.indicators import parcels
from ditan.spatial.io.validate import Ledger
from ditan.spatial.standards import columns
from ditan.spatial.standards import reasons as R
from ditan.spatial.standards.evidence import (
    NEED_NAMES,
    OUTSIDE_BELOW_PCT,
    PARTLY_BELOW_PCT,
    Evidence,
    empty_kinds,
    extent_shares,
    has_residents,
)
from ditan.spatial.standards.registry import registry
from ditan.spatial.study_area.model import StudyArea, data_extent

#: optional inputs: their absence is said in each column's reason, not as a gap of the data
OPTIONAL = ("raster", "parcels", "floor_area")


def data_evidence(
    sa: StudyArea,
    params: ComputeParams,
    lu: pd.DataFrame,
    origins: Origins,
    radii: list[float],
    *,
    ledger: Ledger,
) -> tuple[Evidence, list[str]]:
    """The Evidence of one run (see ditan.spatial.standards.evidence) and the data-gap lines of its summary.

    The data gaps are named in ``ledger`` (the computation's own, not the study area's).
    """
    absent = absent_layers(sa, lu)
    ev = Evidence(absent=absent)
    lines: list[str] = []
    for key, why in absent.items():
        en, zh = NEED_NAMES.get(key, (key, key))
        cols = needing(key)
        if (
            key == "floor_area"
        ):  # floor area from neither buildings nor parcels: the buildings gap leaves these NaN too
            ledger.gap("layer buildings", why, cols)
        elif (
            key in sa.absent
        ):  # named by the loader (ditan.pipelines.assemble.absent); the columns are added up
            ledger.gap(f"layer {key}", why, cols)
        else:
            ledger.gap(
                f"layer {key}",
                f"{why}; the indicators that need {en} data are NaN (not assessable)",
                cols,
            )
        if key not in OPTIONAL:
            lines.append(f"无{zh}数据 no {en} data: {why}")
    lines += _outside(
        sa.units, {k: sa.extent(k) for k in sa.extents}, absent, ev, ledger, sa.parcels
    )
    if "facilities" not in absent:
        lines += _category_gaps(
            sa, [*params.life_circle.confirmed_absent, *sa.confirmed_absent], ev, ledger
        )
    if "stations" not in absent:
        lines += _station_gaps(
            sa, [*params.transit.confirmed_absent, *sa.confirmed_absent], ev, radii, ledger
        )
    if "residents" in absent:
        ev.residents = np.zeros(len(sa.units), dtype=bool)
    else:
        a = params.assessment
        w = origins.weights
        tot = np.bincount(
            w["unit"].to_numpy(), weights=w["weight"].to_numpy(), minlength=len(sa.units)
        )
        land = None if "landuse" in absent else lu["residential_land_m2"].to_numpy()
        ev.residents = has_residents(
            origins.basis.to_numpy(),
            tot,
            land,
            sa.units.geometry.area.to_numpy(),
            min_land_m2=a.min_residential_land_m2,
            min_land_pct=a.min_residential_land_pct,
            unknown_land_pct=(lu["lu_unknown_pct"] + lu["lu_no_data_pct"]).to_numpy(),
        )
        ev.residents_reason = R.NO_RESIDENTS.format(
            min_m2=a.min_residential_land_m2, min_pct=a.min_residential_land_pct
        )
    return ev, lines


def absent_layers(sa: StudyArea, lu: pd.DataFrame) -> dict[str, str]:
    """Needs with no source at all in the run → why (English)."""
    absent = dict(sa.absent)
    if (
        sa.landcover is None
        and "vegetation" not in absent
        and sa.vegetation.empty
        and not lu["green_space_ratio_pct"].gt(0).any()
    ):
        absent["vegetation"] = (
            "no land-cover raster (inputs.landcover) and no vegetation or green-land polygon in any source"
        )
    if sa.landcover is None:
        absent.setdefault("raster", "no land-cover class raster (inputs.landcover)")
    elif sa.landcover.ndvi_threshold is not None:
        absent.setdefault(
            "raster", "the land-cover raster is continuous (NDVI): it has no impervious class"
        )
    if "buildings" in absent and not (
        sa.parcels is not None and np.isfinite(parcels.parcel_floor_area_m2(sa.parcels)).any()
    ):
        absent["floor_area"] = absent["buildings"]
    if sa.parcels is None:
        absent.setdefault("parcels", "no parcel layer (inputs.parcels)")
    if not sa.has_facility_source:
        absent.setdefault("facilities", "no POI layer (inputs.pois) and no OSM file (inputs.osm)")
    if not sa.has_station_source:
        absent.setdefault(
            "stations", "no stations layer (inputs.stations) and no OSM file (inputs.osm)"
        )
    if "buildings" in absent and "landuse" in absent:
        absent["residents"] = "no buildings and no land use: homes cannot be located"
    return absent


def _outside(
    units: gpd.GeoDataFrame,
    extents: dict,
    absent: dict[str, str],
    ev: Evidence,
    ledger: Ledger,
    parcel_layer: gpd.GeoDataFrame | None,
) -> list[str]:
    """Units beyond each layer's data: NaN for that layer's indicators; units partly beyond: flagged.

    Floor area rests on buildings or on parcels that give a floor area: a unit is beyond it only when beyond both.
    """
    floor_parcels = None
    if parcel_layer is not None:
        given = np.isfinite(parcels.parcel_floor_area_m2(parcel_layer))
        floor_parcels = (
            data_extent(parcel_layer.geometry.to_numpy()[given]) if given.any() else None
        )
    lines = []
    for key, extent in extents.items():
        if key in absent or extent is None:
            continue
        share = extent_shares(units, extent)
        ev.outside[key] = share < OUTSIDE_BELOW_PCT
        if key == "buildings" and "floor_area" not in absent:
            ev.outside["floor_area"] = ev.outside[key] & (
                extent_shares(units, floor_parcels) < OUTSIDE_BELOW_PCT
                if floor_parcels is not None
                else True
            )
        en, zh = NEED_NAMES[key]
        out_ids = list(units.index[ev.outside[key]])
        if out_ids:
            ledger.gap(
                f"units outside the {en} data 单元位于{zh}数据范围外",
                f"the {en} layer does not reach {feature_list(out_ids)}: extend it over them",
                needing(key),
            )
            lines.append(
                f"单元位于{zh}数据范围外 units outside the {en} data: {feature_list(out_ids)}"
            )
        part = (share >= OUTSIDE_BELOW_PCT) & (share < PARTLY_BELOW_PCT)
        if part.any():
            shown = [
                f"{u} ({s:.0f} % inside)"
                for u, s in zip(units.index[part], share[part], strict=True)
            ]
            ledger.layer("units").flagged[
                f"partly outside the {en} data, measured on the part inside: {feature_list(shown)}"
            ] += int(part.sum())
    return lines


def _category_gaps(sa: StudyArea, confirmed: list[str], ev: Evidence, ledger: Ledger) -> list[str]:
    """Life-circle categories and community amenities with no facility anywhere: data gaps (unless ``confirmed`` absent)."""
    cat = sa.catalogue
    lines = []
    for cid in empty_kinds(sa.facilities["category"], list(cat.categories), confirmed):
        c = cat.categories[cid]
        ev.gaps[columns.lc_category(cid)] = R.CATEGORY_GAP.format(name=f"{c.zh} {c.en}")
        ledger.gap(
            f"life-circle category {cid} {c.zh}",
            f"no {c.zh} {_lc(c.en)} in any source: add a POI layer (inputs.pois) or "
            f"confirm none exists (life_circle.confirmed_absent: [{cid}])",
            [columns.lc_category(cid)],
        )
        lines.append(f"无{c.zh} no {_lc(c.en)} ({cat.tiers[c.tier].zh})")
    for tid in cat.tiers:
        members = [c for c in cat.categories.values() if c.tier == tid]
        missing = [c for c in members if columns.lc_category(c.id) in ev.gaps]
        if missing:
            ev.gaps[columns.lc_all(tid)] = R.TIER_GAP.format(
                n=len(missing), names="、".join(c.zh for c in missing)
            )
            if len(missing) == len(members):
                ev.gaps[columns.lc_score(tid)] = ev.gaps[columns.lc_all(tid)]
    kinds = sa.amenities["kind"] if sa.amenities is not None else pd.Series([], dtype=object)
    for kid in empty_kinds(kinds, list(cat.amenities), confirmed):
        a = cat.amenities[kid]
        ev.gaps[f"{kid}_count"] = R.CATEGORY_GAP.format(name=f"{a.zh} {a.en}")
        ledger.gap(
            f"community amenity {kid} {a.zh}",
            f"no {a.zh} {_lc(a.en)} in any source: add a POI layer or confirm none "
            f"exists (life_circle.confirmed_absent: [{kid}])",
            [f"{kid}_count"],
        )
        lines.append(f"无{a.zh} no {_lc(a.en)}")
    return lines


def _station_gaps(
    sa: StudyArea, confirmed: list[str], ev: Evidence, radii: list[float], ledger: Ledger
) -> list[str]:
    """Station kinds with no station anywhere: data gaps (unless ``confirmed`` absent)."""
    lines = []
    for kind in empty_kinds(sa.stations["kind"], list(columns.STATION_COUNTS), confirmed):
        s = sa.catalogue.stations.get(kind)
        zh, en = (s.zh, s.en) if s else (kind, kind)
        cols = [columns.STATION_COUNTS[kind]]
        if kind in columns.PROXIMITY_KINDS:
            cols += [columns.proximity(kind, r, m) for r in radii for m in columns.METHODS]
        for c in cols:
            ev.gaps[c] = R.STATION_GAP.format(name=f"{zh} {en}")
        ledger.gap(
            f"station kind {kind} {zh}",
            f"no {zh} {_lc(en)} in any source: add a stations layer (inputs.stations) or "
            f"confirm none exists (transit.confirmed_absent: [{kind}])",
            cols,
        )
        lines.append(f"无{zh} no {_lc(en)}")
    return lines


def needing(need: str) -> list[str]:
    """The registry's spatial columns that rest on ``need`` (beyond the life-circle and radius columns built per run)."""
    return [i.id for i in registry().values() if i.spatial and need in i.needs]


def _lc(en: str) -> str:
    """'Elderly care home' → 'elderly care home'; 'EV charging station' stays."""
    return en[:1].lower() + en[1:] if en[1:2].islower() else en
