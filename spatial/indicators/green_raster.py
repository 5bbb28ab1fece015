"""Exact zonal shares of a land-cover raster over analysis units (绿化覆盖率, permeable share).

Method: the raster is never resampled. If its CRS differs from the units' CRS the unit
polygons are reprojected to the raster CRS (area *fractions* within a unit survive this).
For each unit only the raster window covering the unit's bounds is read (rounded outward,
clipped to the raster). Every pixel gets a weight equal to the fraction of its area inside
the polygon: pixels whose centre lies inside and that are not near the boundary get 1;
pixels touched by the polygon boundary (``all_touched`` rasterisation, grown by one pixel
to be safe against edge cases of GDAL's scan conversion) get the exact weight
``area(pixel ∩ polygon) / area(pixel)``, computed with vectorised shapely 2 functions.

A class share is Σ weight·[pixel in class] / Σ weight·[pixel valid] × 100, i.e. a share of
the *assessed* area; nodata pixels (the raster's nodata value, an override, or NaN) and the
parts of a unit outside the raster footprint are excluded from that denominator and
reported together as ``raster_nodata_pct``. A unit with nothing assessable gets NaN shares
(never 0). ``raster_assessed_km2`` is the unit's metric area times its assessed fraction.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import shapely
from pyproj import CRS
from rasterio.errors import RasterioIOError
from rasterio.features import rasterize
from rasterio.windows import Window, from_bounds

from spatial.crs import ensure_projected
from spatial.errors import LayerError

log = logging.getLogger(__name__)

NODATA_COL = "raster_nodata_pct"
ASSESSED_COL = "raster_assessed_km2"


def _pixel_weights(geom, transform, shape: tuple[int, int]) -> np.ndarray:
    """Fraction (0–1) of each pixel of a window that lies inside ``geom``."""
    inside = rasterize([(geom, 1)], out_shape=shape, transform=transform, fill=0, dtype="uint8")
    edge = rasterize(
        [(geom.boundary, 1)], out_shape=shape, transform=transform, fill=0, dtype="uint8",
        all_touched=True,
    ).astype(bool)
    grown = edge.copy()  # one-pixel dilation: cheap insurance against scan-conversion misses
    grown[1:, :] |= edge[:-1, :]
    grown[:-1, :] |= edge[1:, :]
    grown[:, 1:] |= edge[:, :-1]
    grown[:, :-1] |= edge[:, 1:]
    weights = np.where(grown, 0.0, inside.astype(np.float64))

    rows, cols = np.nonzero(grown)
    if rows.size:
        x0, y0 = transform.c + transform.a * cols, transform.f + transform.e * rows
        x1, y1 = x0 + transform.a, y0 + transform.e
        boxes = shapely.box(np.minimum(x0, x1), np.minimum(y0, y1), np.maximum(x0, x1), np.maximum(y0, y1))
        shapely.prepare(geom)
        frac = np.zeros(rows.size)
        hit = shapely.intersects(geom, boxes)
        full = hit & shapely.contains_properly(geom, boxes)
        frac[full] = 1.0
        part = hit & ~full
        if part.any():
            frac[part] = shapely.area(shapely.intersection(boxes[part], geom)) / shapely.area(boxes[part])
        weights[rows, cols] = np.clip(frac, 0.0, 1.0)
    return weights


def _window(geom, src) -> Window | None:
    """Window covering ``geom``'s bounds, rounded outward and clipped to the raster."""
    win = from_bounds(*geom.bounds, transform=src.transform)
    c0, r0 = math.floor(win.col_off + 1e-9), math.floor(win.row_off + 1e-9)
    c1 = math.ceil(win.col_off + win.width - 1e-9)
    r1 = math.ceil(win.row_off + win.height - 1e-9)
    c0, r0, c1, r1 = max(c0, 0), max(r0, 0), min(c1, src.width), min(r1, src.height)
    if c1 <= c0 or r1 <= r0:
        return None
    return Window(c0, r0, c1 - c0, r1 - r0)


def raster_cover_shares(
    units: gpd.GeoDataFrame,
    raster_path: str | os.PathLike,
    *,
    classes: dict[str, Sequence[int]] | None = None,
    thresholds: dict[str, float] | None = None,
    nodata: float | None = None,
    band: int = 1,
) -> pd.DataFrame:
    """Share (0–100 % of assessed area) of each class / threshold key per unit.

    ``classes`` maps a key to raster codes (e.g. ``{"green": [10, 20, 30, 90, 95]}``);
    ``thresholds`` maps a key to a minimum value of a continuous raster (value >= threshold).
    Returns columns ``<key>_pct``, ``raster_nodata_pct`` (nodata or outside the raster, % of
    the unit's area) and ``raster_assessed_km2``, indexed like ``units``.
    """
    ensure_projected(units, "units")
    classes, thresholds = dict(classes or {}), dict(thresholds or {})
    if not classes and not thresholds:
        raise LayerError(
            f"raster '{raster_path}': no classes or thresholds given; pass e.g. "
            f"classes={{'green': [10, 20, 30]}} or thresholds={{'green': 0.3}}"
        )
    if clash := sorted(set(classes) & set(thresholds)):
        raise LayerError(f"raster '{raster_path}': keys {clash} are both classes and thresholds; rename one")
    keys = [*classes, *thresholds]
    columns = [f"{k}_pct" for k in keys] + [NODATA_COL, ASSESSED_COL]

    try:
        src = rasterio.open(raster_path)
    except (RasterioIOError, OSError) as exc:
        raise LayerError(
            f"raster '{raster_path}' cannot be opened ({exc}); check the path and that it is a GeoTIFF"
        ) from exc
    with src:
        if src.crs is None:
            raise LayerError(
                f"raster '{raster_path}' has no CRS; assign one (e.g. gdal_edit.py -a_srs EPSG:4548) first"
            )
        if not 1 <= band <= src.count:
            raise LayerError(f"raster '{raster_path}' has {src.count} band(s); band={band} does not exist")
        if src.transform.b or src.transform.d:
            raise LayerError(f"raster '{raster_path}' is rotated; warp it to a north-up grid first")
        nd = nodata if nodata is not None else src.nodatavals[band - 1]
        metric_area = units.geometry.area.to_numpy()
        geoms = units.geometry
        raster_crs = CRS.from_user_input(src.crs.to_wkt())
        if CRS.from_user_input(units.crs) != raster_crs:
            log.debug("reprojecting %d units to the raster CRS %s", len(units), raster_crs.name)
            geoms = geoms.to_crs(raster_crs)

        out = np.full((len(units), len(columns)), np.nan)
        out[:, -2], out[:, -1] = 100.0, 0.0
        for i, geom in enumerate(geoms):
            if geom is None or geom.is_empty or geom.area <= 0:
                continue
            win = _window(geom, src)
            if win is None:
                continue
            data = src.read(band, window=win)
            weights = _pixel_weights(geom, src.window_transform(win), data.shape)
            valid = np.ones(data.shape, dtype=bool)
            if np.issubdtype(data.dtype, np.floating):
                valid &= ~np.isnan(data)
            if nd is not None and not (isinstance(nd, float) and math.isnan(nd)):
                valid &= data != nd
            w_valid = weights * valid
            assessed = w_valid.sum()
            pixel_area = abs(src.transform.determinant)
            frac = min(assessed * pixel_area / geom.area, 1.0)
            out[i, -2] = 100.0 * (1.0 - frac)
            out[i, -1] = metric_area[i] * frac / 1e6
            if assessed <= 0:
                continue
            for j, key in enumerate(keys):
                hit = np.isin(data, list(classes[key])) if key in classes else data >= thresholds[key]
                out[i, j] = 100.0 * w_valid[hit].sum() / assessed
    return pd.DataFrame(out, index=units.index, columns=columns)
