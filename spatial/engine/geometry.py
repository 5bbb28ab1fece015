"""Unions and overlays that stay fast on a whole city.

``shapely.union_all`` over a city's parcels or buffers builds one polygon with hundreds of
thousands of vertices; every later intersection with it then scans all of them. These helpers
keep results in small pieces instead:

- :func:`overlap_groups` finds the polygons whose interiors overlap (connected components of
  the "interiors intersect" relation), so that work on overlaps is done on those alone;
- :func:`merge_touching` unions only polygons that touch or overlap, group by group;
- :func:`tiled_union` unions polygons tile by tile (a square grid): the result is the same
  area, cut along the tile lines into pieces that do not overlap;
- :func:`union_by_group` unions the polygons of each group (many small groups: pairwise, all
  groups at once, no loop over the groups);
- :func:`partition` cuts overlapping polygons into the faces of their planar partition (land-use
  faces, resolved building footprints), each face knowing the polygons it lies in.
"""

from __future__ import annotations

import numpy as np
import shapely
from scipy import sparse
from scipy.sparse import csgraph

__all__ = ["overlap_groups", "merge_touching", "tiled_union", "union_by_group", "partition"]

#: DE-9IM pattern: the interiors of a and b intersect in an area
INTERIORS_OVERLAP = "2********"


def _components(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    graph = sparse.coo_matrix((np.ones(len(a)), (a, b)), shape=(n, n))
    return csgraph.connected_components(graph, directed=False)[1]


def overlap_groups(geoms: np.ndarray) -> np.ndarray:
    """Group label per polygon; polygons whose interiors overlap (directly or in a chain) share a label.

    A polygon overlapping nothing has a label of its own. Edges that only touch do not overlap.
    """
    geoms = np.asarray(geoms, dtype=object)
    if not len(geoms):
        return np.zeros(0, dtype=np.int64)
    a, b = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    keep = a < b
    a, b = a[keep], b[keep]
    hit = (
        shapely.relate_pattern(geoms[a], geoms[b], INTERIORS_OVERLAP)
        if len(a)
        else np.zeros(0, dtype=bool)
    )
    return _components(len(geoms), a[hit], b[hit])


def merge_touching(geoms: np.ndarray) -> np.ndarray:
    """Polygons that touch or overlap merged into one each (as ``get_parts(union_all(geoms))``, group by group)."""
    geoms = np.asarray(geoms, dtype=object)
    geoms = geoms[~shapely.is_empty(geoms)] if len(geoms) else geoms
    if len(geoms) <= 1:
        return shapely.get_parts(geoms)
    a, b = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    label = _components(len(geoms), a[a < b], b[a < b])
    size = np.bincount(label)
    alone = size[label] == 1
    grouped = np.flatnonzero(~alone)
    unions = _union_by_label(geoms[grouped], label[grouped])
    return np.concatenate([shapely.get_parts(geoms[alone]), shapely.get_parts(unions)])


def tiled_union(geoms: np.ndarray, tile_m: float = 2000.0) -> np.ndarray:
    """The union of ``geoms`` cut into square tiles of ``tile_m``: non-overlapping pieces, one (Multi)Polygon per tile.

    The pieces cover exactly the union's area (up to floating-point noise along the tile lines).
    """
    geoms = np.asarray(geoms, dtype=object)
    geoms = geoms[~shapely.is_empty(geoms)] if len(geoms) else geoms
    if not len(geoms):
        return np.array([], dtype=object)
    x0, y0, x1, y1 = shapely.total_bounds(geoms)
    nx, ny = max(int(np.ceil((x1 - x0) / tile_m)), 1), max(int(np.ceil((y1 - y0) / tile_m)), 1)
    gx, gy = np.meshgrid(np.arange(nx), np.arange(ny), indexing="xy")
    ix, iy = gx.ravel(), gy.ravel()
    tiles = shapely.box(
        x0 + ix * tile_m, y0 + iy * tile_m, x0 + (ix + 1) * tile_m, y0 + (iy + 1) * tile_m
    )
    gi, ti = shapely.STRtree(tiles).query(geoms, predicate="intersects")
    out = _union_by_label(shapely.intersection(geoms[gi], tiles[ti]), ti)
    return out[~shapely.is_empty(out)]


def _union_by_label(geoms: np.ndarray, label: np.ndarray) -> np.ndarray:
    """One union per distinct label, in label order (the loop is over groups or tiles, not features)."""
    if not len(geoms):
        return np.array([], dtype=object)
    order = np.argsort(label, kind="stable")
    bounds = np.flatnonzero(np.r_[True, label[order][1:] != label[order][:-1], True])
    return np.asarray(
        [shapely.union_all(part) for part in np.split(geoms[order], bounds[1:-1])], dtype=object
    )


def union_by_group(geoms: np.ndarray, label: np.ndarray) -> np.ndarray:
    """The union of each group's geometries, one per distinct ``label`` in label order.

    The groups are reduced pairwise, all at once: each round unions the 1st and 2nd, 3rd and 4th … geometry of
    every group in one vectorised call, so a million small groups take log2(largest group) calls. A group of
    one keeps its geometry as it is.
    """
    geoms = np.asarray(geoms, dtype=object)
    label = np.asarray(label)
    if not len(geoms):
        return np.array([], dtype=object)
    order = np.argsort(label, kind="stable")
    geoms, label = geoms[order], label[order]
    while True:
        start = np.flatnonzero(np.r_[True, label[1:] != label[:-1]])
        rank = np.arange(len(label)) - np.repeat(start, np.diff(np.r_[start, len(label)]))
        has_next = np.r_[label[1:] == label[:-1], False]
        first = np.flatnonzero((rank % 2 == 0) & has_next)
        if not len(first):
            return geoms
        geoms[first] = shapely.union(geoms[first], geoms[first + 1])
        keep = np.ones(len(label), dtype=bool)
        keep[first + 1] = False
        geoms, label = geoms[keep], label[keep]


def partition(polys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Planar partition of (overlapping) polygons: (faces, face position, polygon position) per containment.

    The polygons' rings are noded and polygonised into faces of positive area; each pair says that a
    face lies within a polygon. A face inside no polygon (a courtyard, a gap enclosed by polygons)
    has no pair. Callers pick, per face, the polygon whose attributes it takes.
    """
    polys = np.asarray(polys, dtype=object)
    faces = shapely.get_parts(
        shapely.polygonize(shapely.get_parts(shapely.union_all(shapely.boundary(polys))))
    ).ravel()
    faces = faces[shapely.area(faces) > 0]
    fi, pi = shapely.STRtree(polys).query(shapely.point_on_surface(faces), predicate="within")
    return faces, fi, pi
