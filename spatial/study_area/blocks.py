"""The faces of a road network as blocks, for ditan.spatial.study_area.units (which states the rules).

Faces polygonized inside a frame, slivers dropped, holes that hold no block filled, the outer
remainder told apart from blocks the frame cuts, and the grid split of a block no road or path divides.
"""

from __future__ import annotations

import math

import numpy as np
import shapely

#: a face the study bounds close (no loop of roads holds it) is the outer remainder when more than
#: this share of its outline lies on the bounds: a corner block the bounds cut has half its outline
#: on them (a rectangle) up to 59 % (a triangle cut off by a diagonal road, 2 / (2 + √2)); the
#: leftover wrapping round the road network has more
FRAME_SHARE_MAX = 0.6
#: loops of roads that hold a face cut by the bounds are looked for among the roads within this
#: distance of the bounds (m), so that a city-wide extract studied in one district stays cheap
ENCLOSE_REACH_M = 2_000.0
#: parts of a face's outline within this distance of the bounds' outline lie on the bounds (m)
_ON_FRAME_M = 0.01
#: a face touches the bounds when more than this length of its outline lies on them (m), not at a point
_TOUCH_M = 1.0


def _faces(lines: np.ndarray, frame: shapely.Geometry) -> np.ndarray:
    """Faces of ``lines`` cut to ``frame`` and noded with its outline, inside ``frame``."""
    lines = shapely.intersection(lines, frame)
    noded = shapely.union_all(np.concatenate([lines, shapely.get_parts(shapely.boundary(frame))]))
    faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(noded))).ravel()
    return faces[shapely.within(shapely.point_on_surface(faces), frame)]


def _not_sliver(faces: np.ndarray, min_area_m2: float, min_width_m: float) -> np.ndarray:
    """True where a face is neither too small nor too narrow."""
    # a strip exactly min_width_m wide is kept: only narrower ones vanish under the inward buffer
    wide = (
        ~shapely.is_empty(shapely.buffer(faces, -(min_width_m / 2.0 - 1e-3)))
        if min_width_m > 0
        else np.ones(len(faces), bool)
    )
    return (shapely.area(faces) >= min_area_m2) & wide


def _blocks(
    lines: np.ndarray, frame: shapely.Polygon, min_area_m2: float, min_width_m: float
) -> tuple[np.ndarray, int]:
    """Faces of ``lines`` inside ``frame``, without slivers, empty holes filled (and how many)."""
    faces = _faces(lines, frame)
    return _fill_empty_holes(faces[_not_sliver(faces, min_area_m2, min_width_m)], frame)


def _on_frame_m(faces: np.ndarray, frame: shapely.Polygon) -> np.ndarray:
    """Length of each face's outer ring that lies on the frame's outline (m)."""
    band = shapely.buffer(shapely.boundary(frame), _ON_FRAME_M)
    return shapely.length(shapely.intersection(shapely.get_exterior_ring(faces), band))


def _outer_remainder(faces: np.ndarray, lines: np.ndarray, frame: shapely.Polygon) -> np.ndarray:
    """True where a face is the outer remainder: closed by the frame, and with a hole or mostly frame."""
    out = np.zeros(len(faces), bool)
    if not len(faces):
        return out
    on_frame = _on_frame_m(faces, frame)
    ring_m = shapely.length(shapely.get_exterior_ring(faces))
    share = on_frame / ring_m
    holed = shapely.get_num_interior_rings(faces) > 0
    suspect = (on_frame > _TOUCH_M) & (holed | (share > FRAME_SHARE_MAX + _TOUCH_M / ring_m))
    if suspect.any():
        out[np.flatnonzero(suspect)] = ~_inside_road_loops(faces[suspect], lines, frame)
    return out


def _inside_road_loops(faces: np.ndarray, lines: np.ndarray, frame: shapely.Polygon) -> np.ndarray:
    """True where a face lies inside a loop of the roads as given (not cut to the frame)."""
    near = lines[shapely.intersects(lines, shapely.buffer(frame, ENCLOSE_REACH_M))]
    loops = shapely.get_parts(shapely.polygonize(shapely.get_parts(shapely.union_all(near))))
    inside = np.zeros(len(faces), bool)
    if len(loops):
        hit, _ = shapely.STRtree(loops).query(shapely.point_on_surface(faces), predicate="within")
        inside[hit] = True
    return inside


def _fill_empty_holes(faces: np.ndarray, frame: shapely.Polygon) -> tuple[np.ndarray, int]:
    """Faces with every hole that holds no other face filled, and how many holes were filled.

    A hole that is part of the frame's own hole (the block being subdivided wraps around another
    unit) is not land of the frame and stays.
    """
    n_holes = shapely.get_num_interior_rings(faces)
    holed = np.flatnonzero(n_holes)
    if not len(holed):
        return faces, 0
    owner = np.repeat(holed, n_holes[holed])
    k = np.concatenate([np.arange(n) for n in n_holes[holed]])
    holes = shapely.polygons(shapely.get_interior_ring(faces[owner], k))
    held, _ = shapely.STRtree(shapely.point_on_surface(faces)).query(holes, predicate="contains")
    fill = np.ones(len(holes), bool)
    fill[held] = False
    fill &= shapely.within(shapely.point_on_surface(holes), frame)
    if not fill.any():
        return faces, 0
    faces = faces.copy()
    for i in np.unique(owner[fill]):  # only the few faces with a hole to fill
        keep = shapely.get_interior_ring(faces[i], k[(owner == i) & ~fill])
        faces[i] = shapely.polygons(shapely.get_exterior_ring(faces[i]), holes=keep)
    return faces, int(fill.sum())


def _grid_split(block: shapely.Polygon, max_area_m2: float, min_area_m2: float) -> list:
    """``block`` cut by a grid aligned with its minimum rotated rectangle into equal-area pieces.

    n = ⌈area / max_area_m2⌉ cells, nx along the rectangle's long side and ny across it so that
    cells are about square (nx ≈ √(n·long/short), ny = ⌈n / nx⌉). The block is first cut into nx
    strips of equal area, each strip into ny pieces of equal area (cut positions found by
    bisection), so every piece is area / (nx·ny) ≤ max_area_m2. A piece in several parts (the grid
    crossing a bend of the block) is kept part by part; parts under ``min_area_m2`` are merged into
    the neighbour they share the longest border with.
    """
    n = math.ceil(shapely.area(block) / max_area_m2)
    xy = shapely.get_coordinates(shapely.minimum_rotated_rectangle(block))[:3]
    edge = np.diff(xy, axis=0)
    length = np.hypot(edge[:, 0], edge[:, 1])
    long = int(np.argmax(length))
    ux = edge[long] / length[long]
    axes = (xy[0], ux, np.array([-ux[1], ux[0]]))
    nx = min(max(round(math.sqrt(n * length[long] / max(length[1 - long], 1e-9))), 1), n)
    ny = math.ceil(n / nx)
    strips = _equal_area_slices(block, nx, 0, axes)
    pieces = np.concatenate([_equal_area_slices(s, ny, 1, axes) for s in strips])
    parts = shapely.get_parts(pieces)
    parts = parts[(shapely.get_type_id(parts) == 3) & (shapely.area(parts) > 0)]
    return _merge_small(list(parts), min_area_m2)


def _equal_area_slices(geom: shapely.Geometry, k: int, axis: int, axes: tuple) -> np.ndarray:
    """``geom`` cut across ``axis`` (0: along u, 1: along v of ``axes``) into ``k`` equal-area slices."""
    if k <= 1:
        return np.array([geom], dtype=object)
    origin, ux, uy = axes
    c = shapely.get_coordinates(geom) - origin
    u, v = c @ ux, c @ uy
    along = (u.min() - 1.0, u.max() + 1.0) if axis == 0 else (v.min() - 1.0, v.max() + 1.0)
    across = (v.min() - 1.0, v.max() + 1.0) if axis == 0 else (u.min() - 1.0, u.max() + 1.0)
    target = shapely.area(geom) * np.arange(1, k) / k
    lo, hi = np.full(k - 1, along[0]), np.full(k - 1, along[1])
    for _ in range(48):  # bisection: the cut positions to 2⁻⁴⁸ of the block's length
        mid = (lo + hi) / 2.0
        got = shapely.area(shapely.intersection(geom, _rects(along[0], mid, across, axis, axes)))
        below = got < target
        lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
    cuts = np.concatenate([[along[0]], (lo + hi) / 2.0, [along[1]]])
    return shapely.intersection(geom, _rects(cuts[:-1], cuts[1:], across, axis, axes))


def _rects(a0, a1, across: tuple[float, float], axis: int, axes: tuple) -> np.ndarray:
    """Rectangles [a0, a1] along ``axis`` × ``across`` in the rotated axes, as world polygons."""
    origin, ux, uy = axes
    a0, a1 = np.broadcast_arrays(np.atleast_1d(a0), np.atleast_1d(a1))
    b0, b1 = np.full(a0.shape, across[0]), np.full(a0.shape, across[1])
    s = np.stack([a0, a1, a1, a0, a0], axis=1)  # along the axis
    t = np.stack([b0, b0, b1, b1, b0], axis=1)  # across it
    u, v = (s, t) if axis == 0 else (t, s)
    return shapely.polygons(origin + u[..., None] * ux + v[..., None] * uy)


def _merge_small(parts: list, min_area_m2: float) -> list:
    """Parts under ``min_area_m2`` merged, smallest first, into the part they share most border with."""
    while len(parts) > 1:
        area = shapely.area(np.array(parts, dtype=object))
        i = int(np.argmin(area))
        if area[i] >= min_area_m2:
            break
        small = parts.pop(i)
        others = np.array(parts, dtype=object)
        shared = shapely.length(
            shapely.intersection(shapely.boundary(small), shapely.buffer(others, _ON_FRAME_M))
        )
        j = (
            int(np.argmax(shared))
            if shared.max() > 0
            else int(np.argmin(shapely.distance(small, others)))
        )
        parts[j] = shapely.union(parts[j], small)
    return parts
