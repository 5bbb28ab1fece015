"""The units layer: community boundaries as given (ids, names, kinds; overlaps flagged) or blocks derived from roads."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely
from pyproj import CRS

from ditan.pipelines.assemble.reading import _closed_rings, _to_study
from ditan.pipelines.config.layer_source import LayerSource
from ditan.pipelines.config.options import UnitsOptions
from ditan.spatial.errors import LayerError, feature_list
from ditan.spatial.io.validate import (
    POLYGONAL,
    Ledger,
    clean_geometries,
    require_columns,
    require_unique_ids,
)
from ditan.spatial.study_area.units import derive_units, name_units

#: units overlapping by more than this (m²) are flagged in the ledger (they are kept and measured each as a whole)
UNIT_OVERLAP_TOL_M2 = 1.0


def make_units(
    o: UnitsOptions, roads: gpd.GeoDataFrame, landuse: gpd.GeoDataFrame, bounds: shapely.Polygon
) -> gpd.GeoDataFrame:
    """Blocks derived from the road network (sizes and ids as config ``units`` says), named from the data (ditan units)."""
    units = derive_units(
        roads,
        bounds,
        min_area_m2=o.min_area_m2,
        min_width_m=o.min_width_m,
        max_area_m2=o.max_area_m2,
    )
    units["unit_id"] = [f"{o.id_prefix}{i + 1:03d}" for i in range(len(units))]
    named = landuse[landuse["name"].notna()]
    units["name"] = name_units(units, named, roads).to_numpy()
    return units.set_index("unit_id")


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
