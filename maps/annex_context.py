"""The context beneath every annex sheet: a light basemap from a tile cache and a clean vector context.

Without a tile cache (and always on top of its basemap) the sheet draws a vector context of the study area — roads
(thin grey, width by class), water, building outlines and the neighbouring units' outlines (dashed grey) — so that
a unit does not float on white.

Each layer is clipped once per map extent (an STRtree query, then ``shapely.clip_by_rect`` on the hits; the result
is kept for the unit's other sheets of the same extent, and the whole area's for every unit) and drawn as one
collection (gid ``context-<layer>``), all below the sheets' own symbology (zorder < 2). A sheet leaves out the layers
it draws itself; building outlines are left out where a printed pixel is more than a few metres on the ground (a
whole city on one page).

The basemap (``map.tile_cache``): a folder of XYZ tiles ``{z}/{x}/{y}.png`` in Web Mercator (EPSG:3857), aligned to
WGS 84 (OpenStreetMap, 天地图 ``_w``); GCJ-02 tiles (高德 Gaode) are refused by the config, since the printed sheet
must not shift the data. The zoom is chosen from the sheet's scale (a tile pixel ≈ a printed pixel), falling back
to the nearest zoom the cache holds in full for the extent; the tiles are mosaicked (PIL), warped to the sheet's
metric CRS (rasterio.warp) once per extent and drawn at half opacity. Nothing is ever downloaded.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from matplotlib.collections import LineCollection
from matplotlib.patches import PathPatch
from matplotlib.path import Path as MplPath

from ditan.maps import style as st

__all__ = [
    "AnnexContext",
    "CONTEXT_NOTE",
    "BASEMAP_MISSING",
    "TileCache",
    "draw_context",
    "ideal_zoom",
]

#: the data-source note of a sheet drawn over the vector context
CONTEXT_NOTE = "底图要素：道路、水系、建筑轮廓与相邻单元（研究范围数据，浅色）"
#: the note of a sheet whose scale is too small for building outlines (BUILDINGS_MAX_M_PER_PX)
CONTEXT_NOTE_COARSE = (
    "底图要素：道路、水系与相邻单元（研究范围数据，浅色；此比例尺下建筑轮廓过小，未绘制）"
)
#: the note of a sheet whose extent the tile cache does not cover
BASEMAP_MISSING = "底图缺失 basemap tiles missing"
#: half the Web Mercator world (metres)
MERC_HALF = 20037508.342789244
TILE_PX = 256
ROAD_COLOUR, WATER_FACE, WATER_EDGE = "#bdbdbd", "#d6ecf7", "#a6cfe6"
#: building faces let a basemap show through (60 % opaque)
BUILDING_FACE, BUILDING_EDGE, UNIT_EDGE = (0.957, 0.957, 0.957, 0.6), "#d9d9d9", "#8c8c8c"
#: linewidth (points) of a context road by class (None: not a city road)
ROAD_WIDTH = {cls: 0.25 + 0.12 * float(st.ROAD_STYLE[cls]["weight"]) for cls in st.ROAD_CLASSES}
OTHER_ROAD_WIDTH = 0.2
BASEMAP_ALPHA = 0.5
#: the context layers a sheet leaves out because it draws them itself (sheet key → layers); the
#: whole-area sheets (区位图, 碳排放强度图) draw their own city roads
OWN_LAYERS: dict[str, frozenset[str]] = {
    "location": frozenset({"roads"}),
    "landuse": frozenset({"water"}),
    "roads": frozenset({"roads"}),
    "life_circle": frozenset({"buildings"}),
    "transit": frozenset({"buildings"}),
    "rooftop_pv": frozenset({"buildings"}),
    "carbon": frozenset({"roads"}),
}
#: the coarsest print pixel (ground metres at PRINT_DPI) building outlines are drawn at: beyond it a
#: typical footprint (10–20 m across) is 2–4 printed pixels, which its 0.25 pt (≈ 1 px) outline fills,
#: so the layer prints as grey noise while costing every building of the area (a city: 500k polygons)
BUILDINGS_MAX_M_PER_PX = 5.0
#: the print resolution the basemap zoom is chosen for (the annex PNGs' dpi)
PRINT_DPI = 300
#: the largest mosaic (tiles) drawn for one sheet; a finer zoom needing more is not used
MAX_TILES = 144


def ideal_zoom(ground_m_per_px: float, lat: float) -> int:
    """The zoom whose tile pixel is closest to ``ground_m_per_px`` at latitude ``lat`` (0 … 19)."""
    at_equator = 2 * MERC_HALF / TILE_PX * math.cos(math.radians(lat))
    return int(min(max(round(math.log2(at_equator / max(ground_m_per_px, 1e-6))), 0), 19))


@dataclass
class TileCache:
    """An offline folder of XYZ tiles ``{z}/{x}/{y}.png`` (Web Mercator, WGS 84-aligned)."""

    root: Path
    scheme: str = "osm"

    def zooms(self) -> list[int]:
        return (
            sorted(int(p.name) for p in self.root.iterdir() if p.is_dir() and p.name.isdigit())
            if self.root.is_dir()
            else []
        )

    def tile(self, z: int, x: int, y: int) -> Path | None:
        for ext in ("png", "jpg", "jpeg", "webp"):
            p = self.root / str(z) / str(x) / f"{y}.{ext}"
            if p.is_file():
                return p
        return None

    def mosaic(self, merc: Sequence[float], z: int) -> tuple[np.ndarray, tuple] | None:
        """RGB mosaic of the tiles covering ``merc`` (EPSG:3857 bounds) at ``z`` and its 3857 bounds; None if any is missing."""
        from PIL import Image

        n, size = 2**z, 2 * MERC_HALF / 2**z
        x0 = int(math.floor((merc[0] + MERC_HALF) / size))
        x1 = int(math.floor((merc[2] + MERC_HALF) / size))
        y0 = int(math.floor((MERC_HALF - merc[3]) / size))
        y1 = int(math.floor((MERC_HALF - merc[1]) / size))
        x0, y0, x1, y1 = (min(max(v, 0), n - 1) for v in (x0, y0, x1, y1))
        if (x1 - x0 + 1) * (y1 - y0 + 1) > MAX_TILES:
            return None
        want = {(x, y): self.tile(z, x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)}
        paths = {k: p for k, p in want.items() if p is not None}
        if len(paths) < len(want):
            return None
        img = Image.new("RGB", ((x1 - x0 + 1) * TILE_PX, (y1 - y0 + 1) * TILE_PX), "white")
        for (x, y), p in paths.items():
            with Image.open(p) as t:
                img.paste(
                    t.convert("RGB").resize((TILE_PX, TILE_PX)),
                    ((x - x0) * TILE_PX, (y - y0) * TILE_PX),
                )
        left, top = -MERC_HALF + x0 * size, MERC_HALF - y0 * size
        return np.asarray(img), (left, top - (y1 - y0 + 1) * size, left + (x1 - x0 + 1) * size, top)


@dataclass
class _Layer:
    geoms: np.ndarray
    tree: shapely.STRtree
    values: np.ndarray | None = None  # per geometry (road class, unit id)


def _layer(geoms: np.ndarray, values: np.ndarray | None = None) -> _Layer:
    ok = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    g = geoms[ok]
    return _Layer(g, shapely.STRtree(g), None if values is None else values[ok])


#: the context layers, as clipped per extent ("units": the units' outlines, drawn for the neighbours)
LAYERS = ("roads", "water", "buildings", "units")
#: the extents whose clipped layers and basemap are kept (a unit's own and the whole area, and spare)
CACHE_EXTENTS = 5


def _ext_key(ext: Sequence[float]) -> tuple[float, ...]:
    return tuple(round(float(v), 3) for v in ext)


def _cached(cache: dict, key: tuple, make: Callable[[], object]):
    """``cache[key]``, made on a miss; the least recently used entry goes beyond CACHE_EXTENTS."""
    if key in cache:
        cache[key] = cache.pop(key)  # now the most recently used
    else:
        if len(cache) >= CACHE_EXTENTS:
            cache.pop(next(iter(cache)))
        cache[key] = make()
    return cache[key]


@dataclass
class AnnexContext:
    """The context layers of a study area, indexed once; clipped per extent (cached) and drawn per sheet."""

    roads: _Layer
    water: _Layer
    buildings: _Layer
    #: the units' outlines (boundaries), valued by unit id
    units: _Layer
    crs: object
    tiles: TileCache | None = None
    #: unit id → sheet key → True (basemap drawn) / False (tiles missing); filled while drawing
    basemap: dict[str, dict[str, bool]] = field(default_factory=dict)
    #: extent → layer → (clipped geometries, their values); least recently used first
    _clipped: dict[tuple, dict[str, tuple[np.ndarray, np.ndarray | None]]] = field(
        default_factory=dict
    )
    #: (extent, print pixel, tile folder) → the basemap warped to the extent (None: tiles missing)
    _warped: dict[tuple, np.ndarray | None] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        *,
        roads: gpd.GeoDataFrame,
        landuse: gpd.GeoDataFrame,
        buildings: gpd.GeoDataFrame,
        units: gpd.GeoDataFrame,
        crs: object,
        tiles: TileCache | None = None,
    ) -> AnnexContext:
        """``roads`` with road_class, ``landuse`` faces with lu_class (the water class is drawn), ``buildings``."""
        water = landuse[landuse["lu_class"] == "water"] if len(landuse) else landuse
        return cls(
            roads=_layer(roads.geometry.to_numpy(), roads["road_class"].to_numpy(dtype=object)),
            water=_layer(water.geometry.to_numpy()),
            buildings=_layer(buildings.geometry.to_numpy()),
            units=_layer(shapely.boundary(units.geometry.to_numpy()), units.index.to_numpy(object)),
            crs=crs,
            tiles=tiles,
        )

    def clipped(
        self, ext: Sequence[float], names: Sequence[str] = LAYERS
    ) -> dict[str, tuple[np.ndarray, np.ndarray | None]]:
        """The layers ``names`` (of :data:`LAYERS`) clipped to the rectangle ``ext``, and their values.

        Each is computed once per extent, when first asked for.
        """
        got = _cached(self._clipped, _ext_key(ext), dict)
        for name in names:
            if name not in got:
                lay: _Layer = getattr(self, name)
                idx = lay.tree.query(shapely.box(*ext), predicate="intersects")
                if name == "units":  # neighbours share edges: drawn in the units' order
                    idx = np.sort(idx)
                g = shapely.clip_by_rect(lay.geoms[idx], *ext)
                keep = ~shapely.is_empty(g)
                got[name] = (g[keep], None if lay.values is None else lay.values[idx][keep])
        return {name: got[name] for name in names}


def _line_segments(geoms: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """The vertex arrays of every line part of ``geoms`` and the index of the geometry each comes from."""
    parts, src = shapely.get_parts(geoms, return_index=True)
    lines = np.isin(
        shapely.get_type_id(parts),
        (shapely.GeometryType.LINESTRING, shapely.GeometryType.LINEARRING),
    )
    parts, src = parts[lines], src[lines]
    if not len(parts):
        return [], src
    xy, which = shapely.get_coordinates(parts, return_index=True)
    cuts = np.flatnonzero(np.diff(which)) + 1
    return np.split(xy, cuts), src


def _polygon_path(geoms: np.ndarray) -> MplPath | None:
    """One compound path of every polygon of ``geoms`` (exteriors counter-clockwise, holes clockwise)."""
    parts = shapely.get_parts(geoms)
    parts = parts[shapely.get_type_id(parts) == shapely.GeometryType.POLYGON]
    if not len(parts):
        return None
    parts = shapely.orient_polygons(parts)
    rings = shapely.get_rings(parts)
    xy, which = shapely.get_coordinates(rings, return_index=True)
    codes = np.full(len(xy), MplPath.LINETO, dtype=np.uint8)
    first = np.r_[0, np.flatnonzero(np.diff(which)) + 1]
    codes[first] = MplPath.MOVETO
    codes[np.r_[first[1:] - 1, len(xy) - 1]] = MplPath.CLOSEPOLY
    return MplPath(xy, codes)


def _warp(ctx: AnnexContext, ext: Sequence[float], dpi_px_m: float) -> np.ndarray | None:
    """The tile cache's basemap warped to ``ext`` (RGB, rows × columns × 3); None if not covered."""
    import rasterio.transform
    import rasterio.warp
    from rasterio.enums import Resampling

    assert ctx.tiles is not None
    merc = rasterio.warp.transform_bounds(ctx.crs, "EPSG:3857", *ext, densify_pts=21)
    lon0, lat0, lon1, lat1 = rasterio.warp.transform_bounds(
        ctx.crs, "EPSG:4326", *ext, densify_pts=21
    )
    want = ideal_zoom(dpi_px_m, (lat0 + lat1) / 2)
    have = ctx.tiles.zooms()
    for z in sorted(have, key=lambda z: (abs(z - want), -z)):
        got = ctx.tiles.mosaic(merc, z)
        if got is None:
            continue
        rgb, (left, b, r, t) = got
        h, w = rgb.shape[:2]
        src_tr = rasterio.transform.from_bounds(left, b, r, t, w, h)
        res = max((r - left) / w * math.cos(math.radians((lat0 + lat1) / 2)), dpi_px_m)
        dw = max(int(math.ceil((ext[2] - ext[0]) / res)), 1)
        dh = max(int(math.ceil((ext[3] - ext[1]) / res)), 1)
        dst_tr = rasterio.transform.from_bounds(*ext, dw, dh)
        out = np.full((3, dh, dw), 255, dtype=np.uint8)
        rasterio.warp.reproject(
            np.moveaxis(rgb, 2, 0).copy(),
            out,
            src_transform=src_tr,
            src_crs="EPSG:3857",
            dst_transform=dst_tr,
            dst_crs=ctx.crs,
            resampling=Resampling.bilinear,
        )
        return np.moveaxis(out, 0, 2)
    return None


def _basemap(ax, ctx: AnnexContext, ext: Sequence[float], dpi_px_m: float) -> bool:
    """Draw the tile cache's basemap over ``ext`` (warped once per extent); False if not covered."""
    assert ctx.tiles is not None
    key = (_ext_key(ext), round(float(dpi_px_m), 6), str(ctx.tiles.root))
    img = _cached(ctx._warped, key, lambda: _warp(ctx, ext, dpi_px_m))
    if img is None:
        return False
    ax.imshow(
        img,
        extent=(ext[0], ext[2], ext[1], ext[3]),
        origin="upper",
        alpha=BASEMAP_ALPHA,
        interpolation="bilinear",
        zorder=0.1,
        gid="context-basemap",
    )
    return True


#: the polygon layers of the context and how they are drawn (one PathPatch each)
POLYGON_STYLE = {
    "water": {"facecolor": WATER_FACE, "edgecolor": WATER_EDGE, "linewidth": 0.3, "zorder": 0.6},
    "buildings": {
        "facecolor": BUILDING_FACE,
        "edgecolor": BUILDING_EDGE,
        "linewidth": 0.25,
        "zorder": 0.8,
    },
}


def draw_context(
    ax,
    ctx: AnnexContext,
    uid: str,
    key: str,
    ext: Sequence[float],
    *,
    ground_m_per_px: float,
    neighbours: bool = True,
) -> list[str]:
    """Draw the basemap (with a tile cache) and the vector context of sheet ``key`` of ``uid``; returns its notes.

    The layers the sheet draws itself (:data:`OWN_LAYERS`) are left out, and the building outlines
    on a sheet whose print pixel is coarser than :data:`BUILDINGS_MAX_M_PER_PX` (the note says so);
    ``neighbours``: False on a sheet that draws every unit.
    """
    own = OWN_LAYERS.get(key, frozenset())
    coarse = "buildings" not in own and ground_m_per_px > BUILDINGS_MAX_M_PER_PX
    left_out = own | ({"buildings"} if coarse else set()) | (set() if neighbours else {"units"})
    notes = [CONTEXT_NOTE_COARSE if coarse else CONTEXT_NOTE]
    if ctx.tiles is not None:
        drawn = _basemap(ax, ctx, ext, ground_m_per_px)
        ctx.basemap.setdefault(uid, {})[key] = drawn
        notes.append(
            f"底图：离线瓦片 {ctx.tiles.scheme}（Web Mercator，WGS 84 对齐），浅色显示"
            if drawn
            else BASEMAP_MISSING
        )
    c = ctx.clipped(ext, [name for name in LAYERS if name not in left_out])
    for name, style in POLYGON_STYLE.items():
        if name in c and (path := _polygon_path(c[name][0])) is not None:
            ax.add_patch(PathPatch(path, gid=f"context-{name}", **style))
    if "roads" in c:
        g, cls = c["roads"]
        segs, src = _line_segments(g)
        if segs:
            per_road = pd.Series(cls, dtype=object).map(ROAD_WIDTH).fillna(OTHER_ROAD_WIDTH)
            width = per_road.to_numpy(dtype=float)[src]
            ax.add_collection(
                LineCollection(
                    segs, colors=ROAD_COLOUR, linewidths=width, zorder=1.0, gid="context-roads"
                ),
                autolim=False,
            )
    if "units" in c:
        g, ids = c["units"]
        segs, _ = _line_segments(g[ids != uid])
        if segs:
            ax.add_collection(
                LineCollection(
                    segs,
                    colors=UNIT_EDGE,
                    linewidths=0.5,
                    linestyles=(0, (4, 3)),
                    zorder=11,
                    gid="context-units",
                ),
                autolim=False,
            )
    return notes
