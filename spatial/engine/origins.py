"""Where residents start from: residential buildings, or residential land where a unit has none.

A unit's life-circle and 500 m shares are weighted by residential floor area (each building's
floor area standing on the unit). A unit with residential land but no residential building is
sampled on a regular grid over that land, each point weighted by the land area it stands for.

When the config weights by population instead, origins are the buildings with a population
column (residents split over units by footprint) or the populated pixels of a population
raster; ``lc_basis`` then reads ``population``.
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import rasterio.transform
import rasterio.windows
import shapely
from pyproj import Transformer

from ditan.spatial.crs.metric import ensure_projected
from ditan.spatial.engine.allocate import point_units
from ditan.spatial.errors import LayerError

__all__ = [
    "Origins",
    "residential_origins",
    "building_population_origins",
    "raster_population_origins",
    "population_per_unit",
]

GRID_M = 25.0


@dataclass
class Origins:
    points: np.ndarray  # shapely Points (metric CRS)
    weights: pd.DataFrame  # columns unit (position), origin (position), weight (m²)
    basis: pd.Series  # per unit position: 'floor_area', 'land_area' or 'none'

    def floor_area_m2(self, n_units: int) -> np.ndarray:
        """Residential floor area per unit (0 where the weights are land area or there are none)."""
        w = self.weights
        on_floor = self.basis.to_numpy()[w["unit"].to_numpy()] == "floor_area"
        return np.bincount(
            w["unit"].to_numpy()[on_floor],
            weights=w["weight"].to_numpy()[on_floor],
            minlength=n_units,
        )

    def share(self, covered: np.ndarray, n_units: int) -> np.ndarray:
        """Per unit: weighted share (%) of origins where ``covered`` is True; NaN without origins."""
        u = self.weights["unit"].to_numpy()
        w = self.weights["weight"].to_numpy()
        c = covered[self.weights["origin"].to_numpy()]
        tot = np.bincount(u, weights=w, minlength=n_units)
        hit = np.bincount(u, weights=w * c, minlength=n_units)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(tot > 0, hit / tot * 100.0, np.nan)


def residential_origins(
    units: gpd.GeoDataFrame,
    buildings: gpd.GeoDataFrame,
    pieces: pd.DataFrame,
    faces: gpd.GeoDataFrame,
    *,
    grid_m: float = GRID_M,
) -> Origins:
    """Origins from residential buildings (column ``residential``), else residential land faces."""
    ensure_projected(units, "units")
    n = len(units)
    res = buildings["residential"].to_numpy()
    bp = pieces[res[pieces["building"].to_numpy()]]
    pts_b = shapely.point_on_surface(buildings.geometry.to_numpy())
    # origins are numbered: buildings first (all of them, so positions stay simple), then grid points
    w_b = pd.DataFrame(
        {
            "unit": bp["unit"].to_numpy(),
            "origin": bp["building"].to_numpy(),
            "weight": bp["floor_area_m2"].to_numpy(),
        }
    )
    has_b = np.bincount(w_b["unit"].to_numpy(), weights=w_b["weight"].to_numpy(), minlength=n) > 0
    basis = pd.Series(np.where(has_b, "floor_area", "none"), dtype=object)

    land = faces[faces["lu_class"] == "residential"]
    grid_pts, grid_w = [], []
    todo = np.flatnonzero(~has_b)
    if len(land) and len(todo):
        res_land = shapely.union_all(land.geometry.to_numpy())
        for (
            ui
        ) in todo:  # a handful of units lack residential buildings; each gets one vectorised grid
            geom = shapely.intersection(units.geometry.iloc[ui], res_land)
            area = shapely.area(geom)
            if area <= 0:
                continue
            pts = _grid_points(geom, grid_m)
            grid_pts.append(pts)
            grid_w.append(pd.DataFrame({"unit": ui, "weight": np.full(len(pts), area / len(pts))}))
            basis[ui] = "land_area"
    points = pts_b
    weights = w_b
    if grid_pts:
        g = pd.concat(grid_w, ignore_index=True)
        g["origin"] = len(pts_b) + np.arange(len(g))
        points = np.concatenate([pts_b, *grid_pts])
        weights = pd.concat([w_b, g[["unit", "origin", "weight"]]], ignore_index=True)
    return Origins(points=points, weights=weights, basis=basis)


def _grid_points(geom: shapely.Geometry, step: float) -> np.ndarray:
    x0, y0, x1, y1 = shapely.bounds(geom)
    xs = np.arange(x0 + step / 2, x1, step)
    ys = np.arange(y0 + step / 2, y1, step)
    gx, gy = np.meshgrid(xs, ys)
    inside = shapely.contains_xy(geom, gx.ravel(), gy.ravel())
    pts = shapely.points(gx.ravel()[inside], gy.ravel()[inside])
    if len(pts) == 0:
        pts = np.array([shapely.point_on_surface(geom)], dtype=object)
    return pts


def building_population_origins(
    units: gpd.GeoDataFrame, buildings: gpd.GeoDataFrame, pieces: pd.DataFrame
) -> Origins:
    """Origins weighted by residents: each building's ``population`` split over units by footprint.

    ``pieces`` are the building ∩ unit pieces (:func:`ditan.spatial.indicators.intensity.building_pieces`).
    Buildings with no or zero population carry no weight.
    """
    ensure_projected(units, "units")
    n = len(units)
    pop = np.nan_to_num(
        pd.to_numeric(buildings["population"], errors="coerce").to_numpy(dtype=float)
    )
    b = pieces["building"].to_numpy()
    whole = np.bincount(b, weights=pieces["footprint_m2"].to_numpy(), minlength=len(buildings))
    w = pop[b] * pieces["footprint_m2"].to_numpy() / np.maximum(whole[b], 1e-9)
    weights = pd.DataFrame({"unit": pieces["unit"].to_numpy(), "origin": b, "weight": w})
    weights = weights[weights["weight"] > 0].reset_index(drop=True)
    has = (
        np.bincount(weights["unit"].to_numpy(), weights=weights["weight"].to_numpy(), minlength=n)
        > 0
    )
    basis = pd.Series(np.where(has, "population", "none"), dtype=object)
    return Origins(
        points=shapely.point_on_surface(buildings.geometry.to_numpy()), weights=weights, basis=basis
    )


def raster_population_origins(
    units: gpd.GeoDataFrame, raster_path: str, *, band: int = 1
) -> Origins:
    """Origins at the centres of populated pixels of a population raster, weighted by their residents.

    A pixel belongs to the unit its centre falls in (shared 1/k on a boundary); nodata and
    non-positive pixels carry no weight. The raster may be in any CRS: only pixel centres are
    transformed, nothing is resampled.
    """
    ensure_projected(units, "units")
    n = len(units)
    with rasterio.open(raster_path) as src:
        if src.crs is None:
            raise LayerError(f"population raster '{raster_path}' has no CRS; assign one first")
        bounds = units.to_crs(src.crs.to_wkt()).total_bounds
        w = rasterio.windows.from_bounds(*bounds, transform=src.transform)
        c0, r0 = max(int(np.floor(w.col_off)), 0), max(int(np.floor(w.row_off)), 0)
        c1 = min(int(np.ceil(w.col_off + w.width)), src.width)
        r1 = min(int(np.ceil(w.row_off + w.height)), src.height)
        win = rasterio.windows.Window(c0, r0, max(c1 - c0, 0), max(r1 - r0, 0))
        data = src.read(band, window=win, masked=True).astype(float).filled(0.0)
        tr = src.window_transform(win)
        rows, cols = np.nonzero(data > 0)
        xs, ys = rasterio.transform.xy(tr, rows, cols)
        to_metric = Transformer.from_crs(src.crs.to_wkt(), units.crs, always_xy=True)
        mx, my = to_metric.transform(np.asarray(xs, dtype=float), np.asarray(ys, dtype=float))
    points = shapely.points(mx, my)
    alloc = point_units(units.geometry.to_numpy(), points)
    weights = pd.DataFrame(
        {
            "unit": alloc["unit"].to_numpy(),
            "origin": alloc["point"].to_numpy(),
            "weight": data[rows, cols][alloc["point"].to_numpy()] * alloc["weight"].to_numpy(),
        }
    )
    has = (
        np.bincount(weights["unit"].to_numpy(), weights=weights["weight"].to_numpy(), minlength=n)
        > 0
    )
    basis = pd.Series(np.where(has, "population", "none"), dtype=object)
    return Origins(points=points, weights=weights, basis=basis)


def population_per_unit(origins: Origins, n_units: int) -> np.ndarray:
    """Residents per unit from population-weighted origins (0 where a unit has none)."""
    w = origins.weights
    return np.bincount(w["unit"].to_numpy(), weights=w["weight"].to_numpy(), minlength=n_units)
