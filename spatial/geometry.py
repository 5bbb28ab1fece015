"""Unions and overlays that stay fast on a whole city.

``shapely.union_all`` over a city's parcels or buffers builds one polygon with hundreds of
thousands of vertices; every later intersection with it then scans all of them. These helpers
keep results in small pieces instead:

- :func:`overlap_groups` finds the polygons whose interiors overlap (connected components of
  the "interiors intersect" relation), so that work on overlaps is done on those alone;
- :func:`merge_touching` unions only polygons that touch or overlap, group by group;
- :func:`tiled_union` unions polygons tile by tile (a square grid): the result is the same
  area, cut along the tile lines into pieces that do not overlap.
"""

from __future__ import annotations

import numpy as np
import shapely
from scipy import sparse
from scipy.sparse import csgraph

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
    hit = shapely.relate_pattern(geoms[a], geoms[b], INTERIORS_OVERLAP) if len(a) else np.zeros(0, dtype=bool)
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
    out = [shapely.get_parts(geoms[alone])]
    grouped = np.flatnonzero(~alone)
    if len(grouped):
        order = grouped[np.argsort(label[grouped], kind="stable")]
        bounds = np.flatnonzero(np.r_[True, label[order][1:] != label[order][:-1], True])
        # one union per group of touching polygons (groups are few and small next to the polygons)
        unions = [shapely.union_all(order_geoms) for order_geoms in np.split(geoms[order], bounds[1:-1])]
        out.append(shapely.get_parts(np.asarray(unions, dtype=object)))
    return np.concatenate(out)


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
    ix, iy = np.meshgrid(np.arange(nx), np.arange(ny), indexing="xy")
    ix, iy = ix.ravel(), iy.ravel()
    tiles = shapely.box(x0 + ix * tile_m, y0 + iy * tile_m, x0 + (ix + 1) * tile_m, y0 + (iy + 1) * tile_m)
    gi, ti = shapely.STRtree(tiles).query(geoms, predicate="intersects")
    clipped = shapely.intersection(geoms[gi], tiles[ti])
    order = np.argsort(ti, kind="stable")
    ti, clipped = ti[order], clipped[order]
    bounds = np.flatnonzero(np.r_[True, ti[1:] != ti[:-1], True])
    # one union per tile: the loop is over a grid of tiles, not over features
    out = np.asarray([shapely.union_all(part) for part in np.split(clipped, bounds[1:-1])], dtype=object)
    return out[~shapely.is_empty(out)]
