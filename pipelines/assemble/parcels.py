"""Land use: a parcel layer with its land-use codes classified (unknown codes listed in the ledger), or OSM's land-use areas."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
from pyproj import CRS

from ditan.pipelines.assemble.reading import (
    _closed_rings,
    _col,
    _number,
    _read,
    _to_study,
    add_note,
)
from ditan.pipelines.config.layer_source import ParcelSource
from ditan.spatial.errors import LayerError, feature_list
from ditan.spatial.io.osm import OsmExtract
from ditan.spatial.io.validate import POLYGONAL, Ledger, clean_geometries, require_columns
from ditan.spatial.landuse.codes import CODE_SYSTEM_NAMES, classify_codes
from ditan.spatial.study_area import osm_layers


def _landuse(
    src: ParcelSource | None, ext: OsmExtract | None, crs: CRS, ledger: Ledger
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame | None]:
    """Classified land-use polygons (for the shares) and, from a parcel layer, the parcels themselves."""
    if src is None:
        if ext is None:
            return gpd.GeoDataFrame(
                {"lu_class": [], "tag": [], "name": []}, geometry=[], crs=crs
            ), None
        lu = osm_layers.landuse_from_osm(ext, crs, ledger)
        ledger.layer(
            "land use (OSM)"
        ).note = "areas with a land-use tag; smallest polygon wins where they overlap"
        return lu, None
    parcels = read_parcels(src, crs, ledger)
    known = parcels[parcels["lu_class"].notna()]
    return known[["lu_class", "tag", "name", "geometry"]].reset_index(drop=True), parcels


def read_parcels(src: ParcelSource, crs: CRS, ledger: Ledger) -> gpd.GeoDataFrame:
    """Parcels with their internal class; unknown, NULL and empty codes kept (class None) and listed per code in the ledger."""
    layer = "land-use parcels"
    raw = _read(src, layer, ledger)
    cols = (
        src.code_column,
        src.id_column,
        src.name_column,
        src.floor_area_column,
        src.far_column,
        src.height_limit_column,
        src.green_ratio_column,
    )
    require_columns(
        raw, [c for c in cols if c], layer=layer, hint="check the column names under inputs.parcels"
    )
    df = gpd.GeoDataFrame(
        {
            "parcel_id": _col(raw, src.id_column)
            if src.id_column
            else np.arange(1, len(raw) + 1).astype(str),
            "tag": raw[src.code_column].to_numpy(),
            "name": _col(raw, src.name_column),
            "floor_area_m2": _number(raw, src.floor_area_column),
            "far": _number(raw, src.far_column),
            "height_limit_m": _number(raw, src.height_limit_column),
            "green_ratio_pct": _number(raw, src.green_ratio_column),
        },
        geometry=raw.geometry.to_numpy(),
        crs=raw.crs,
    )
    df = _to_study(
        clean_geometries(df, layer=layer, kinds=POLYGONAL, ledger=ledger), crs, layer, ledger
    ).reset_index(drop=True)
    _closed_rings(raw, ledger, layer)
    codes = classify_codes(df["tag"], src.code_system)
    df["lu_class"] = codes["lu_class"].to_numpy()
    df["code"] = codes["code"].to_numpy()
    rec = ledger.layer(layer)
    area = df.geometry.area.to_numpy()
    how = codes["how"].to_numpy()
    system = CODE_SYSTEM_NAMES.get(src.code_system, src.code_system)
    tag = df["tag"].astype(object)
    null = tag.isna().to_numpy()
    # NULL codes keep a label of their own: a NaN group key would be dropped by groupby, and the parcels with it
    # would be counted in lu_unknown_pct without a line in data_quality.csv
    label = np.where(null, "NULL", tag.where(~null, "").astype(str).to_numpy())
    for code, grp in pd.DataFrame({"code": label, "null": null, "how": how, "area": area}).groupby(
        ["how", "code", "null"], sort=True
    ):
        kind, value, is_null = code
        if kind == "unknown":
            rec.flagged[
                f"unknown {system} code '{value}' ({len(grp)} parcels, {grp['area'].sum():,.0f} m²; counted as land without a class)"
            ] += len(grp)
        elif kind == "empty":
            rec.flagged[
                f"no land-use code: {'NULL' if is_null else repr(value)} ({len(grp)} parcels, {grp['area'].sum():,.0f} m²; counted as land without a class)"
            ] += len(grp)
        elif kind == "parent":
            rec.flagged[
                f"code '{value}' not in the {system} table; classified by its parent code"
            ] += len(grp)
    add_note(ledger, layer, f"land-use codes read as {system}")
    bad_far = (df["far"] < 0) | (df["far"] > 30) | (df["floor_area_m2"] < 0)
    if bad_far.any():
        ids = df.loc[bad_far, "parcel_id"].astype(str).tolist()
        raise LayerError(
            f"layer '{layer}': {len(ids)} parcel(s) with a negative floor area or a FAR outside 0–30 ({feature_list(ids)}); "
            "fix the values or leave them empty"
        )
    return df
