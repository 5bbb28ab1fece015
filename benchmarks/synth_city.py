"""A synthetic city at a chosen size, written as the files a planner would hand to ditan.

The city is laid out in a metric CRS (CGCS2000 / 3-degree Gauss–Krüger CM 117E, EPSG:4548)
around a point near Beijing and written in WGS 84, so ditan's loaders project it as they
would real data. Everything is vectorised numpy; one seed gives the same city every time.

Layout, for ``n_nodes`` walk-network nodes (side = √n_nodes):

- **streets**: a jittered grid (±8 m) with column and row spacings drawn from 80–120 m.
  About 4 % of the minor segments are missing (gaps: dead ends and longer detours), and
  3 % of the blocks have a diagonal footway. Streets are ways of up to 8 segments, as OSM
  draws them; every 5th/10th/20th line is tertiary/secondary/primary, the rest residential.
- **buildings**: about one per two nodes, one footprint of 15–45 m a side in half of the
  blocks; 65 % residential (3–33 floors), the rest commercial, office, retail, school or
  hospital (1–20 floors). Every building has a floor count and a height (a tenth have only
  the height, as in Overture).
- **parcels**: one land-use parcel per 2×2 blocks (inset 10 m from the street centre lines),
  coded in 用地用海分类指南 (2023) codes with a realistic mix (0701 housing, 08xx public
  services, 09 commerce, 1001 industry, 1401/1402 green …).
- **facilities**: every life-circle category and community amenity, uniformly placed at
  densities per km² of the order a Chinese city shows (convenience stores 6/km², kindergartens
  1.5/km², hospitals 0.3/km² …).
- **stations**: bus stops every ~400 m along tertiary and larger streets, metro stations
  0.3/km², bike-rental stations 3/km², EV chargers 0.5/km².
- **units**: rectangles of 7–14 × 7–14 blocks (about 0.5–2 km²) tiling the central 47 % of
  each side (``UNIT_CORE_FRACTION``), so about n_nodes / 500 units (≈ 2,000 at 1M nodes). The
  suburbs around them are part of the network, as in a real city. With ``--full``
  (``--core-fraction 1.0``) the units tile the whole city, every block a unit, as a city-wide
  screening has it (≈ 8,800 units at 1M nodes). The core fraction changes the units only: the
  units are drawn last, so every other layer is the same as the partial city's for the seed.
- **land cover**: a 10 m GeoTIFF in EPSG:4548 with ESA WorldCover classes: trees on green
  parcels, built-up elsewhere, with grass and water patches.
- **OSM PBF**: the same streets as OSM nodes and ways (``highway``, ``name``), for timing the
  streaming OSM reader.

Run ``python benchmarks/synth_city.py 100000 benchmarks/data/city_100k`` to write one city, and
``python benchmarks/synth_city.py 100000 benchmarks/data/city_100k_full --full`` for its
full-coverage variant.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer

METRIC_CRS = "EPSG:4548"
CENTRE_LONLAT = (116.40, 39.90)
WAY_SEGMENTS = 8
#: share of each side of the city that the units tile (centred); 1.0 is the full-coverage city
UNIT_CORE_FRACTION = 0.47

#: facilities per km² (life-circle categories and the counted amenities)
FACILITY_DENSITY_PER_KM2 = {
    "convenience_store": 6.0, "kindergarten": 1.5, "community_service": 1.0, "elderly_daycare": 0.8, "playground": 2.0,
    "primary_school": 0.8, "market": 1.0, "health_station": 1.0, "small_park": 1.5,
    "middle_school": 0.4, "hospital": 0.3, "culture_centre": 0.3, "sports_centre": 0.2, "large_park": 0.1, "elderly_home": 0.3,
    "canteen": 0.5, "recycling": 0.5,
}  # fmt: skip
STATION_DENSITY_PER_KM2 = {"metro": 0.3, "bike_rental": 3.0, "ev_charging": 0.5}
BUS_STOP_SPACING_M = 400.0

#: 用地用海分类指南 (2023) codes of the parcels and their shares
PARCEL_CODES = {
    "0701": 0.50, "0801": 0.02, "0802": 0.02, "0803": 0.02, "0804": 0.03, "0805": 0.01, "0806": 0.02, "0702": 0.02,
    "0901": 0.08, "1001": 0.07, "1101": 0.03, "1401": 0.10, "1402": 0.03, "1207": 0.05,
}  # fmt: skip
GREEN_CODES = ("1401", "1402")

RES_TYPES = ("residential", "apartments")
OTHER_TYPES = ("commercial", "office", "retail", "school", "hospital")


@dataclass
class City:
    """The layers of a synthetic city, in METRIC_CRS."""

    streets: gpd.GeoDataFrame
    buildings: gpd.GeoDataFrame
    parcels: gpd.GeoDataFrame
    pois: gpd.GeoDataFrame
    stations: gpd.GeoDataFrame
    units: gpd.GeoDataFrame
    grid_x: np.ndarray  # column coordinates of the unjittered grid
    grid_y: np.ndarray
    node_xy: np.ndarray  # (side, side, 2) jittered street nodes
    parcel_green: np.ndarray  # (side//2, side//2) bool: superblock is green land


def generate(n_nodes: int, seed: int = 7, core_fraction: float = UNIT_CORE_FRACTION) -> City:
    """Lay out a city of about ``n_nodes`` street nodes, units on ``core_fraction`` of each side."""
    if not 0.0 < core_fraction <= 1.0:
        raise ValueError(f"core_fraction must be in (0, 1], got {core_fraction}")
    rng = np.random.default_rng(seed)
    side = max(int(round(math.sqrt(n_nodes))), 20)
    cx, cy = Transformer.from_crs(4326, METRIC_CRS, always_xy=True).transform(*CENTRE_LONLAT)
    gx = np.concatenate([[0.0], np.cumsum(rng.uniform(80, 120, side - 1))])
    gy = np.concatenate([[0.0], np.cumsum(rng.uniform(80, 120, side - 1))])
    gx += cx - gx[-1] / 2
    gy += cy - gy[-1] / 2
    xy = np.empty((side, side, 2))
    xy[..., 0] = gx[None, :] + rng.uniform(-8, 8, (side, side))
    xy[..., 1] = gy[:, None] + rng.uniform(-8, 8, (side, side))
    streets = _streets(rng, side, xy)
    parcels, green = _parcels(rng, side, gx, gy)
    return City(
        streets=streets,
        buildings=_buildings(rng, side, xy),
        parcels=parcels,
        pois=_facilities(rng, gx, gy),
        stations=_stations(rng, side, xy, gx, gy, streets),
        units=_units(rng, side, gx, gy, core_fraction),
        grid_x=gx,
        grid_y=gy,
        node_xy=xy,
        parcel_green=green,
    )


def _line_class(index: np.ndarray) -> np.ndarray:
    cls = np.full(index.shape, "residential", dtype=object)
    cls[index % 5 == 0] = "tertiary"
    cls[index % 10 == 0] = "secondary"
    cls[index % 20 == 0] = "primary"
    return cls


def _streets(rng: np.random.Generator, side: int, xy: np.ndarray) -> gpd.GeoDataFrame:
    node = np.arange(side * side).reshape(side, side)
    flat = xy.reshape(-1, 2)
    frames = []
    for axis, label in ((0, "东西路"), (1, "南北路")):
        # segments along rows (axis 0: west-east) or columns (axis 1: south-north)
        a = node[:, :-1] if axis == 0 else node[:-1, :].T
        b = node[:, 1:] if axis == 0 else node[1:, :].T
        line_no = np.broadcast_to(np.arange(a.shape[0])[:, None], a.shape)
        pos = np.broadcast_to(np.arange(a.shape[1])[None, :], a.shape)
        cls = _line_class(line_no)
        keep = (cls != "residential") | (rng.random(a.shape) >= 0.04)
        # a way starts after a gap and every WAY_SEGMENTS segments
        prev_keep = np.concatenate([np.zeros((a.shape[0], 1), bool), keep[:, :-1]], axis=1)
        start = keep & (~prev_keep | (pos % WAY_SEGMENTS == 0))
        way = np.cumsum(start.ravel()) - 1
        k = keep.ravel()
        sa, sb, sw = a.ravel()[k], b.ravel()[k], way[k]
        last = np.concatenate([sw[1:] != sw[:-1], [True]])
        verts = np.concatenate([sa, sb[last]])
        vway = np.concatenate([sw, sw[last]])
        order = np.argsort(
            vway * 2 + np.concatenate([np.zeros(len(sa), int), np.ones(last.sum(), int)]),
            kind="stable",
        )
        lines = shapely.linestrings(
            flat[verts[order]], indices=np.unique(vway[order], return_inverse=True)[1]
        )
        first = np.flatnonzero(np.concatenate([[True], sw[1:] != sw[:-1]]))
        ln = line_no.ravel()[k][first]
        frames.append(
            pd.DataFrame(
                {
                    "class": _line_class(ln),
                    "name": [f"{label}{i + 1}" for i in ln],
                    "geometry": lines,
                }
            )
        )
    # diagonal footways across 3 % of the blocks
    cells = np.argwhere(rng.random((side - 1, side - 1)) < 0.03)
    i, j = cells[:, 0], cells[:, 1]
    diag = shapely.linestrings(np.stack([xy[i, j], xy[i + 1, j + 1]], axis=1))
    frames.append(pd.DataFrame({"class": "footway", "name": None, "geometry": diag}))
    df = pd.concat(frames, ignore_index=True)
    df.insert(0, "id", [f"s{i}" for i in range(len(df))])
    return gpd.GeoDataFrame(df, geometry="geometry", crs=METRIC_CRS)


def _buildings(rng: np.random.Generator, side: int, xy: np.ndarray) -> gpd.GeoDataFrame:
    cells = np.argwhere(rng.random((side - 1, side - 1)) < 0.5)
    i, j = cells[:, 0], cells[:, 1]
    centre = (xy[i, j] + xy[i + 1, j + 1] + xy[i, j + 1] + xy[i + 1, j]) / 4
    n = len(cells)
    w, h = rng.uniform(15, 45, n), rng.uniform(15, 45, n)
    geom = shapely.box(
        centre[:, 0] - w / 2, centre[:, 1] - h / 2, centre[:, 0] + w / 2, centre[:, 1] + h / 2
    )
    res = rng.random(n) < 0.65
    kind = np.where(
        res,
        np.array(RES_TYPES, dtype=object)[rng.integers(0, 2, n)],
        np.array(OTHER_TYPES, dtype=object)[rng.integers(0, len(OTHER_TYPES), n)],
    )
    floors = np.where(res, rng.integers(3, 34, n), rng.integers(1, 21, n)).astype(float)
    height = np.round(floors * 3.0 + rng.uniform(0, 2, n), 1)
    floors[rng.random(n) < 0.1] = np.nan  # Overture often has only the height
    return gpd.GeoDataFrame(
        {"id": [f"b{k}" for k in range(n)], "class": kind, "num_floors": floors, "height": height},
        geometry=geom,
        crs=METRIC_CRS,
    )


def _parcels(
    rng: np.random.Generator, side: int, gx: np.ndarray, gy: np.ndarray
) -> tuple[gpd.GeoDataFrame, np.ndarray]:
    bx, by = gx[::2], gy[::2]
    ni, nj = len(by) - 1, len(bx) - 1
    codes = np.array(list(PARCEL_CODES), dtype=object)
    p = np.array(list(PARCEL_CODES.values()))
    code = codes[rng.choice(len(codes), size=(ni, nj), p=p / p.sum())]
    ii, jj = np.meshgrid(np.arange(ni), np.arange(nj), indexing="ij")
    ii, jj = ii.ravel(), jj.ravel()
    geom = shapely.box(bx[jj] + 10, by[ii] + 10, bx[jj + 1] - 10, by[ii + 1] - 10)
    green = np.isin(code, GREEN_CODES)
    df = gpd.GeoDataFrame(
        {"id": [f"p{k}" for k in range(len(ii))], "code": code.ravel()},
        geometry=geom,
        crs=METRIC_CRS,
    )
    return df, green


def _random_points(rng: np.random.Generator, n: int, gx: np.ndarray, gy: np.ndarray) -> np.ndarray:
    return shapely.points(rng.uniform(gx[0], gx[-1], n), rng.uniform(gy[0], gy[-1], n))


def _facilities(rng: np.random.Generator, gx: np.ndarray, gy: np.ndarray) -> gpd.GeoDataFrame:
    area_km2 = (gx[-1] - gx[0]) * (gy[-1] - gy[0]) / 1e6
    counts = {
        c: max(int(rng.poisson(d * area_km2)), 1) for c, d in FACILITY_DENSITY_PER_KM2.items()
    }
    cat = np.repeat(np.array(list(counts), dtype=object), list(counts.values()))
    return gpd.GeoDataFrame(
        {"id": [f"f{k}" for k in range(len(cat))], "category": cat},
        geometry=_random_points(rng, len(cat), gx, gy),
        crs=METRIC_CRS,
    )


def _stations(
    rng: np.random.Generator,
    side: int,
    xy: np.ndarray,
    gx: np.ndarray,
    gy: np.ndarray,
    streets: gpd.GeoDataFrame,
) -> gpd.GeoDataFrame:
    main = streets.geometry.to_numpy()[
        streets["class"].isin(["tertiary", "secondary", "primary"]).to_numpy()
    ]
    length = shapely.length(main)
    # stops every BUS_STOP_SPACING_M along each main way, offset by a random phase, 6 m to the side
    per = np.floor(length / BUS_STOP_SPACING_M).astype(int) + (
        rng.random(len(main)) < (length % BUS_STOP_SPACING_M) / BUS_STOP_SPACING_M
    )
    way = np.repeat(np.arange(len(main)), per)
    k = np.arange(len(way)) - np.repeat(np.cumsum(per) - per, per)
    at = (k + rng.random(len(way))) * BUS_STOP_SPACING_M
    at = np.minimum(at, length[way])
    bus = shapely.line_interpolate_point(main[way], at)
    bus = shapely.transform(bus, lambda c: c + rng.uniform(-6, 6, c.shape))
    area_km2 = (gx[-1] - gx[0]) * (gy[-1] - gy[0]) / 1e6
    counts = {k: max(int(rng.poisson(d * area_km2)), 1) for k, d in STATION_DENSITY_PER_KM2.items()}
    kinds = np.concatenate(
        [
            np.full(len(bus), "bus_stop", dtype=object),
            np.repeat(np.array(list(counts), dtype=object), list(counts.values())),
        ]
    )
    pts = np.concatenate([bus, _random_points(rng, sum(counts.values()), gx, gy)])
    return gpd.GeoDataFrame(
        {"id": [f"t{k}" for k in range(len(kinds))], "kind": kinds}, geometry=pts, crs=METRIC_CRS
    )


def _breaks(rng: np.random.Generator, lo: int, hi: int) -> np.ndarray:
    steps = rng.integers(7, 15, (hi - lo) // 7 + 2)
    b = lo + np.concatenate([[0], np.cumsum(steps)])
    return b[b <= hi]


def _units(
    rng: np.random.Generator,
    side: int,
    gx: np.ndarray,
    gy: np.ndarray,
    core_fraction: float = UNIT_CORE_FRACTION,
) -> gpd.GeoDataFrame:
    span = int(side * core_fraction)
    lo = (side - span) // 2
    rows, cols = _breaks(rng, lo, lo + span), _breaks(rng, lo, lo + span)
    # at full coverage a break can fall one past the last grid line (index side): drop it
    # (after drawing, so that the random stream, and with it the city, stays the same)
    rows, cols = rows[rows < side], cols[cols < side]
    if len(rows) < 2 or len(cols) < 2:
        rows = cols = np.array([lo, min(lo + 10, side - 1)])
    ii, jj = np.meshgrid(np.arange(len(rows) - 1), np.arange(len(cols) - 1), indexing="ij")
    ii, jj = ii.ravel(), jj.ravel()
    geom = shapely.box(gx[cols[jj]], gy[rows[ii]], gx[cols[jj + 1]], gy[rows[ii + 1]])
    ids = [f"U{k + 1:05d}" for k in range(len(ii))]
    return gpd.GeoDataFrame(
        {"unit_id": ids, "name": [f"单元{k + 1}" for k in range(len(ii))]},
        geometry=geom,
        crs=METRIC_CRS,
    )


def write_landcover(city: City, path: Path, *, pixel_m: float = 10.0, seed: int = 7) -> None:
    """ESA WorldCover classes at ``pixel_m`` in METRIC_CRS, written row block by row block."""
    import rasterio
    from rasterio.transform import from_origin

    rng = np.random.default_rng(seed + 1)
    gx, gy = city.grid_x, city.grid_y
    x0, y1 = gx[0], gy[-1]
    width, height = int(math.ceil((gx[-1] - x0) / pixel_m)), int(math.ceil((y1 - gy[0]) / pixel_m))
    bx, by = gx[::2], gy[::2]
    green = city.parcel_green
    profile = {
        "driver": "GTiff",
        "width": width,
        "height": height,
        "count": 1,
        "dtype": "uint8",
        "crs": METRIC_CRS,
        "transform": from_origin(x0, y1, pixel_m, pixel_m),
        "nodata": 0,
        "tiled": True,
        "blockxsize": 512,
        "blockysize": 512,
        "compress": "deflate",
    }
    xc = x0 + (np.arange(width) + 0.5) * pixel_m
    col_block = np.clip(np.searchsorted(bx, xc) - 1, 0, green.shape[1] - 1)
    with rasterio.open(path, "w", **profile) as dst:
        step = 512
        for r0 in range(0, height, step):
            r1 = min(r0 + step, height)
            yc = y1 - (np.arange(r0, r1) + 0.5) * pixel_m
            row_block = np.clip(np.searchsorted(by, yc) - 1, 0, green.shape[0] - 1)
            g = green[row_block[:, None], col_block[None, :]]
            noise = rng.random(g.shape)
            out = np.where(
                g,
                np.where(noise < 0.8, 10, 30),
                np.where(noise < 0.12, 30, np.where(noise < 0.13, 80, 50)),
            )
            dst.write(out.astype(np.uint8), 1, window=((r0, r1), (0, width)))


def write_pbf(city: City, path: Path) -> None:
    """The streets as OSM nodes and ways (WGS 84), with highway and name tags."""
    import osmium

    to_wgs = Transformer.from_crs(METRIC_CRS, 4326, always_xy=True)
    parts, idx = shapely.get_coordinates(city.streets.geometry.to_numpy(), return_index=True)
    key = np.round(parts / 0.01).astype(np.int64)
    uniq, inv = np.unique(key, axis=0, return_inverse=True)
    inv = inv.ravel()
    first = np.full(len(uniq), -1)
    first[inv[::-1]] = np.arange(len(inv))[::-1]
    lon, lat = to_wgs.transform(parts[first, 0], parts[first, 1])
    node_ids = np.arange(1, len(uniq) + 1)
    if path.exists():
        path.unlink()
    writer = osmium.SimpleWriter(str(path))
    try:
        for nid, x, y in zip(node_ids.tolist(), lon.tolist(), lat.tolist(), strict=True):
            writer.add_node(osmium.osm.mutable.Node(id=nid, location=(x, y), version=1))
        bounds = np.flatnonzero(np.r_[True, idx[1:] != idx[:-1], True])
        way_nodes = node_ids[inv]
        classes, names = city.streets["class"].to_numpy(), city.streets["name"].to_numpy()
        for w, (s, e) in enumerate(zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True)):
            tags = (
                {"highway": classes[w]}
                if names[w] is None
                else {"highway": classes[w], "name": names[w]}
            )
            writer.add_way(
                osmium.osm.mutable.Way(
                    id=w + 1, nodes=way_nodes[s:e].tolist(), tags=tags, version=1
                )
            )
    finally:
        writer.close()


CONFIG = """# ditan run on a synthetic city of {n_nodes:,} street nodes (benchmarks/synth_city.py, seed {seed},
# units on the central {core_fraction:.0%} of each side)
name: synth_{label}
title: 合成城市 synthetic city {label}
attribution: "synthetic data (benchmarks/synth_city.py)"
inputs:
  units: {{path: units.parquet, id_column: unit_id, name_column: name}}
  roads: {{path: streets.parquet, class_column: class, name_column: name}}
  buildings: {{path: buildings.parquet, type_column: class, floors_column: num_floors, height_column: height}}
  parcels: {{path: parcels.parquet, code_column: code, code_system: gb2023, id_column: id}}
  pois: {{path: pois.parquet, category_column: category}}
  stations: {{path: stations.parquet, kind_column: kind}}
  landcover: {{path: landcover.tif}}
"""


def city_label(n_nodes: int, core_fraction: float = UNIT_CORE_FRACTION) -> str:
    """``100k``, ``1M``; ``100k_full`` for the full-coverage variant, ``100k_core60`` for another fraction."""
    label = f"{n_nodes // 1000}k" if n_nodes < 1_000_000 else f"{n_nodes // 1_000_000}M"
    if core_fraction == 1.0:
        return f"{label}_full"
    if core_fraction != UNIT_CORE_FRACTION:
        return f"{label}_core{round(core_fraction * 100)}"
    return label


def write_city(
    n_nodes: int,
    out: Path,
    *,
    seed: int = 7,
    pbf: bool = True,
    core_fraction: float = UNIT_CORE_FRACTION,
) -> dict:
    """Write every layer of the city into ``out`` (GeoParquet in WGS 84, GeoTIFF, PBF) and a ditan config."""
    out.mkdir(parents=True, exist_ok=True)
    city = generate(n_nodes, seed, core_fraction)
    for name in ("streets", "buildings", "parcels", "pois", "stations", "units"):
        getattr(city, name).to_crs(4326).to_parquet(out / f"{name}.parquet", index=False)
    write_landcover(city, out / "landcover.tif", seed=seed)
    if pbf:
        write_pbf(city, out / "streets.osm.pbf")
    label = city_label(n_nodes, core_fraction)
    (out / "config.yaml").write_text(
        CONFIG.format(n_nodes=n_nodes, seed=seed, label=label, core_fraction=core_fraction),
        encoding="utf-8",
    )
    return {
        "nodes": int(city.node_xy.shape[0] * city.node_xy.shape[1]),
        "core_fraction": core_fraction,
        "streets": len(city.streets),
        "buildings": len(city.buildings),
        "parcels": len(city.parcels),
        "pois": len(city.pois),
        "stations": len(city.stations),
        "units": len(city.units),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("nodes", type=int, help="street nodes, e.g. 10000, 100000, 1000000")
    ap.add_argument("out", type=Path, help="output folder")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--no-pbf", action="store_true", help="skip the OSM PBF")
    cover = ap.add_mutually_exclusive_group()
    cover.add_argument(
        "--core-fraction",
        type=float,
        default=UNIT_CORE_FRACTION,
        help=f"share of each side the units tile, centred (default {UNIT_CORE_FRACTION})",
    )
    cover.add_argument(
        "--full", action="store_true", help="units on the whole city (--core-fraction 1.0)"
    )
    args = ap.parse_args()
    fraction = 1.0 if args.full else args.core_fraction
    if not 0.0 < fraction <= 1.0:
        ap.error(f"--core-fraction must be in (0, 1], got {fraction}")
    print(
        write_city(
            args.nodes, args.out, seed=args.seed, pbf=not args.no_pbf, core_fraction=fraction
        )
    )


if __name__ == "__main__":
    main()
