"""Indicator families as functions on GeoDataFrames and street graphs: one row per unit.

Each function takes the units (polygons) first and the layers it measures, options keyword-only,
and returns a :class:`pandas.DataFrame` indexed like the units, with the columns of
``indicators.csv``
(names and units in ``spatial/standards/indicators.yaml``). The rules are the pipeline's: these are
thin wrappers of :mod:`ditan.spatial.indicators` and :mod:`ditan.spatial.engine`.

- **Coordinates.** Everything is measured in metres. Units in degrees (EPSG:4326, an osmnx graph
  as downloaded) are projected to the CRS ditan would choose for them — the CGCS2000 3° Gauss–Krüger
  zone of their centre in China, UTM elsewhere — and the other layers to the units' CRS; a warning
  says so. The table's ``attrs['crs']`` names the CRS measured in.
- **Street networks.** Where a network is needed, pass a networkx / osmnx graph (nodes with
  ``x``/``y``, edges with ``geometry`` or straight between their nodes, ``graph.graph['crs']`` set)
  or a GeoDataFrame of lines. An edge's ``highway`` list (osmnx keeps the values of merged ways)
  counts as its most important road class; the two directions of a two-way street count once.
- **No silent zero.** A facility category or station kind with no feature in the input is a data
  gap: its columns are NaN (not 0) and ``attrs['data_gaps']`` names it; pass ``confirmed_absent``
  to measure it as 0. ``attrs['notes']`` lists what was repaired, dropped or assumed.

Examples
--------
A 200 m × 100 m unit with a 100 m street grid (coordinates in metres): 2 × 200 m + 3 × 100 m of
streets on 0.02 km²:

>>> import geopandas as gpd, shapely
>>> from ditan import indicators
>>> units = gpd.GeoDataFrame({"name": ["A"]}, geometry=[shapely.box(0, 0, 200, 100)],
...                          crs="EPSG:4548")
>>> roads = gpd.GeoDataFrame(
...     {"highway": ["residential"] * 5},
...     geometry=[shapely.LineString(c) for c in [[(0, 0), (200, 0)], [(0, 100), (200, 100)],
...               [(0, 0), (0, 100)], [(100, 0), (100, 100)], [(200, 0), (200, 100)]]],
...     crs="EPSG:4548")
>>> indicators.road_density(units, roads)[["road_length_km", "road_density_km_per_km2"]].round(2)
   road_length_km  road_density_km_per_km2
0             0.7                     35.0

"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import geopandas as gpd
import pandas as pd

from ditan._inputs import (
    Context,
    floors,
    graph_edges,
    layer,
    metric_units,
    polygons,
    street_lines,
)
from ditan._walking import life_circle, transit_proximity
from ditan.pipelines.config.params import ROAD_INCLUDE, WALK_EXCLUDE  # the config's defaults
from ditan.spatial.errors import ConfigError, LayerError
from ditan.spatial.indicators import green as _green
from ditan.spatial.indicators import intensity as _intensity
from ditan.spatial.indicators import landuse as _landuse
from ditan.spatial.indicators import roads as _roads
from ditan.spatial.io.validate import LayerRecord
from ditan.spatial.standards.road_classes import classify_layer, resolve_include

__all__ = [
    "road_density",
    "intersection_density",
    "intensity",
    "landuse_shares",
    "green_coverage",
    "life_circle",
    "transit_proximity",
    "graph_edges",
    "ROAD_INCLUDE",
    "WALK_EXCLUDE",
]

Network = Any  # a networkx graph (osmnx MultiDiGraph) or a GeoDataFrame of street lines


def _city_roads(
    ctx: Context, roads: Network, class_column: str, include: Sequence[str]
) -> tuple[gpd.GeoDataFrame, tuple]:
    """Road lines with an OSM ``highway`` from ``class_column`` (Chinese too), and ``include``."""
    lines = street_lines(ctx, roads, "roads")
    if class_column not in lines:
        raise LayerError(
            f"layer 'roads' has no column '{class_column}' (class_column): name the column of road "
            "classes (OSM highway values, or 快速路, 主干路, 次干路, 支路 …)"
        )
    try:
        inc = tuple(resolve_include(list(include)))
    except ValueError as exc:  # an unknown class, with a did-you-mean
        raise ConfigError(f"include: {exc}") from None
    rec = LayerRecord("roads")
    hw = classify_layer(
        lines[class_column],
        lines.geometry.length.to_numpy(),
        rec=rec,
        label="roads",
        column=class_column,
    )
    for text, n in rec.flagged.items():
        ctx.note(f"roads: {n} × {text}")
    return lines.assign(highway=hw), inc


def road_density(
    units: gpd.GeoDataFrame,
    roads: Network,
    *,
    class_column: str = "highway",
    include: Sequence[str] = ROAD_INCLUDE,
    divided: bool = True,
    max_gap_m: float = 40.0,
) -> pd.DataFrame:
    """Road network density (路网密度) per unit, by Chinese road class.

    Parameters
    ----------
    units : GeoDataFrame
        Unit polygons.
    roads : GeoDataFrame of lines, or networkx / osmnx graph
        Road centre lines or carriageways with a class column.
    class_column : str
        Column of road classes: OSM highway values, or the Chinese and English classes of
        ``spatial/standards/road_classes.yaml`` (主干路, Arterial …). A graph's edges: ``highway``.
    include : sequence of str
        Classes counted as city roads (default: motorway … living_street, with their links).
    divided : bool
        Count the two carriageways of a divided road as one centre line (half each).
    max_gap_m : float
        Carriageways of one road lie at most this far apart.

    Returns
    -------
    DataFrame
        ``road_length_km``, ``road_length_naive_km`` (every carriageway counted),
        ``road_density_km_per_km2`` and ``road_density_<class>_km_per_km2`` for expressway,
        arterial, collector and local. A road on a boundary shared by k units counts 1/k to each.

    """
    units, ctx = metric_units(units)
    lines, inc = _city_roads(ctx, roads, class_column, include)
    return ctx.finish(
        _roads.road_density(units, lines, include=inc, divided=divided, max_gap_m=max_gap_m)
    )


def intersection_density(
    units: gpd.GeoDataFrame,
    roads: Network,
    *,
    class_column: str = "highway",
    include: Sequence[str] = ROAD_INCLUDE,
    junction_tolerance_m: float = 15.0,
) -> pd.DataFrame:
    """Intersection density (交叉口密度): junctions of ≥ 3 city-road segments per km².

    Parameters
    ----------
    units : GeoDataFrame
        Unit polygons.
    roads : GeoDataFrame of lines, or networkx / osmnx graph
        Road lines; junctions are shared vertices (an osmnx graph's nodes).
    class_column, include
        As in :func:`road_density`.
    junction_tolerance_m : float
        Junction nodes closer than twice this are one junction (osmnx
        ``consolidate_intersections``); 0: off.

    Returns
    -------
    DataFrame
        ``intersection_count``, ``intersection_count_raw`` (nodes, unconsolidated) and
        ``intersection_density_per_km2``.

    """
    units, ctx = metric_units(units)
    lines, inc = _city_roads(ctx, roads, class_column, include)
    return ctx.finish(
        _roads.intersection_density(
            units, lines, include=inc, junction_tolerance_m=junction_tolerance_m
        )
    )


def intensity(
    units: gpd.GeoDataFrame,
    buildings: gpd.GeoDataFrame,
    *,
    storey_height_m: float = 3.0,
    default_floors: dict[str, float] | None = None,
) -> pd.DataFrame:
    """Floor-area ratio (容积率) and building density (建筑密度) per unit.

    Parameters
    ----------
    units : GeoDataFrame
        Unit polygons.
    buildings : GeoDataFrame
        Footprint polygons. Floors from a ``floors`` column when there is one, else from
        ``building:levels``, else ``height`` ÷ ``storey_height_m``, else the default of the
        ``building``
        type (``default_floors`` overrides ditan's table; key ``_other`` for the rest).
    storey_height_m : float
        Height of one storey, for floors from a height.
    default_floors : dict, optional
        Floors by building type when neither levels nor height is known.

    Returns
    -------
    DataFrame
        ``footprint_area_m2``, ``footprint_overlap_m2``, ``floor_area_m2``, ``far_ratio``,
        ``building_density_pct``, ``floor_area_estimated_pct``, ``floor_area_default_floors_pct``.
        Overlapping footprints count once, with the floors of the tallest.

    """
    units, ctx = metric_units(units)
    b = polygons(layer(ctx, buildings, "buildings"), "buildings").reset_index(drop=True)
    b = floors(b, storey_height_m=storey_height_m, default_floors=default_floors)
    return ctx.finish(_intensity.intensity(units, b))


def landuse_shares(
    units: gpd.GeoDataFrame,
    parcels: gpd.GeoDataFrame,
    *,
    code_column: str | None = None,
    code_system: str = "internal",
) -> pd.DataFrame:
    """Land-use shares (用地构成) and the indicators on them: 绿地率, 公共服务用地比例, mix.

    Parameters
    ----------
    units : GeoDataFrame
        Unit polygons.
    parcels : GeoDataFrame
        Land-use polygons. Where they overlap, the smallest polygon's class wins.
    code_column : str, optional
        Column of land-use codes in ``code_system`` (``R2``, ``0701``, 二类居住用地 …). Default: the
        internal class column ``lu_class``.
    code_system : {'internal', 'gb50137', 'gb2023', 'osm', 'overture'}
        Code system of ``code_column`` (or the one ``lu_class`` was classified from): OSM and
        Overture cannot tell community-service land apart.

    Returns
    -------
    DataFrame
        ``lu_<class>_pct`` (13 classes), ``lu_unknown_pct`` (a code of no class: unknown, NULL or
        empty), ``lu_no_data_pct`` (no polygon),
        ``public_service_pct``, ``public_service_incl_community_pct`` (NaN where the code system
        cannot tell community-service land apart), ``industrial_residential_ratio``,
        ``green_space_ratio_pct``, ``lu_mix_entropy``, ``lu_mix_index``.

    """
    from ditan.spatial.landuse.codes import classify_codes

    units, ctx = metric_units(units)
    p = polygons(layer(ctx, parcels, "parcels"), "parcels").reset_index(drop=True)
    column = code_column or "lu_class"
    if column not in p:
        raise LayerError(
            f"layer 'parcels' has no column '{column}': name the column of land-use codes with "
            "code_column=… and its code_system (gb50137, gb2023, osm, overture)"
        )
    system = code_system
    codes = classify_codes(p[column], "internal" if code_column is None else system)
    unknown = codes["how"].isin(["unknown", "empty"]).to_numpy()
    if unknown.any():
        raw = p.loc[unknown, column].astype(object)
        found = raw.where(raw.notna(), "NULL").astype(str).value_counts().sort_index()
        ctx.note(
            f"parcels: codes of no {system} class counted as land without a class "
            "(lu_unknown_pct): " + ", ".join(f"'{v}' ({n})" for v, n in found.items())
        )
    cls = pd.Series(codes["lu_class"].to_numpy(dtype=object)).where(
        ~unknown, _landuse.UNKNOWN_CLASS
    )
    out = _landuse.landuse_shares(
        units, _landuse.landuse_faces(p.assign(lu_class=cls)), code_system=system
    )
    return ctx.finish(out)


def green_coverage(
    units: gpd.GeoDataFrame,
    vegetation: gpd.GeoDataFrame | None = None,
    *,
    raster: str | os.PathLike | None = None,
    green_land: gpd.GeoDataFrame | None = None,
    vegetation_classes: Sequence[int] | None = _green.WORLDCOVER_VEGETATION,
    impervious_classes: Sequence[int] | None = _green.WORLDCOVER_IMPERVIOUS,
    ndvi_threshold: float | None = None,
    nodata: float | None = None,
) -> pd.DataFrame:
    """Green coverage (绿化覆盖率) and, from a class raster, the permeable share (可渗透面积占比).

    Parameters
    ----------
    units : GeoDataFrame
        Unit polygons.
    vegetation : GeoDataFrame, optional
        Vegetation polygons (overlaps counted once). Give this or ``raster``.
    raster : path, optional
        A land-cover raster (any CRS; exact pixel fractions, never resampled): classes
        ``vegetation_classes`` / ``impervious_classes`` (ESA WorldCover by default), or an NDVI
        raster with ``ndvi_threshold``.
    green_land : GeoDataFrame, optional
        Green land of the green-space ratio, added to ``vegetation`` (so 绿化覆盖率 ≥ 绿地率).
    vegetation_classes, impervious_classes, ndvi_threshold, nodata
        How to read ``raster``.

    Returns
    -------
    DataFrame
        ``green_coverage_pct``, ``green_coverage_source``, ``permeable_surface_pct`` (NaN without a
        class raster), ``raster_nodata_pct``.

    """
    if (vegetation is None) == (raster is None):
        raise ConfigError(
            "green_coverage needs exactly one of vegetation= (polygons) or raster= (a land-cover "
            "raster)"
        )
    units, ctx = metric_units(units)
    if raster is not None:
        out = _green.green_coverage_from_raster(
            units,
            raster,
            vegetation_classes=vegetation_classes,
            impervious_classes=impervious_classes,
            ndvi_threshold=ndvi_threshold,
            nodata=nodata,
        )
        return ctx.finish(out)
    veg = layer(ctx, vegetation, "vegetation")
    extra = None if green_land is None else layer(ctx, green_land, "green land")
    return ctx.finish(_green.green_coverage_from_polygons(units, veg, extra))
