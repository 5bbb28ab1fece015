"""Shared rule for features on unit boundaries.

A line piece or a point lying on the boundary shared by k units (within ``tol_m``) counts
1/k to each of them, so that summing over units never double-counts and never loses it.
Units' polygons are closed sets: a road running exactly along a shared boundary is inside
both, and is split half and half.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely

#: distance within which a line piece's midpoint or a point is "on" a unit
BOUNDARY_TOL_M = 0.5


def line_pieces(unit_geoms: np.ndarray, lines: np.ndarray, *, tol_m: float = BOUNDARY_TOL_M) -> pd.DataFrame:
    """Clip lines to units: (unit position, line position, length_m, weight) per single-part piece."""
    tree = shapely.STRtree(unit_geoms)
    li, ui = tree.query(lines, predicate="intersects")
    clipped = shapely.intersection(lines[li], unit_geoms[ui])
    parts, pidx = shapely.get_parts(clipped, return_index=True)
    linear = np.isin(shapely.get_type_id(parts), (1, 2))  # LineString, LinearRing
    parts, pidx = parts[linear], pidx[linear]
    mid = shapely.line_interpolate_point(parts, 0.5, normalized=True)
    weight = 1.0 / _cover_count(tree, mid, tol_m)
    return pd.DataFrame({"unit": ui[pidx], "line": li[pidx], "length_m": shapely.length(parts), "weight": weight})


def point_units(unit_geoms: np.ndarray, points: np.ndarray, *, tol_m: float = BOUNDARY_TOL_M) -> pd.DataFrame:
    """Assign points to units: (unit position, point position, weight); boundary points are shared."""
    tree = shapely.STRtree(unit_geoms)
    pi, ui = tree.query(points, predicate="dwithin", distance=tol_m)
    counts = np.bincount(pi, minlength=len(points))
    return pd.DataFrame({"unit": ui, "point": pi, "weight": 1.0 / counts[pi]})


def _cover_count(tree: shapely.STRtree, points: np.ndarray, tol_m: float) -> np.ndarray:
    pi, _ = tree.query(points, predicate="dwithin", distance=tol_m)
    return np.maximum(np.bincount(pi, minlength=len(points)), 1)


def polygon_pieces(unit_geoms: np.ndarray, polys: np.ndarray) -> pd.DataFrame:
    """Intersect polygons with units: (unit position, polygon position, area_m2) of each overlap."""
    tree = shapely.STRtree(unit_geoms)
    pi, ui = tree.query(polys, predicate="intersects")
    area = shapely.area(shapely.intersection(polys[pi], unit_geoms[ui]))
    keep = area > 0
    return pd.DataFrame({"unit": ui[keep], "poly": pi[keep], "area_m2": area[keep]})
