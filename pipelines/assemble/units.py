"""The units layer: community boundaries as given (ids, names, kinds; overlaps flagged) or blocks derived from roads."""

from __future__ import annotations

import logging

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from ditan.pipelines.assemble.reading import _closed_rings, _to_study, add_note
from ditan.pipelines.config.layer_source import LayerSource
from ditan.pipelines.config.options import UnitsOptions
from ditan.pipelines.config.schema import Config
from ditan.spatial.errors import LayerError, feature_list
from ditan.spatial.io.osm import OsmExtract
from ditan.spatial.io.validate import (
    POLYGONAL,
    Ledger,
    clean_geometries,
    require_columns,
    require_unique_ids,
)
from ditan.spatial.study_area.units import UnitsReport, derive_units_report, name_units

log = logging.getLogger(__name__)

#: units overlapping by more than this (m²) are flagged in the ledger (they are kept and measured each as a whole)
UNIT_OVERLAP_TOL_M2 = 1.0
#: land-use classes of open land: an oversized block mostly of these is kept whole, not cut by a grid
OPEN_LAND_CLASSES = ("park", "green", "water")
#: when the config gives no study bounds, bounds larger than this (km²) are warned about: more than a
#: district of central Beijing (东城区 Dongcheng about 42 km², 西城区 Xicheng about 51 km²), where a
#: study of communities spans a few km²
UNBOUNDED_WARN_KM2 = 50.0
#: the ledger layer of units derived from roads (notes: the study bounds, what the derivation dropped and split)
DERIVED_UNITS_LAYER = "units (derived from roads)"


def make_units(
    o: UnitsOptions,
    roads: gpd.GeoDataFrame,
    landuse: gpd.GeoDataFrame,
    bounds: shapely.Polygon,
    ledger: Ledger | None = None,
) -> gpd.GeoDataFrame:
    """Blocks derived from the road network (sizes and ids as config ``units`` says), named from the data (ditan units).

    Columns name, split_by, above_max_reason (see ditan.spatial.study_area.units); with ``ledger``,
    what the derivation dropped and split is noted under DERIVED_UNITS_LAYER and every unit still
    above ``max_area_m2`` flagged with its reason.
    """
    return make_units_report(o, roads, landuse, bounds, ledger)[0]


def make_units_report(
    o: UnitsOptions,
    roads: gpd.GeoDataFrame,
    landuse: gpd.GeoDataFrame,
    bounds: shapely.Polygon,
    ledger: Ledger | None = None,
) -> tuple[gpd.GeoDataFrame, UnitsReport]:
    """:func:`make_units` and the derivation's report (for the summary of ``ditan units``)."""
    lu_class = landuse["lu_class"] if "lu_class" in landuse else None
    open_land = (
        landuse.geometry.to_numpy()[lu_class.isin(OPEN_LAND_CLASSES).to_numpy()]
        if lu_class is not None
        else None
    )
    units, report = derive_units_report(
        roads,
        bounds,
        min_area_m2=o.min_area_m2,
        min_width_m=o.min_width_m,
        max_area_m2=o.max_area_m2,
        open_land=open_land,
    )
    units["unit_id"] = [f"{o.id_prefix}{i + 1:03d}" for i in range(len(units))]
    named = landuse[landuse["name"].notna()]
    units["name"] = name_units(units, named, roads).to_numpy()
    units = units[["unit_id", "name", "split_by", "above_max_reason", "geometry"]]
    if ledger is not None:
        for line in report.lines(units, o.max_area_m2):
            if not line.startswith(" "):  # the units above the limit are flagged one by one below
                add_note(ledger, DERIVED_UNITS_LAYER, line)
        rec = ledger.layer(DERIVED_UNITS_LAYER)
        for uid, why in units[units["above_max_reason"].notna()][
            ["unit_id", "above_max_reason"]
        ].to_numpy():
            rec.flagged[f"{uid} above units.max_area_m2 ({o.max_area_m2:,.0f} m²): {why}"] += 1
    return units.set_index("unit_id"), report


def note_study_bounds(
    cfg: Config, ext: OsmExtract | None, bounds: shapely.Polygon, ledger: Ledger
) -> str | None:
    """When the config gives no study bounds: say what the derived units will cover, and return it.

    One line, logged (a warning when the bounds span more than UNBOUNDED_WARN_KM2) and noted in the
    ledger under DERIVED_UNITS_LAYER; None when the config gives bounds (bounds, inputs.osm.bounds,
    a fetched place or bbox).
    """
    osm = cfg.inputs.osm
    given = cfg.bounds is not None or (
        osm is not None
        and any(getattr(osm, k, None) is not None for k in ("bounds", "bbox", "place"))
    )
    if given:
        return None
    km2 = shapely.area(bounds) / 1e6
    origin = (
        "the OSM file header's box"
        if ext is not None and ext.bounds
        else "the whole extent of the roads (the file has no header bounds)"
        if ext is not None
        else "the whole extent of the roads"
    )
    big = km2 > UNBOUNDED_WARN_KM2
    text = (
        f"no study bounds given 未设置研究范围 (inputs.osm.bounds): units are derived over {origin}, "
        f"{km2:,.1f} km²"
        + (f", more than a district (> {UNBOUNDED_WARN_KM2:g} km²)" if big else "")
        + "; set inputs.osm.bounds: [west, south, east, north] to the area you study"
    )
    (log.warning if big else log.info)(text)
    add_note(ledger, DERIVED_UNITS_LAYER, text)
    return text


def _units(raw: gpd.GeoDataFrame, src: LayerSource, crs: CRS, ledger: Ledger) -> gpd.GeoDataFrame:
    id_col = src.id_column or ("unit_id" if "unit_id" in raw else None)
    require_columns(
        raw,
        [c for c in (id_col, src.name_column, src.kind_column) if c],
        layer="units",
        hint="set id_column / name_column / kind_column under inputs.units",
    )
    if id_col is None:
        raise LayerError("layer 'units' needs an id column; set inputs.units.id_column")
    _require_ids(raw, id_col, src)
    raw = raw.assign(unit_id=raw[id_col].astype(str))
    require_unique_ids(raw["unit_id"], layer="units")
    clean = clean_geometries(raw, layer="units", kinds=POLYGONAL, ledger=ledger)
    _closed_rings(raw, ledger, "units")
    if clean.empty:
        what = (
            "has no features"
            if raw.empty
            else f"has no usable polygon among its {len(raw)} features (see the ledger)"
        )
        raise LayerError(
            f"layer 'units' ({src.label}) {what}; check the boundary file, or leave inputs.units out to derive blocks"
        )
    names = clean[src.name_column].astype(str) if src.name_column else ("单元 " + clean["unit_id"])
    out = gpd.GeoDataFrame(
        {"unit_id": clean["unit_id"].to_numpy(), "name": names.to_numpy()},
        geometry=clean.geometry.to_numpy(),
        crs=clean.crs,
    )
    if (
        src.kind_column
    ):  # the pilot kind of each unit (new / existing / rural …) for the compliance profile
        out["kind"] = clean[src.kind_column].astype("string").str.strip().to_numpy(dtype=object)
    out = _to_study(out, crs, "units", ledger)
    _flag_overlapping_units(out, ledger)
    return out.set_index("unit_id")


def _require_ids(raw: gpd.GeoDataFrame, id_col: str, src: LayerSource) -> None:
    """Refuse units whose id is NULL, empty or blank, naming them (feature number in the file, and name)."""
    ids = raw[id_col]
    blank = ids.isna().to_numpy() | (ids.astype("string").str.strip().fillna("") == "").to_numpy()
    if not blank.any():
        return
    rows = np.flatnonzero(blank)
    names = raw[src.name_column] if src.name_column else None
    shown = [
        f"feature {i + 1}"
        + (f" ({names.iloc[i]})" if names is not None and pd.notna(names.iloc[i]) else "")
        for i in rows[:5]
    ]
    listing = ", ".join(shown) + (" …" if len(rows) > 5 else "") + f" ({len(rows)} in all)"
    raise LayerError(
        f"layer 'units' ({src.label}) has units with no id in column '{id_col}' 单元编号为空: {listing}; "
        f"fill in '{id_col}' for every unit (each its own), or set inputs.units.id_column to a column that has one"
    )


def _flag_overlapping_units(units: gpd.GeoDataFrame, ledger: Ledger) -> None:
    """Flag units overlapping another by more than UNIT_OVERLAP_TOL_M2, listing the pairs (units are not merged)."""
    geoms = units.geometry.to_numpy()
    a, b = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    a, b = a[a < b], b[a < b]
    area = shapely.area(shapely.intersection(geoms[a], geoms[b]))
    big = area > UNIT_OVERLAP_TOL_M2
    if not big.any():
        return
    ids = units["unit_id"].astype(str).to_numpy()
    pairs = [
        f"{ids[i]}/{ids[j]} {m2:,.0f} m²"
        for i, j, m2 in zip(a[big], b[big], area[big], strict=True)
    ]
    n_units = len(np.unique(np.concatenate([a[big], b[big]])))
    ledger.layer("units").flagged[
        f"overlapping units, kept as drawn: {feature_list(pairs)}; each unit is measured over its whole area: "
        "buildings, land, roads and points in an overlap count in full to each unit"
    ] += n_units
