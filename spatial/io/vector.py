"""Vector file readers: GeoPackage, GeoJSON, Shapefile, GeoParquet, and CSV with coordinates."""

from __future__ import annotations

import os
from pathlib import Path

import geopandas as gpd
import pandas as pd

from spatial.errors import CRSError, LayerError

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
    """Read one layer; ``crs`` declares the data's coordinate system (overriding a file's own)."""
    path = Path(path)
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            gdf = _read_csv(path, layer_name, x_column, y_column, encoding)
        elif suffix in (".parquet", ".geoparquet"):
            gdf = gpd.read_parquet(path)
        else:
            gdf = gpd.read_file(path, layer=layer, engine="pyogrio")
    except LayerError:
        raise
    except Exception as exc:  # driver errors come in many types; the message says what to do
        raise LayerError(f"layer '{layer_name}': could not read {path} ({exc}); is the file complete and of a supported kind?") from exc
    if crs is not None:
        gdf = gdf.set_crs(crs, allow_override=True)
    if gdf.crs is None:
        raise CRSError(f"layer '{layer_name}' ({path.name}) has no coordinate system; declare it in the config: crs: EPSG:4326 (or the CRS it is in)")
    return gdf


def _read_csv(path: Path, layer_name: str, x: str | None, y: str | None, encoding: str | None) -> gpd.GeoDataFrame:
    df = None
    for enc in (encoding,) if encoding else CSV_ENCODINGS:
        try:
            df = pd.read_csv(path, encoding=enc)
            break
        except UnicodeDecodeError:
            continue
    if df is None:
        raise LayerError(f"layer '{layer_name}': {path.name} is neither UTF-8 nor GB18030 text; set encoding: in the config")
    missing = [c for c in (x, y) if c not in df.columns]
    if missing:
        raise LayerError(f"layer '{layer_name}': {path.name} has no column(s) {', '.join(map(str, missing))}; it has {', '.join(df.columns)}")
    return gpd.GeoDataFrame(df, geometry=gpd.points_from_xy(pd.to_numeric(df[x], errors="coerce"), pd.to_numeric(df[y], errors="coerce")), crs=None)
