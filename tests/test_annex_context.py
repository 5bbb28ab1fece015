"""Tests of the annex sheets' context (ditan.maps.annex_context): vector context, tile-cache basemap, GCJ-02 refusal.

The vector context is clipped to the sheet and leaves out what the sheet draws itself (the whole-area sheets' roads
and units; building outlines where a printed pixel is coarser than a few metres); a basemap comes from an offline
tile cache (Web Mercator, WGS 84), warped once per extent; GCJ-02 tiles are refused; without a cache (or with
``tile_cache: null``) there is no basemap.

The Beijing sample is computed once for the session (``beijing`` in conftest.py); unit U001 is
drawn, one sheet at a time, at low dpi.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import shapely
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.text import Text
from PIL import Image
from pyproj import Transformer

from ditan.maps import annex, annex_context
from ditan.maps.annex_context import (
    BASEMAP_MISSING,
    CONTEXT_NOTE,
    CONTEXT_NOTE_COARSE,
    TileCache,
    draw_context,
)
from ditan.maps.annex_sheets import SHEETS
from ditan.maps.annex_targets import TARGETS_SHEET
from ditan.pipelines.cli import main
from ditan.pipelines.config.map_options import MapOptions
from ditan.pipelines.config.schema import load_config
from ditan.pipelines.jobs.annex import annex_layers, basemap_entry

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "pipelines" / "configs" / "beijing_haidian.yaml"
UID = "U001"
LOCATION_SHEET, LANDUSE_SHEET, ROADS_SHEET, GREEN_SHEET = 1, 2, 3, 6  # 道路系统图: its own roads
CARBON_SHEET = 8  # 碳排放强度图, like 区位图 a whole-area sheet
ZOOM = 13
COLOURS = [
    (230, 20, 20),
    (20, 20, 230),
    (20, 180, 20),
    (200, 20, 200),
]  # tiles (x0,y0) (x1,y0) (x0,y1) (x1,y1)


@pytest.fixture
def layers(beijing):
    cfg, sa, res = beijing
    return annex_layers(sa, res, cfg, "2025-01-01")


def _by_gid(fig, gid):
    return [a for a in fig.axes[0].get_children() if a.get_gid() == gid]


def _texts(fig) -> str:
    return "\n".join(t.get_text() for t in fig.findobj(Text))


def _ext(fig):
    ax = fig.axes[0]
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    return x0, y0, x1, y1


def _signed_ring_area(xy: np.ndarray) -> float:
    x, y = xy[:, 0], xy[:, 1]
    return 0.5 * float(np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y))


# --- (a) the vector context: drawn, light, clipped to the sheet's extent ---------------------------


def test_context_artists_clipped_to_the_sheet(beijing, layers):
    _, sa, _ = beijing
    fig = annex.sheet_figure(layers, UID, GREEN_SHEET)
    x0, y0, x1, y1 = ext = _ext(fig)
    box = shapely.box(*ext)
    eps = 1e-6

    (roads,) = _by_gid(fig, "context-roads")
    segs = roads.get_segments()
    xy = np.concatenate(segs)
    assert (xy[:, 0] >= x0 - eps).all() and (xy[:, 0] <= x1 + eps).all()
    assert (xy[:, 1] >= y0 - eps).all() and (xy[:, 1] <= y1 + eps).all()
    drawn_m = sum(float(np.hypot(*np.diff(s, axis=0).T).sum()) for s in segs)
    # independent: shapely's exact intersection of every road of the study area with the sheet's rectangle
    expected_m = float(
        shapely.length(shapely.intersection(sa.roads.geometry.to_numpy(), box)).sum()
    )
    assert drawn_m == pytest.approx(expected_m, rel=1e-6)

    (bld,) = _by_gid(fig, "context-buildings")
    path = bld.get_path()
    bxy = path.vertices
    assert (bxy[:, 0] >= x0 - eps).all() and (bxy[:, 0] <= x1 + eps).all()
    starts = np.flatnonzero(path.codes == path.MOVETO)
    rings = np.split(bxy, starts[1:])
    drawn_m2 = sum(
        _signed_ring_area(r) for r in rings
    )  # exteriors counter-clockwise +, holes clockwise −
    expected_m2 = float(
        shapely.area(
            shapely.intersection(shapely.make_valid(sa.buildings.geometry.to_numpy()), box)
        ).sum()
    )
    assert drawn_m2 == pytest.approx(expected_m2, rel=1e-3)

    (units,) = _by_gid(fig, "context-units")  # the neighbours, dashed
    assert units.get_linestyle()[0][1] is not None
    assert all(
        a.get_zorder() < 2 for g in ("context-roads", "context-buildings") for a in _by_gid(fig, g)
    )
    assert CONTEXT_NOTE in _texts(fig)


def test_the_roads_sheet_keeps_its_own_roads(layers):
    fig = annex.sheet_figure(layers, UID, ROADS_SHEET)
    assert not _by_gid(fig, "context-roads") and _by_gid(fig, "context-buildings")


def test_every_sheet_has_its_drawer():
    assert set(annex.DRAWERS) | {TARGETS_SHEET} == {k for k, _ in SHEETS}
    assert len(annex.DRAWERS) == len(SHEETS) - 1


@pytest.mark.parametrize("number", [LOCATION_SHEET, CARBON_SHEET])
def test_whole_area_sheets_leave_roads_and_units_to_the_sheet(layers, number):
    # the sample's whole area, ~2 km wide on ~8 inches at 300 dpi: ~1.3 m a printed pixel, buildings drawn
    assert SHEETS[number - 1][0] not in layers.skipped
    fig = annex.sheet_figure(layers, UID, number)
    assert not _by_gid(fig, "context-roads") and not _by_gid(fig, "context-units")
    assert _by_gid(fig, "context-buildings") and CONTEXT_NOTE in _texts(fig)


@pytest.mark.parametrize(
    ("key", "m_per_px", "buildings", "roads"),
    [
        ("location", 6.0, False, False),  # a city on one page: 6 m a printed pixel
        ("location", 4.0, True, False),
        ("green", 6.0, False, True),
        ("rooftop_pv", 6.0, False, True),  # its own buildings: no outline, no note about them
    ],
)
def test_building_outlines_left_out_at_a_coarse_scale(layers, key, m_per_px, buildings, roads):
    ax = Figure().add_axes((0, 0, 1, 1))
    ext = tuple(layers.units.total_bounds)
    notes = draw_context(ax, layers.context, UID, key, ext, ground_m_per_px=m_per_px)
    gids = {a.get_gid() for a in ax.get_children()}
    assert ("context-buildings" in gids) is buildings and ("context-roads" in gids) is roads
    coarse = not buildings and key != "rooftop_pv"
    assert notes == [CONTEXT_NOTE_COARSE if coarse else CONTEXT_NOTE]
    assert "context-water" in gids and "context-units" in gids  # the neighbours: not a sheet's own


def test_the_whole_area_clip_stays_cached_while_units_come_and_go(layers):
    ctx = layers.context
    whole = tuple(layers.units.total_bounds)
    first = ctx.clipped(whole, ["water"])["water"][0]
    for i in range(2 * annex_context.CACHE_EXTENTS):  # more unit extents than the cache holds
        x0, y0 = whole[0] + 10.0 * (i + 1), whole[1]
        ctx.clipped((x0, y0, x0 + 300.0, y0 + 300.0), ["water"])
        assert ctx.clipped(whole, ["water"])["water"][0] is first  # not clipped again
    assert len(ctx._clipped) == annex_context.CACHE_EXTENTS


# --- (b) a tiny tile cache: the sheet shows the tile's colour where nothing else is drawn ---------


def _tile_xy(lon: float, lat: float, z: int) -> tuple[float, float]:
    """Fractional slippy-map tile coordinates (the OSM wiki formula)."""
    n = 2**z
    lat_r = math.radians(lat)
    return (lon + 180.0) / 360.0 * n, (
        1.0 - math.log(math.tan(lat_r) + 1 / math.cos(lat_r)) / math.pi
    ) / 2.0 * n


def _render(fig, dpi: int = 40) -> np.ndarray:
    fig.set_dpi(dpi)
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].astype(int)


@pytest.mark.filterwarnings(
    "ignore:Glyph .* missing from font"
)  # the text's font does not matter here
def test_tile_cache_basemap_under_the_sheet(beijing, layers, tmp_path):
    _, sa, _ = beijing
    to_ll = Transformer.from_crs(sa.crs, "EPSG:4326", always_xy=True)
    c = sa.units.geometry.loc[UID].centroid
    fx, fy = _tile_xy(*to_ll.transform(c.x, c.y), ZOOM)
    tx0, ty0 = (
        math.floor(fx - 0.5),
        math.floor(fy - 0.5),
    )  # the unit's centre is inside the 2×2 block, ≥ ½ tile in
    colour = {}
    for i, (dx, dy) in enumerate([(0, 0), (1, 0), (0, 1), (1, 1)]):
        d = tmp_path / "tiles" / str(ZOOM) / str(tx0 + dx)
        d.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (256, 256), COLOURS[i]).save(d / f"{ty0 + dy}.png")
        colour[(tx0 + dx, ty0 + dy)] = COLOURS[i]

    plain = annex.sheet_figure(layers, UID, ROADS_SHEET)
    plain.axes[0].set_facecolor("#ff00ff")  # where the sheet draws nothing, magenta shows
    empty = (_render(plain) == (255, 0, 255)).all(axis=2)
    layers.context.tiles = TileCache(tmp_path / "tiles", "osm")
    fig = annex.sheet_figure(layers, UID, ROADS_SHEET)
    img = _render(fig)
    assert _by_gid(fig, "context-basemap") and layers.context.basemap == {UID: {"roads": True}}
    assert BASEMAP_MISSING not in _texts(fig)

    ax = fig.axes[0]
    inv = ax.transData.inverted()
    h = img.shape[0]
    (px0, py0), (px1, py1) = ax.transData.transform(
        [(_ext(fig)[0], _ext(fig)[1]), (_ext(fig)[2], _ext(fig)[3])]
    )
    checked = 0
    for col in np.linspace(px0 + 8, px1 - 8, 25).astype(int):
        for row_disp in np.linspace(py0 + 8, py1 - 8, 25).astype(int):
            r = h - 1 - row_disp
            if not empty[r - 1 : r + 2, col - 1 : col + 2].all():
                continue  # something of the sheet is drawn here
            x, y = inv.transform((col + 0.5, row_disp + 0.5))
            tx, ty = _tile_xy(*to_ll.transform(x, y), ZOOM)
            if min(tx % 1, 1 - tx % 1, ty % 1, 1 - ty % 1) < 0.05:
                continue  # near a tile border the resampling mixes colours
            want = (
                np.array(colour[(math.floor(tx), math.floor(ty))]) * 0.5 + 255 * 0.5
            )  # alpha 0.5 over white
            assert np.abs(img[r, col] - want).max() <= 4, (col, r, img[r, col], want)
            checked += 1
    assert checked >= 20


def test_tiles_missing_leave_the_vector_context_with_a_note(layers, tmp_path):
    (tmp_path / "tiles" / "15").mkdir(parents=True)
    layers.context.tiles = TileCache(tmp_path / "tiles", "osm")
    fig = annex.sheet_figure(layers, UID, GREEN_SHEET)
    assert not _by_gid(fig, "context-basemap") and _by_gid(fig, "context-buildings")
    assert BASEMAP_MISSING in _texts(fig)
    entry = basemap_entry(layers)
    assert entry["sheets_missing_tiles"] == {UID: ["green"]} and entry["sheets_with_basemap"] == {
        UID: []
    }


# --- (c) GCJ-02 tiles are refused at check-config, at their key path ------------------------------


def _config_with(tmp_path: Path, lines: str) -> Path:
    text = CONFIG.read_text(encoding="utf-8").replace("../../data", str(ROOT / "data"))
    text = text.replace("map:\n", f"map:\n{lines}", 1)
    p = tmp_path / "cfg.yaml"
    p.write_text(text, encoding="utf-8")
    return p


@pytest.mark.parametrize("scheme", ["gaode", "gcj02"])
def test_gcj02_tile_cache_is_refused(tmp_path, capsys, monkeypatch, scheme):
    monkeypatch.setenv("COLUMNS", "500")
    (tmp_path / "tiles").mkdir()
    cfg = _config_with(
        tmp_path, f"  tile_cache: {tmp_path / 'tiles'}\n  tile_cache_scheme: {scheme}\n"
    )
    assert main(["check-config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "map.tile_cache_scheme" in err and "GCJ-02" in err and "Traceback" not in err


def test_wgs84_tile_cache_is_accepted(tmp_path, capsys):
    (tmp_path / "tiles").mkdir()
    cfg = _config_with(
        tmp_path, f"  tile_cache: {tmp_path / 'tiles'}\n  tile_cache_scheme: tianditu\n"
    )
    assert main(["check-config", str(cfg)]) == 0, capsys.readouterr().err
    assert load_config(cfg).map.tile_cache == tmp_path / "tiles"


def test_null_tile_cache_is_no_cache(tmp_path, capsys):
    cfg = _config_with(tmp_path, "  tile_cache: null\n")
    assert main(["check-config", str(cfg)]) == 0, capsys.readouterr().err
    assert load_config(cfg).map.tile_cache is None
    assert MapOptions(tile_cache=None).tile_cache is None


def test_configured_tile_cache_reaches_the_sheets_and_annex_json(beijing, tmp_path, monkeypatch):
    _, sa, res = beijing
    (tmp_path / "tiles" / "15").mkdir(parents=True)  # a zoom without the tiles of the sample
    cfg = load_config(
        _config_with(
            tmp_path, f"  tile_cache: {tmp_path / 'tiles'}\n  tile_cache_scheme: tianditu\n"
        )
    )
    layers = annex_layers(sa, res, cfg, "2025-01-01")
    warps = []
    warp = annex_context._warp
    monkeypatch.setattr(annex_context, "_warp", lambda *a: warps.append(a[1]) or warp(*a))
    for number in (LANDUSE_SHEET, GREEN_SHEET):  # one extent: the unit's
        fig = annex.sheet_figure(layers, UID, number)
        assert BASEMAP_MISSING in _texts(fig)
    assert len(warps) == 1  # the tiles are looked up once for the extent the two sheets share
    entry = basemap_entry(layers)
    assert entry["tile_cache"] == str(tmp_path / "tiles") and entry["tile_scheme"] == "tianditu"
    assert entry["sheets_missing_tiles"] == {UID: ["landuse", "green"]}


# --- (d) no cache: no basemap, no note, no error ------------------------------------------------------


def test_without_a_cache_no_basemap(beijing, layers):
    cfg, _, _ = beijing
    assert cfg.map.tile_cache is None and layers.context.tiles is None
    fig = annex.sheet_figure(layers, UID, GREEN_SHEET)
    assert not _by_gid(fig, "context-basemap") and BASEMAP_MISSING not in _texts(fig)
    entry = basemap_entry(layers)
    assert entry["tile_cache"] is None and entry["sheets_with_basemap"] == {}
    assert entry["vector_context"] == ["roads", "water", "buildings", "neighbour_units"]
