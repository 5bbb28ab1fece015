"""Reading one configured layer (file or PostGIS) into the study CRS, with the ledger notes of what was converted."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
from pyproj import CRS

from ditan.pipelines.config.layer_source import LayerSource
from ditan.spatial.crs.china import SYSTEM_NAMES
from ditan.spatial.crs.metric import to_metric
from ditan.spatial.errors import LayerError
from ditan.spatial.io.postgis import read_postgis
from ditan.spatial.io.validate import Ledger
from ditan.spatial.io.vector import read_vector


def _read(
    src: LayerSource, name: str, ledger: Ledger, record: str | None = None
) -> gpd.GeoDataFrame:
    """Read one configured layer; a conversion from GCJ-02 or BD-09 is noted under ``record`` (default ``name``).

    A web-map layer (category_system / kind_system amap or baidu) without crs: is taken in the provider's
    system (LayerSource._provider_crs) and the note says so; a file carrying its own projected CRS is then
    refused (it was converted already: set crs: to it).
    """
    if src._crs_default and src.path is not None:
        _own_projected(src, name)
    if src.path is None:  # a PostGIS table or query (table: / sql: with the config's database:)
        db = src.database
        limits = (
            {
                "statement_timeout_s": db.statement_timeout_s,
                "lock_timeout_s": db.lock_timeout_s,
                "allow_privileged_role": db.allow_privileged_role,
            }
            if db is not None
            else {}
        )
        raw = read_postgis(
            db.url if db else None,
            layer_name=name,
            table=src.table,
            query=src.sql,
            params=src.params,
            geometry_column=src.geometry_column,
            crs=src.crs,
            **limits,
        )
    else:
        raw = read_vector(
            src.path,
            layer_name=name,
            layer=src.layer,
            crs=src.crs,
            x_column=src.x_column,
            y_column=src.y_column,
            encoding=src.encoding,
        )
    if raw.attrs.get("encoding_detected"):
        add_note(ledger, record or name, f"encoding detected: {raw.attrs['encoding_detected']}")
    system = raw.attrs.get("source_crs")
    if system in SYSTEM_NAMES:
        taken = (
            f"coordinates taken as {SYSTEM_NAMES[system]}, the provider's ({src._crs_default}); converted"
            if src._crs_default
            else f"coordinates converted from {SYSTEM_NAMES[system]}"
        )
        add_note(ledger, record or name, f"{taken} to WGS 84 ({len(raw)} features)")
    return raw


def _own_projected(src: LayerSource, name: str) -> None:
    """Refuse taking a file with its own projected CRS as the web map's degrees (crs: not given, provider's default)."""
    import pyogrio

    if src.path is None or src.path.suffix.lower() in (".csv", ".xlsx", ".xlsm", ".xls"):
        return
    try:  # a file GDAL's info cannot open (a folder, GeoParquet): the reader reads it or says why
        wkt = pyogrio.read_info(src.path, layer=src.layer).get("crs")
    except Exception:
        return
    if wkt and not CRS.from_user_input(wkt).is_geographic:
        own = CRS.from_user_input(wkt)
        raise LayerError(
            f"layer '{name}' ({src.label}): {src._crs_default} takes coordinates as {SYSTEM_NAMES[str(src.crs)]} "
            f"by default, but the file carries its own projected CRS {own.name} ({_crs_label(own)}): it was converted "
            f"already. Set crs: {_crs_label(own)} on the layer to read it as it is"
        )


def add_note(ledger: Ledger, layer: str, text: str) -> None:
    """Append a note to a ledger layer (notes are shown in data_quality.csv; they do not count features)."""
    rec = ledger.layer(layer)
    rec.note = f"{rec.note}; {text}" if rec.note else text


def _crs_label(crs: object) -> str:
    crs = CRS.from_user_input(crs)
    epsg = crs.to_epsg()
    return f"EPSG:{epsg}" if epsg else crs.name


def _to_study(
    gdf: gpd.GeoDataFrame, crs: CRS, layer: str, ledger: Ledger, record: str | None = None
) -> gpd.GeoDataFrame:
    """to_metric, noting in the ledger (layer ``record``, default ``layer``) when the layer was reprojected."""
    out = to_metric(gdf, crs, layer)
    if out is not gdf:
        add_note(
            ledger, record or layer, f"reprojected from {_crs_label(gdf.crs)} to {_crs_label(crs)}"
        )
    return out


def _col(gdf: pd.DataFrame, column: str | None, default: object = None) -> np.ndarray:
    return gdf[column].to_numpy() if column else np.full(len(gdf), default, dtype=object)


def _number(raw: pd.DataFrame, column: str | None) -> np.ndarray:
    if not column:
        return np.full(len(raw), np.nan)
    return pd.to_numeric(raw[column], errors="coerce").to_numpy(dtype=float)


def _closed_rings(raw: gpd.GeoDataFrame, ledger: Ledger, layer: str) -> None:
    """Polygons whose unclosed rings the reader closed (``raw.attrs["rings_closed"]``) count as repaired."""
    rec = ledger.layer(layer)
    n = min(int(raw.attrs.get("rings_closed", 0)), rec.kept)
    if n:
        rec.kept -= n
        rec.repaired["unclosed ring closed"] += n
