"""Vector file readers: GeoPackage, GeoJSON, Shapefile, GeoParquet, and CSV with coordinates."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import geopandas as gpd
import pandas as pd
from pyproj import CRS

from ditan.spatial.crs.china import SYSTEM_NAMES, check_coordinates, china_system, to_wgs84
from ditan.spatial.errors import CRSError, LayerError

__all__ = ["read_vector", "declare_crs"]

CSV_ENCODINGS = ("utf-8-sig", "gb18030")


def read_vector(
    path: str | os.PathLike,
    *,
    layer_name: str,
    layer: str | None = None,
    crs: str | None = None,
    x_column: str | None = None,
    y_column: str | None = None,
    encoding: str | None = None,
) -> gpd.GeoDataFrame:
    """Read one layer; ``crs`` declares the data's coordinate system (overriding a file's own).

    ``crs`` may also be 'gcj02' or 'bd09' (Chinese web-map coordinates, any case): the coordinates are
    then read as degrees in that system and converted to WGS 84 (EPSG:4326). The coordinates are
    checked against the CRS (:func:`ditan.spatial.crs.china.check_coordinates`). The result's
    ``attrs["source_crs"]`` names the CRS the data was read in ('gcj02', 'bd09', or the CRS string).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            gdf = _read_csv(path, layer_name, x_column, y_column, encoding)
        elif suffix in (".parquet", ".geoparquet"):
            gdf = gpd.read_parquet(path)
        else:
            gdf = _read_fixing_rings(path, layer)
    except LayerError:
        raise
    except Exception as exc:  # driver errors come in many types; the message says what to do
        raise LayerError(
            f"layer '{layer_name}': could not read {path}: the file is damaged, truncated or not of a supported kind ({exc}); "
            "export it again (GeoPackage, Shapefile, GeoJSON, GeoParquet or CSV)"
        ) from exc
    return declare_crs(
        gdf,
        crs,
        layer_name=layer_name,
        source=path.name,
        source_crs="the file's CRS",
        fix="fix the file's CRS (.prj / GeoPackage SRS)",
    )


def declare_crs(
    gdf: gpd.GeoDataFrame,
    crs: str | None,
    *,
    layer_name: str,
    source: str,
    source_crs: str,
    fix: str,
    no_crs_fix: str = "",
) -> gpd.GeoDataFrame:
    """Apply the config's ``crs`` to data read with its own CRS (or none), and check the coordinates against it.

    Shared by the file and the database readers: ``source`` names where the data came from (a file
    name, a table), ``source_crs`` its own CRS in words, ``fix`` how to mend that CRS, and
    ``no_crs_fix`` an extra hint when there is none. 'gcj02' / 'bd09' are converted to WGS 84. The
    result's ``attrs["source_crs"]`` names the CRS the data was read in.
    """
    system = china_system(crs)
    if system is not None:
        if gdf.crs is not None and not CRS.from_user_input(gdf.crs).is_geographic:
            own = CRS.from_user_input(gdf.crs)
            raise LayerError(
                f"layer '{layer_name}': the config says crs: {system} ({SYSTEM_NAMES[system]}, longitude/latitude in degrees) "
                f"but {source} carries its own projected CRS {own.name} ({own.to_string()}); they contradict each other. "
                f"Remove crs: {system} to use {source_crs}, or {fix} if the data really is {system}"
            )
        gdf = gdf.set_crs(4326, allow_override=True) if gdf.crs is None else gdf
        check_coordinates(gdf, layer_name, declared=system)
        return to_wgs84(gdf, system)
    if crs is not None:
        gdf = gdf.set_crs(crs, allow_override=True)
    if gdf.crs is None:
        raise CRSError(
            f"layer '{layer_name}' ({source}) has no coordinate system; declare it in the config: crs: EPSG:4326 "
            f"(or the CRS it is in){no_crs_fix}"
        )
    check_coordinates(gdf, layer_name, declared=crs)
    gdf.attrs["source_crs"] = crs if crs is not None else CRS.from_user_input(gdf.crs).to_string()
    return gdf


def _read_fixing_rings(path: Path, layer: str | None) -> gpd.GeoDataFrame:
    """Read with GDAL, closing unclosed polygon rings; ``attrs["rings_closed"]`` counts them (rings, not features)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gdf = gpd.read_file(path, layer=layer, engine="pyogrio", on_invalid="fix")
    closed = [w for w in caught if "Non closed ring" in str(w.message)]
    for w in caught:
        if w not in closed:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    gdf.attrs["rings_closed"] = len(closed)
    return gdf


def _read_csv(
    path: Path, layer_name: str, x: str | None, y: str | None, encoding: str | None
) -> gpd.GeoDataFrame:
    df = None
    for enc in (encoding,) if encoding else CSV_ENCODINGS:
        try:
            df = pd.read_csv(path, encoding=enc)
            break
        except UnicodeDecodeError:
            continue
    if df is None:
        raise LayerError(
            f"layer '{layer_name}': {path.name} is neither UTF-8 nor GB18030 text; set encoding: in the config"
        )
    missing = [c for c in (x, y) if c not in df.columns]
    if missing:
        raise LayerError(
            f"layer '{layer_name}': {path.name} has no column(s) {', '.join(map(str, missing))}; it has {', '.join(df.columns)}"
        )
    return gpd.GeoDataFrame(
        df,
        geometry=gpd.points_from_xy(
            pd.to_numeric(df[x], errors="coerce"), pd.to_numeric(df[y], errors="coerce")
        ),
        crs=None,
    )
