"""Where a study lies: its metric CRS, its bounds, and whether the configured bounds meet the data at all.

The CRS is the config's ``crs:``, else the CGCS2000 3° Gauss–Krüger zone (UTM outside China) of the
units' centre, else of the bounds' or the data's. Bounds that overlap neither the data nor the units
stop the run (and check-config, from the extents the files store) with one line naming both.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely
from pyproj import CRS, Transformer

from ditan.pipelines.config.layer_source import LayerSource
from ditan.pipelines.config.schema import Config
from ditan.spatial.crs.china import SYSTEM_NAMES
from ditan.spatial.crs.metric import choose_metric_crs
from ditan.spatial.errors import ConfigError, LayerError
from ditan.spatial.io.osm import OsmExtract


def study_crs(
    cfg: Config,
    ext: OsmExtract | None,
    units: gpd.GeoDataFrame | None,
    roads: gpd.GeoDataFrame | None,
) -> CRS:
    """The config's CRS, else the metric CRS of the units' centre, else of the bounds' or the data's centre.

    Bounds in the config that overlap neither the data (the OSM file, the roads layer) nor the units stop the run.
    """
    units_deg = _extent_deg(units)
    data: dict[str, tuple | None] = {}
    if (
        ext is not None and cfg.inputs.osm is not None
    ):  # the file header's box, else the extent of what it holds
        data[cfg.inputs.osm.label] = ext.bounds or _union(
            [x for x in map(_extent_deg, (ext.ways, ext.areas, ext.nodes)) if x]
        )
    if roads is not None and cfg.inputs.roads is not None:
        data[f"roads ({cfg.inputs.roads.label})"] = _extent_deg(roads)
    check_bounds_overlap(
        cfg, data, {f"units ({cfg.inputs.units.label})": units_deg} if cfg.inputs.units else {}
    )
    if cfg.crs:
        return CRS.from_user_input(cfg.crs)
    box = (
        units_deg
        or cfg.bounds
        or (cfg.inputs.osm.bounds if cfg.inputs.osm else None)
        or (ext.bounds if ext else None)
    )
    box = box or next(
        (b for b in (_extent_deg(roads), _extent_deg(ext.ways) if ext else None) if b), None
    )
    if box is None:
        raise LayerError(
            "cannot place the study area: no bounds, units or roads with coordinates; set crs: in the config"
        )
    w, s, e, n = box
    return choose_metric_crs((w + e) / 2, (s + n) / 2)


#: bounds within this many degrees (about 1 km) of a layer's extent count as overlapping it (extents of reprojected boxes are approximate)
OVERLAP_TOL_DEG = 0.01


def _extent_deg(layer: gpd.GeoDataFrame | None) -> tuple[float, float, float, float] | None:
    """[west, south, east, north] of a layer in WGS 84 degrees (its bounding box reprojected), None without coordinates."""
    if layer is None or not len(layer) or layer.crs is None:
        return None
    b = layer.total_bounds
    if not np.isfinite(b).all():  # NaN when every geometry is null or empty
        return None
    crs = CRS.from_user_input(layer.crs)
    if crs.equals(CRS.from_epsg(4326), ignore_axis_order=True):
        return tuple(float(x) for x in b)
    t = np.linspace(
        0.0, 1.0, 17
    )  # 17 points along each edge of the box: its edges curve in degrees
    xs = np.concatenate(
        [b[0] + t * (b[2] - b[0]), np.full(17, b[2]), b[2] - t * (b[2] - b[0]), np.full(17, b[0])]
    )
    ys = np.concatenate(
        [np.full(17, b[1]), b[1] + t * (b[3] - b[1]), np.full(17, b[3]), b[3] - t * (b[3] - b[1])]
    )
    lon, lat = Transformer.from_crs(crs, 4326, always_xy=True).transform(xs, ys)
    ok = np.isfinite(lon) & np.isfinite(lat)
    return (
        (float(lon[ok].min()), float(lat[ok].min()), float(lon[ok].max()), float(lat[ok].max()))
        if ok.any()
        else None
    )


def _union(boxes: list[tuple]) -> tuple | None:
    return (
        (
            min(b[0] for b in boxes),
            min(b[1] for b in boxes),
            max(b[2] for b in boxes),
            max(b[3] for b in boxes),
        )
        if boxes
        else None
    )


def check_bounds_overlap(
    cfg: Config, data: dict[str, tuple | None], units: dict[str, tuple | None]
) -> None:
    """Stop when the config's bounds overlap none of the known extents (label → [w, s, e, n] in degrees; None: unknown).

    One line names the bounds and every extent, and the order that would overlap when the bounds read as
    [south, west, north, east] would.
    """
    box = cfg.bounds or (cfg.inputs.osm.bounds if cfg.inputs.osm else None)
    known = {k: v for k, v in {**data, **units}.items() if v is not None}
    if box is None or not known:
        return

    def meets(b: tuple, x: tuple) -> bool:
        t = OVERLAP_TOL_DEG
        return b[0] <= x[2] + t and x[0] <= b[2] + t and b[1] <= x[3] + t and x[1] <= b[3] + t

    if any(meets(box, x) for x in known.values()):
        return
    key = "bounds" if cfg.bounds else "inputs.osm.bounds"

    def fmt(b: tuple) -> str:
        return "[" + ", ".join(f"{v:.4f}" for v in b) + "]"

    where = "; ".join(f"{k} {fmt(x)}" for k, x in known.items())
    w, s, e, n = box
    swapped = (s, w, n, e)
    fix = (
        f"; read as [south, west, north, east] they would overlap: write {fmt(swapped)}"
        if any(meets(swapped, x) for x in known.values())
        else "; check the numbers and their order [west, south, east, north] (WGS 84 degrees), or leave them out"
    )
    have = [
        x
        for x, part in (("the data", data), ("the units", units))
        if any(v is not None for v in part.values())
    ]
    verb = (
        f"overlap neither {' nor '.join(have)}" if len(have) == 2 else f"do not overlap {have[0]}"
    )
    raise ConfigError(f"{key} {fmt(box)} {verb}: {where}{fix}")


def config_extents(cfg: Config) -> tuple[dict[str, tuple | None], dict[str, tuple | None]]:
    """(data, units) extents known without reading the features, for `ditan check-config` (:func:`check_bounds_overlap`).

    The OSM file's header box, and the extent a file layer stores (GeoPackage, Shapefile, GeoParquet metadata);
    None where it is not stored (a .pbf without header bounds, CSV, PostGIS).
    """
    inp = cfg.inputs
    data: dict[str, tuple | None] = {}
    if inp.osm is not None:
        data[inp.osm.label] = _osm_box(inp.osm)
    if inp.roads is not None:
        data[f"roads ({inp.roads.label})"] = _stored_extent(inp.roads)
    return data, (
        {f"units ({inp.units.label})": _stored_extent(inp.units)} if inp.units is not None else {}
    )


def _osm_box(src) -> tuple | None:
    """The OSM data's box without the network: the file header's, the bbox, or a fetched place's (None before its fetch)."""
    if src.bbox is not None:
        return tuple(src.bbox)
    if src.path is None:
        hit = src.cached()
        return tuple(hit.record["bbox_fetched"]) if hit is not None else None
    return _osm_header_box(src.path)


def _osm_header_box(path) -> tuple | None:
    import osmium

    try:
        reader = osmium.io.Reader(str(path), osmium.osm.osm_entity_bits.NOTHING)
        try:
            box = reader.header().box()
        finally:
            reader.close()
    except Exception:  # unreadable: the run says so when it reads the file
        return None
    return (
        (box.bottom_left.lon, box.bottom_left.lat, box.top_right.lon, box.top_right.lat)
        if box.valid()
        else None
    )


def _stored_extent(src: LayerSource) -> tuple | None:
    """A file layer's stored extent in WGS 84 degrees, None when the file does not store one (or cannot say)."""
    if src.path is None or src.path.suffix.lower() == ".csv":
        return None
    try:
        if src.path.suffix.lower() == ".parquet":
            import json

            import pyarrow.parquet as pq

            geo = json.loads((pq.read_schema(src.path).metadata or {}).get(b"geo", b"{}"))
            col = geo.get("columns", {}).get(geo.get("primary_column"), {})
            bbox, crs = (
                col.get("bbox"),
                CRS.from_json_dict(col["crs"]) if col.get("crs") else CRS.from_epsg(4326),
            )
        else:
            import pyogrio

            info = pyogrio.read_info(src.path, layer=src.layer)
            bbox, crs = info.get("total_bounds"), info.get("crs")
        crs = 4326 if src.crs in SYSTEM_NAMES else src.crs or crs
        if (
            bbox is not None and len(bbox) == 6
        ):  # GeoParquet 3D: [minx, miny, minz, maxx, maxy, maxz]
            bbox = [bbox[0], bbox[1], bbox[3], bbox[4]]
        if bbox is None or len(bbox) != 4 or crs is None:
            return None
        return _extent_deg(gpd.GeoDataFrame(geometry=[shapely.box(*bbox[:4])], crs=crs))
    except Exception:  # a file the run itself reads and reports on
        return None


def _bounds(
    cfg: Config,
    ext: OsmExtract | None,
    crs: CRS,
    units: gpd.GeoDataFrame | None,
    roads: gpd.GeoDataFrame,
) -> shapely.Polygon:
    outline = _place_outline(cfg)
    box = (
        cfg.bounds
        or (cfg.inputs.osm.bounds if cfg.inputs.osm else None)
        or (ext.bounds if ext and outline is None else None)
    )
    if box:
        return gpd.GeoSeries([shapely.box(*box)], crs=4326).to_crs(crs).iloc[0]
    if outline is not None:  # a place fetched by name: its outline, not the box fetched around it
        return gpd.GeoSeries([outline], crs=4326).to_crs(crs).iloc[0]
    if units is not None and len(units):
        return shapely.box(*units.to_crs(crs).total_bounds)
    return shapely.box(*roads.total_bounds)


def _place_outline(cfg: Config) -> shapely.Geometry | None:
    """The outline (WGS 84) of inputs.osm.place as Nominatim gave it when it was fetched; None for a file or a bbox."""
    src = cfg.inputs.osm
    hit = src.cached() if src is not None and src.place is not None else None
    return hit.outline if hit is not None else None
