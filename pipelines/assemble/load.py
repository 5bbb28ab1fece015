"""Load every input of a config into one StudyArea in one metric CRS, counting every feature."""

from __future__ import annotations

import logging

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from ditan.pipelines.assemble.absent import absent_layers
from ditan.pipelines.assemble.buildings import _buildings
from ditan.pipelines.assemble.crop import _crop, reach_m
from ditan.pipelines.assemble.parcels import _landuse
from ditan.pipelines.assemble.place import _bounds, study_crs
from ditan.pipelines.assemble.reading import _read, add_note
from ditan.pipelines.assemble.roads import _roads
from ditan.pipelines.assemble.units import (
    DERIVED_UNITS_LAYER,
    _units,
    make_units,
    note_study_bounds,
)
from ditan.pipelines.config.layer_source import LayerSource
from ditan.pipelines.config.params import params_from_config
from ditan.pipelines.config.schema import Config
from ditan.spatial.errors import LayerError
from ditan.spatial.io.inert import clean_text_columns
from ditan.spatial.io.osm import OsmExtract, read_osm
from ditan.spatial.io.validate import Ledger, require_unique_ids
from ditan.spatial.standards.catalogue import load_catalogue
from ditan.spatial.study_area import osm_layers
from ditan.spatial.study_area.contract import validate_study_area
from ditan.spatial.study_area.model import RasterInput, StudyArea

log = logging.getLogger(__name__)


def load_study_area(
    cfg: Config, *, derive_missing_units: bool = True, crop_to_units: bool = True
) -> StudyArea:
    """Every layer of the config in one metric CRS, with the ledger of what was read, repaired and dropped.

    With given units and ``crop_to_units``, features farther from every unit than any indicator can
    reach (:func:`reach_m`) are set aside — a city-wide extract analysed for a few districts then
    costs what those districts cost; the ledger notes how many.
    """
    ledger = Ledger()
    inp = cfg.inputs
    ext = read_osm(inp.osm.file()) if inp.osm else None  # place, bbox: fetched once, then cached
    units_raw = _read(inp.units, "units", ledger) if inp.units else None
    roads_raw = _read(inp.roads, "roads", ledger) if inp.roads else None
    crs = study_crs(cfg, ext, units_raw, roads_raw)
    log.info("measuring in %s (%s)", crs.name, crs.to_string())

    roads = _roads(roads_raw, inp.roads, ext, crs, ledger)
    landuse, parcels = _landuse(inp.parcels, ext, crs, ledger)
    buildings = _buildings(inp.buildings, ext, crs, ledger, landuse, cfg.buildings)
    vegetation = (
        osm_layers.vegetation_from_osm(ext, crs)
        if ext
        else gpd.GeoDataFrame({"tag": []}, geometry=[], crs=crs)
    )
    absent = absent_layers(
        inp,
        ext,
        ledger,
        roads=roads,
        buildings=buildings,
        landuse=parcels if parcels is not None else landuse,
        vegetation=vegetation,
    )
    catalogue = load_catalogue(
        cfg.life_circle.catalogue,
        tier_distances_m=cfg.life_circle.tiers_m,
        extra_categories=[c.model_dump() for c in cfg.life_circle.extra_categories],
        extend_categories=[c.model_dump() for c in cfg.life_circle.extend_categories],
    )
    points = osm_layers.points_from_osm(ext, crs) if ext else None
    facilities, amenities = _facilities(inp.pois, points, catalogue, crs, ledger)
    stations = _stations(inp.stations, points, catalogue, crs, ledger, roads)
    bounds = _bounds(cfg, ext, crs, units_raw, roads)
    if units_raw is None:  # units derived over the bounds: say where they came from
        note_study_bounds(cfg, ext, bounds, ledger)

    if units_raw is not None:
        units = _units(units_raw, inp.units, crs, ledger)  # type: ignore[arg-type]
    elif derive_missing_units:
        if "roads" in absent:
            raise LayerError(
                f"no units layer and no roads to derive blocks from ({absent['roads']}); set inputs.units "
                "(community boundaries) or give roads"
            )
        log.warning(
            "no units layer in the config: deriving blocks from the road network (see `ditan units`)"
        )
        units = make_units(cfg.units, roads, landuse, bounds, ledger)
    else:
        units = gpd.GeoDataFrame({"name": []}, geometry=[], crs=crs)
    _count_outside(
        ledger,
        units,
        {
            "roads" if inp.roads else "roads (OSM highway ways)": roads,
            "buildings" if inp.buildings else "buildings (OSM)": buildings,
            "land-use parcels" if inp.parcels else "land use (OSM)": parcels
            if parcels is not None
            else landuse,
            "life-circle facilities": facilities,
            "stations": stations,
        },
    )
    extents = _extents(ext, bounds, roads=inp.roads, buildings=inp.buildings, landuse=inp.parcels)
    if crop_to_units and units_raw is not None and len(units):
        roads, buildings, landuse, facilities, stations, amenities, vegetation, parcels = _crop(
            units,
            reach_m(params_from_config(cfg), catalogue),
            ledger,
            roads=roads,
            buildings=buildings,
            landuse=landuse,
            facilities=facilities,
            stations=stations,
            amenities=amenities,
            vegetation=vegetation,
            parcels=parcels,
        )
    units, layers = _inert_text(
        ledger,
        units,
        "units" if units_raw is not None else DERIVED_UNITS_LAYER,
        {
            "life-circle facilities": facilities,
            "stations": stations,
            "community amenities": amenities,
            "land-use parcels" if inp.parcels else "land use (OSM)": landuse,
            "roads" if inp.roads else "roads (OSM highway ways)": roads,  # derived units' names
        },
    )
    facilities, stations, amenities, landuse, roads = layers
    if parcels is not None:
        parcels = clean_text_columns(parcels, ["name"], ledger, "land-use parcels", formula=False)
    landcover = None
    if inp.landcover:
        lc = inp.landcover
        landcover = RasterInput(
            str(lc.path),
            tuple(lc.vegetation_classes or ()),
            lc.ndvi_threshold,
            lc.nodata,
            tuple(lc.impervious_classes or ()),
            () if lc.ndvi_threshold is not None else tuple(lc.tree_classes or ()),
        )
        add_note(ledger, "landcover", lc.classes_note)
    sa = StudyArea(
        crs=crs,
        bounds=bounds,
        units=units,
        roads=roads,
        buildings=buildings,
        landuse=landuse,
        vegetation=vegetation,
        facilities=facilities,
        stations=stations,
        catalogue=catalogue,
        amenities=amenities,
        ledger=ledger,
        landcover=landcover,
        parcels=parcels,
        extents=extents,
        absent=absent,
        code_system=inp.parcels.code_system if inp.parcels else "osm",
        has_facility_source=bool(inp.pois or inp.osm),
        has_station_source=bool(inp.stations or inp.osm),
    )
    return validate_study_area(sa)  # the contract every later step relies on, checked once here


def _inert_text(
    ledger: Ledger,
    units: gpd.GeoDataFrame,
    units_layer: str,
    layers: dict[str, gpd.GeoDataFrame | None],
) -> tuple[gpd.GeoDataFrame, list]:
    """Text from data made clean (ditan.spatial.io.inert): control characters removed, each counted in the ledger.

    The unit ids, names and kinds go into every table: those starting like a formula (= + - @) are counted too
    (the writers keep them as text). The names of the other layers lose their control characters only.
    """
    units = clean_text_columns(units, ["name", "kind"], ledger, units_layer, index=True)
    # two ids may have differed by a control character only
    require_unique_ids(units.index.to_series(), layer=units_layer)
    out = [
        None if gdf is None else clean_text_columns(gdf, ["name"], ledger, name, formula=False)
        for name, gdf in layers.items()
    ]
    return units, out


def _extents(
    ext: OsmExtract | None, bounds: shapely.Polygon, **sources: object
) -> dict[str, shapely.Geometry | None]:
    """Where each layer has data: the study bounds for a layer from the OSM file.

    None for a user layer (``sources``: layer key → its config source, or None when it comes from OSM): its extent
    is the convex hull of its features as they stand when measured (ditan.spatial.study_area.model.data_extent).
    """
    out: dict[str, shapely.Geometry | None] = {}
    for key, src in sources.items():
        if src is not None:
            out[key] = None
        elif ext is not None:
            out[key] = bounds
    return out


def _facilities(
    src: LayerSource | None, points: gpd.GeoDataFrame | None, catalogue, crs: CRS, ledger: Ledger
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Life-circle facilities (category) and the community amenities counted in each unit (kind)."""
    from ditan.pipelines.assemble.points import load_facilities

    return load_facilities(src, points, catalogue, crs, ledger)


def _stations(
    srcs,
    points: gpd.GeoDataFrame | None,
    catalogue,
    crs: CRS,
    ledger: Ledger,
    roads: gpd.GeoDataFrame | None = None,
) -> gpd.GeoDataFrame:
    """Stations of every kind: the supplied layers for the kinds they supply, OSM for the others, each station once."""
    from ditan.pipelines.assemble.points import load_stations

    return load_stations(srcs, points, catalogue, crs, ledger, roads)


def _count_outside(
    ledger: Ledger, units: gpd.GeoDataFrame, layers: dict[str, gpd.GeoDataFrame]
) -> None:
    """Record how many kept features of each ledger layer touch no unit (informational, not dropped).

    Facilities and stations may repeat a feature once per category; each location counts once.
    """
    if units.empty:
        return
    unit_geoms = units.geometry.to_numpy()
    tree = shapely.STRtree(unit_geoms)
    for name, gdf in layers.items():
        if name not in ledger.records or gdf.empty:
            continue
        geoms = gdf.geometry.to_numpy()
        if name in ("life-circle facilities", "stations"):
            geoms = geoms[~pd.Series(shapely.to_wkb(geoms)).duplicated().to_numpy()]
        hit = np.zeros(len(geoms), dtype=bool)
        if (shapely.get_type_id(geoms) == 0).all():
            idx, _ = tree.query(geoms, predicate="intersects")
        else:  # lines and polygons: each unit tested against the features of its box (fewer, larger tests)
            _, idx = shapely.STRtree(geoms).query(unit_geoms, predicate="intersects")
        hit[idx] = True
        rec = ledger.layer(name)
        rec.outside_study_area = int((~hit).sum())
        if not hit.any():
            log.warning(
                "layer '%s': none of its %d features lies in a unit; check its CRS and extent",
                name,
                len(geoms),
            )
            add_note(
                ledger,
                name,
                f"WARNING: none of the {len(geoms)} features lies in a unit; check the layer's CRS and extent",
            )
