"""Shared rule for features on unit boundaries.

A line lying along the boundary shared by two units counts half to each; a point within
``BOUNDARY_TOL_M`` of the edges of k units counts 1/k to each. Summing over units that tile
the area therefore never counts a feature twice and never loses it. Units that overlap (a data
problem the loader reports) are each measured over their whole area: what lies inside both
counts in full to each. Lines are clipped to the units grown by ``OVERLAP_TOL_M``, so
a road drawn along a shared boundary is inside both even when floating-point noise puts its
vertices a hair to one side (a road cut into pieces gets interpolated vertices); the length
two units' pieces of the same line have in common is then split.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely

__all__ = ["line_pieces", "point_units", "polygon_pieces"]

#: distance within which a point is "on" a unit
BOUNDARY_TOL_M = 0.5
#: distance within which a line is on a unit's boundary, and two units' pieces of one line are the same piece
#: (1 µm: a thousand times the floating-point noise of metric coordinates in the millions; where k ≥ 3 units
#: meet at a corner, a road through it loses at most ~3 µm to the pairwise split)
OVERLAP_TOL_M = 1e-6


def line_pieces(unit_geoms: np.ndarray, lines: np.ndarray) -> pd.DataFrame:
    """Clip lines to units: (unit position, line position, length_m) with shared lengths split."""
    grown = shapely.buffer(unit_geoms, OVERLAP_TOL_M, join_style="mitre")
    tree = shapely.STRtree(grown)
    li, ui = tree.query(lines, predicate="intersects")
    shapely.prepare(grown)
    # most lines lie wholly inside one unit: only those crossing a unit's edge are clipped (and lines that run
    # over themselves, whose overlay with the unit counts the doubled stretch once, as before)
    inside = shapely.contains_properly(grown[ui], lines[li])
    inside[inside] = shapely.is_simple(lines[li][inside])
    pieces = lines[li].copy()
    cut = ~inside
    pieces[cut] = shapely.intersection(lines[li][cut], grown[ui][cut])
    # a line touching a unit only at a point gives a piece of length 0, dropped below
    length = shapely.length(pieces)
    df = pd.DataFrame({"unit": ui, "line": li, "length_m": length, "k": np.arange(len(li))})
    df = df[df["length_m"] > 0]
    pairs = df.merge(df, on="line", suffixes=("_a", "_b"))
    pairs = pairs[pairs["unit_a"] != pairs["unit_b"]]
    if len(pairs):
        a = pieces[pairs["k_a"].to_numpy()]
        b = pieces[pairs["k_b"].to_numpy()]
        # only where the line runs along the edge of both units: inside overlapping units it counts to each in full
        ua, ub = pairs["unit_a"].to_numpy(), pairs["unit_b"].to_numpy()
        edge = shapely.buffer(shapely.boundary(unit_geoms), 2 * OVERLAP_TOL_M, cap_style="flat")
        common = shapely.intersection(
            shapely.intersection(a, shapely.buffer(b, 2 * OVERLAP_TOL_M, cap_style="flat")),
            edge[ua],
        )
        shared = shapely.length(shapely.intersection(common, edge[ub]))
        give = pd.Series(shared / 2.0).groupby(pairs["k_a"].to_numpy()).sum()
        df["length_m"] = df["length_m"] - df["k"].map(give).fillna(0.0)
    return df[["unit", "line", "length_m"]].reset_index(drop=True)


def point_units(
    unit_geoms: np.ndarray, points: np.ndarray, *, tol_m: float = BOUNDARY_TOL_M
) -> pd.DataFrame:
    """Assign points to units: (unit position, point position, weight).

    A point within ``tol_m`` of the edges of k units counts 1/k to each; a point inside a unit,
    away from its edge, counts 1 to it (inside two overlapping units: 1 to each).
    """
    tree = shapely.STRtree(unit_geoms)
    pi, ui = tree.query(points, predicate="dwithin", distance=tol_m)
    on_edge = (
        shapely.dwithin(points[pi], shapely.boundary(unit_geoms[ui]), tol_m)
        if len(pi)
        else np.zeros(0, dtype=bool)
    )
    k = np.bincount(pi[on_edge], minlength=len(points))
    weight = np.where(on_edge, 1.0 / np.maximum(k[pi], 1), 1.0)
    return pd.DataFrame({"unit": ui, "point": pi, "weight": weight})


def polygon_pieces(unit_geoms: np.ndarray, polys: np.ndarray) -> pd.DataFrame:
    """Intersect polygons with units: (unit position, polygon position, area_m2) of each overlap."""
    tree = shapely.STRtree(unit_geoms)
    pi, ui = tree.query(polys, predicate="intersects")
    shapely.prepare(unit_geoms)
    # a polygon wholly inside the unit (most buildings, parcels) needs no overlay
    inside = shapely.contains_properly(unit_geoms[ui], polys[pi])
    area = shapely.area(polys[pi])
    area[~inside] = shapely.area(shapely.intersection(polys[pi[~inside]], unit_geoms[ui[~inside]]))
    keep = area > 0
    return pd.DataFrame({"unit": ui[keep], "poly": pi[keep], "area_m2": area[keep]})
