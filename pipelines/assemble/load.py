"""Load every input of a config into one StudyArea in one metric CRS, counting every feature."""

from __future__ import annotations

import logging

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from ditan.pipelines.assemble.absent import absent_layers
from ditan.pipelines.assemble.place import _bounds, check_bounds_overlap, config_extents, study_crs  # noqa: F401 (re-exported)
from ditan.pipelines.config.params import ComputeParams, params_from_config
from ditan.pipelines.config.schema import BuildingOptions, Config, LayerSource, ParcelSource, UnitsOptions
from ditan.spatial.crs.china import SYSTEM_NAMES
from ditan.spatial.crs.metric import to_metric
from ditan.spatial.errors import LayerError, feature_list
from ditan.spatial.indicators.intensity import estimate_floors
from ditan.spatial.io.osm import OsmExtract, read_osm
from ditan.spatial.io.postgis import read_postgis
from ditan.spatial.io.validate import LINEAR, POLYGONAL, Ledger, clean_geometries, require_columns, require_unique_ids
from ditan.spatial.io.vector import read_vector
from ditan.spatial.landuse.codes import CODE_SYSTEM_NAMES, classify_codes
from ditan.spatial.standards import road_classes
from ditan.spatial.standards.catalogue import load_catalogue
from ditan.spatial.study_area import osm_layers
from ditan.spatial.study_area.contract import validate_study_area
from ditan.spatial.study_area.model import RasterInput, StudyArea, reach_zone, within_zone
from ditan.spatial.study_area.units import derive_units, name_units

log = logging.getLogger(__name__)
#: units overlapping by more than this (m²) are flagged in the ledger (they are kept and measured each as a whole)
UNIT_OVERLAP_TOL_M2 = 1.0


def _read(src: LayerSource, name: str, ledger: Ledger, record: str | None = None) -> gpd.GeoDataFrame:
    """Read one configured layer; a conversion from GCJ-02 or BD-09 is noted under ``record`` (default ``name``)."""
    if src.path is None:  # a PostGIS table or query (table: / sql: with the config's database:)
        raw = read_postgis(src.database.url if src.database else None, layer_name=name, table=src.table, query=src.sql,
                           params=src.params, geometry_column=src.geometry_column, crs=src.crs)  # fmt: skip
    else:
        raw = read_vector(src.path, layer_name=name, layer=src.layer, crs=src.crs, x_column=src.x_column,
                          y_column=src.y_column, encoding=src.encoding)  # fmt: skip
    system = raw.attrs.get("source_crs")
    if system in SYSTEM_NAMES:
        add_note(ledger, record or name, f"coordinates converted from {SYSTEM_NAMES[system]} to WGS 84 ({len(raw)} features)")
    return raw


def add_note(ledger: Ledger, layer: str, text: str) -> None:
    """Append a note to a ledger layer (notes are shown in data_quality.csv; they do not count features)."""
    rec = ledger.layer(layer)
    rec.note = f"{rec.note}; {text}" if rec.note else text


def _crs_label(crs: object) -> str:
    crs = CRS.from_user_input(crs)
    epsg = crs.to_epsg()
    return f"EPSG:{epsg}" if epsg else crs.name


def _to_study(gdf: gpd.GeoDataFrame, crs: CRS, layer: str, ledger: Ledger, record: str | None = None) -> gpd.GeoDataFrame:
    """to_metric, noting in the ledger (layer ``record``, default ``layer``) when the layer was reprojected."""
    out = to_metric(gdf, crs, layer)
    if out is not gdf:
        add_note(ledger, record or layer, f"reprojected from {_crs_label(gdf.crs)} to {_crs_label(crs)}")
    return out


def _col(gdf: pd.DataFrame, column: str | None, default: object = None) -> np.ndarray:
    return gdf[column].to_numpy() if column else np.full(len(gdf), default, dtype=object)


def load_study_area(cfg: Config, *, derive_missing_units: bool = True, crop_to_units: bool = True) -> StudyArea:
    """Every layer of the config in one metric CRS, with the ledger of what was read, repaired and dropped.

    With given units and ``crop_to_units``, features farther from every unit than any indicator can
    reach (:func:`reach_m`) are set aside — a city-wide extract analysed for a few districts then
    costs what those districts cost; the ledger notes how many.
    """
    ledger = Ledger()
    inp = cfg.inputs
    ext = read_osm(inp.osm.path) if inp.osm else None
    units_raw = _read(inp.units, "units", ledger) if inp.units else None
    roads_raw = _read(inp.roads, "roads", ledger) if inp.roads else None
    crs = study_crs(cfg, ext, units_raw, roads_raw)
    log.info("measuring in %s (%s)", crs.name, crs.to_string())

    roads = _roads(roads_raw, inp.roads, ext, crs, ledger)
    landuse, parcels = _landuse(inp.parcels, ext, crs, ledger)
    buildings = _buildings(inp.buildings, ext, crs, ledger, landuse, cfg.buildings)
    vegetation = osm_layers.vegetation_from_osm(ext, crs) if ext else gpd.GeoDataFrame({"tag": []}, geometry=[], crs=crs)
    absent = absent_layers(inp, ext, ledger, roads=roads, buildings=buildings, landuse=parcels if parcels is not None else landuse,
                           vegetation=vegetation)  # fmt: skip
    catalogue = load_catalogue(cfg.life_circle.catalogue, tier_distances_m=cfg.life_circle.tiers_m,
                               extra_categories=[c.model_dump() for c in cfg.life_circle.extra_categories])  # fmt: skip
    points = osm_layers.points_from_osm(ext, crs) if ext else None
    facilities, amenities = _facilities(inp.pois, points, catalogue, crs, ledger)
    stations = _stations(inp.stations, points, catalogue, crs, ledger, roads)
    bounds = _bounds(cfg, ext, crs, units_raw, roads)

    if units_raw is not None:
        units = _units(units_raw, inp.units, crs, ledger)  # type: ignore[arg-type]
    elif derive_missing_units:
        if "roads" in absent:
            raise LayerError(f"no units layer and no roads to derive blocks from ({absent['roads']}); set inputs.units "
                             "(community boundaries) or give roads")  # fmt: skip
        log.warning("no units layer in the config: deriving blocks from the road network (see `ditan units`)")
        units = make_units(cfg.units, roads, landuse, bounds)
    else:
        units = gpd.GeoDataFrame({"name": []}, geometry=[], crs=crs)
    _count_outside(ledger, units, {
        "roads" if inp.roads else "roads (OSM highway ways)": roads,
        "buildings" if inp.buildings else "buildings (OSM)": buildings,
        "land-use parcels" if inp.parcels else "land use (OSM)": parcels if parcels is not None else landuse,
        "life-circle facilities": facilities,
        "stations": stations,
    })  # fmt: skip
    extents = _extents(ext, bounds, roads=inp.roads, buildings=inp.buildings, landuse=inp.parcels)
    if crop_to_units and units_raw is not None and len(units):
        roads, buildings, landuse, facilities, stations, amenities, vegetation, parcels = _crop(
            units, reach_m(params_from_config(cfg), catalogue), ledger, roads=roads, buildings=buildings, landuse=landuse, facilities=facilities,
            stations=stations, amenities=amenities, vegetation=vegetation, parcels=parcels)  # fmt: skip
    landcover = None
    if inp.landcover:
        lc = inp.landcover
        landcover = RasterInput(str(lc.path), tuple(lc.vegetation_classes), lc.ndvi_threshold, lc.nodata, tuple(lc.impervious_classes))
    sa = StudyArea(crs=crs, bounds=bounds, units=units, roads=roads, buildings=buildings, landuse=landuse,
                   vegetation=vegetation, facilities=facilities, stations=stations, catalogue=catalogue, amenities=amenities,
                   ledger=ledger, landcover=landcover, parcels=parcels, extents=extents, absent=absent,
                   code_system=inp.parcels.code_system if inp.parcels else "osm",
                   has_facility_source=bool(inp.pois or inp.osm), has_station_source=bool(inp.stations or inp.osm))  # fmt: skip
    return validate_study_area(sa)  # the contract every later step relies on, checked once here


def _extents(ext: OsmExtract | None, bounds: shapely.Polygon, **sources: object) -> dict[str, shapely.Geometry | None]:
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


def reach_m(params: ComputeParams, catalogue) -> float:
    """How far from a unit a feature can still change an indicator computed with ``params``.

    The longest walking or radius distance (life-circle tiers, station radius, park radii), plus snapping
    at both ends and the service-area buffer.
    """
    lc, parks = params.life_circle, params.parks
    longest = max([t.distance_m for t in catalogue.tiers.values()] + [params.transit.radius_m, parks.large_radius_m,
                                                                       parks.small_radius_m])  # fmt: skip
    return float(longest + 2 * lc.snap_max_m + lc.service_area_buffer_m + 50.0)


def _crop(units: gpd.GeoDataFrame, distance_m: float, ledger: Ledger, **layers: gpd.GeoDataFrame | None) -> list:
    """Each layer without the features beyond ``distance_m`` of every unit's envelope (counted in a ledger note)."""
    zone = reach_zone(units, distance_m)
    names = {"roads": "roads", "buildings": "buildings", "landuse": "land use", "facilities": "life-circle facilities",
             "stations": "stations", "amenities": "community amenities", "vegetation": "vegetation", "parcels": "land-use parcels"}
    out = []
    for key, gdf in layers.items():
        if gdf is None or gdf.empty:
            out.append(gdf)
            continue
        keep = within_zone(zone, gdf.geometry.to_numpy())
        if not keep.all():
            gdf = gdf[keep].reset_index(drop=True)
            layer = next((n for n in ledger.records if n.startswith(names[key])), None)
            if layer is not None:
                add_note(ledger, layer, f"{int((~keep).sum()):,} features farther than {distance_m:,.0f} m from every unit "
                                        "set aside (they cannot change any indicator)")  # fmt: skip
        out.append(gdf)
    return out


def make_units(o: UnitsOptions, roads: gpd.GeoDataFrame, landuse: gpd.GeoDataFrame, bounds: shapely.Polygon) -> gpd.GeoDataFrame:
    """Blocks derived from the road network (sizes and ids as config ``units`` says), named from the data (ditan units)."""
    units = derive_units(roads, bounds, min_area_m2=o.min_area_m2, min_width_m=o.min_width_m, max_area_m2=o.max_area_m2)
    units["unit_id"] = [f"{o.id_prefix}{i + 1:03d}" for i in range(len(units))]
    named = landuse[landuse["name"].notna()]
    units["name"] = name_units(units, named, roads).to_numpy()
    return units.set_index("unit_id")


def _units(raw: gpd.GeoDataFrame, src: LayerSource, crs: CRS, ledger: Ledger) -> gpd.GeoDataFrame:
    id_col = src.id_column or ("unit_id" if "unit_id" in raw else None)
    require_columns(raw, [c for c in (id_col, src.name_column, src.kind_column) if c], layer="units",
                    hint="set id_column / name_column / kind_column under inputs.units")  # fmt: skip
    if id_col is None:
        raise LayerError("layer 'units' needs an id column; set inputs.units.id_column")
    raw = raw.assign(unit_id=raw[id_col].astype(str))
    require_unique_ids(raw["unit_id"], layer="units")
    clean = clean_geometries(raw, layer="units", kinds=POLYGONAL, ledger=ledger)
    _closed_rings(raw, ledger, "units")
    if clean.empty:
        what = "has no features" if raw.empty else f"has no usable polygon among its {len(raw)} features (see the ledger)"
        raise LayerError(f"layer 'units' ({src.label}) {what}; check the boundary file, or leave inputs.units out to derive blocks")
    names = clean[src.name_column].astype(str) if src.name_column else ("单元 " + clean["unit_id"])
    out = gpd.GeoDataFrame({"unit_id": clean["unit_id"].to_numpy(), "name": names.to_numpy()}, geometry=clean.geometry.to_numpy(), crs=clean.crs)
    if src.kind_column:  # the pilot kind of each unit (new / existing / rural …) for the compliance profile
        out["kind"] = clean[src.kind_column].astype("string").str.strip().to_numpy(dtype=object)
    out = _to_study(out, crs, "units", ledger)
    _flag_overlapping_units(out, ledger)
    return out.set_index("unit_id")


def _flag_overlapping_units(units: gpd.GeoDataFrame, ledger: Ledger) -> None:
    """Flag units overlapping another by more than UNIT_OVERLAP_TOL_M2, listing the pairs (units are not merged)."""
    geoms = units.geometry.to_numpy()
    a, b = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    a, b = a[a < b], b[a < b]
    area = shapely.area(shapely.intersection(geoms[a], geoms[b]))
    big = area > UNIT_OVERLAP_TOL_M2
    if not big.any():
        return
    ids = units["unit_id"].astype(str).to_numpy()
    pairs = [f"{ids[i]}/{ids[j]} {m2:,.0f} m²" for i, j, m2 in zip(a[big], b[big], area[big], strict=True)]
    n_units = len(np.unique(np.concatenate([a[big], b[big]])))
    ledger.layer("units").flagged[
        f"overlapping units, kept as drawn: {feature_list(pairs)}; each unit is measured over its whole area: "
        "buildings, land, roads and points in an overlap count in full to each unit"
    ] += n_units


def _roads(raw: gpd.GeoDataFrame | None, src: LayerSource | None, ext: OsmExtract | None, crs: CRS, ledger: Ledger) -> gpd.GeoDataFrame:
    """Road lines with their OSM highway value; a class column in Chinese (快速路 …) is read through road_classes.yaml."""
    if raw is None:
        if ext is None:  # no road source at all: an empty layer, recorded in StudyArea.absent
            return gpd.GeoDataFrame({"highway": pd.Series(dtype=object), "name": pd.Series(dtype=object)}, geometry=[], crs=crs)
        return osm_layers.roads_from_osm(ext, crs, ledger)
    assert src is not None
    hint = "class_column holds the road class: OSM highway values (primary, residential …) or 快速路, 主干路, 次干路, 支路 …"
    require_columns(raw, [c for c in (src.class_column,) if c], layer="roads", hint=hint)
    if not src.class_column:
        raise LayerError(f"layer 'roads' needs class_column; {hint}")
    df = gpd.GeoDataFrame({"highway": raw[src.class_column].to_numpy(dtype=object), "name": _col(raw, src.name_column)},
                          geometry=raw.geometry.to_numpy(), crs=raw.crs)  # fmt: skip
    df = clean_geometries(df, layer="roads", kinds=LINEAR, ledger=ledger)
    df = _to_study(df, crs, "roads", ledger).reset_index(drop=True)
    df["highway"] = road_classes.classify_layer(df["highway"], df.geometry.length.to_numpy(), rec=ledger.layer("roads"),
                                                label=src.label, column=src.class_column)  # fmt: skip
    return df


def _landuse(src: ParcelSource | None, ext: OsmExtract | None, crs: CRS, ledger: Ledger) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame | None]:
    """Classified land-use polygons (for the shares) and, from a parcel layer, the parcels themselves."""
    if src is None:
        if ext is None:
            return gpd.GeoDataFrame({"lu_class": [], "tag": [], "name": []}, geometry=[], crs=crs), None
        lu = osm_layers.landuse_from_osm(ext, crs, ledger)
        ledger.layer("land use (OSM)").note = "areas with a land-use tag; smallest polygon wins where they overlap"
        return lu, None
    parcels = read_parcels(src, crs, ledger)
    known = parcels[parcels["lu_class"].notna()]
    return known[["lu_class", "tag", "name", "geometry"]].reset_index(drop=True), parcels


def _number(raw: pd.DataFrame, column: str | None) -> np.ndarray:
    if not column:
        return np.full(len(raw), np.nan)
    return pd.to_numeric(raw[column], errors="coerce").to_numpy(dtype=float)


def read_parcels(src: ParcelSource, crs: CRS, ledger: Ledger) -> gpd.GeoDataFrame:
    """Parcels with their internal class; unknown codes kept (class None) and listed per code in the ledger."""
    layer = "land-use parcels"
    raw = _read(src, layer, ledger)
    cols = (src.code_column, src.id_column, src.name_column, src.floor_area_column, src.far_column,
            src.height_limit_column, src.green_ratio_column)  # fmt: skip
    require_columns(raw, [c for c in cols if c], layer=layer, hint="check the column names under inputs.parcels")
    df = gpd.GeoDataFrame(
        {"parcel_id": _col(raw, src.id_column) if src.id_column else np.arange(1, len(raw) + 1).astype(str),
         "tag": raw[src.code_column].to_numpy(), "name": _col(raw, src.name_column),
         "floor_area_m2": _number(raw, src.floor_area_column), "far": _number(raw, src.far_column),
         "height_limit_m": _number(raw, src.height_limit_column), "green_ratio_pct": _number(raw, src.green_ratio_column)},
        geometry=raw.geometry.to_numpy(), crs=raw.crs,
    )  # fmt: skip
    df = _to_study(clean_geometries(df, layer=layer, kinds=POLYGONAL, ledger=ledger), crs, layer, ledger).reset_index(drop=True)
    _closed_rings(raw, ledger, layer)
    codes = classify_codes(df["tag"], src.code_system)
    df["lu_class"] = codes["lu_class"].to_numpy()
    df["code"] = codes["code"].to_numpy()
    rec = ledger.layer(layer)
    area = df.geometry.area.to_numpy()
    how = codes["how"].to_numpy()
    system = CODE_SYSTEM_NAMES.get(src.code_system, src.code_system)
    for code, grp in pd.DataFrame({"code": df["tag"].astype(str), "how": how, "area": area}).groupby(["how", "code"], sort=True):
        kind, value = code
        if kind == "unknown":
            rec.flagged[f"unknown {system} code '{value}' ({len(grp)} parcels, {grp['area'].sum():,.0f} m²; counted as land without a class)"] += len(grp)
        elif kind == "empty":
            rec.flagged[f"no land-use code ({len(grp)} parcels, {grp['area'].sum():,.0f} m²; counted as land without a class)"] += len(grp)
        elif kind == "parent":
            rec.flagged[f"code '{value}' not in the {system} table; classified by its parent code"] += len(grp)
    add_note(ledger, layer, f"land-use codes read as {system}")
    bad_far = (df["far"] < 0) | (df["far"] > 30) | (df["floor_area_m2"] < 0)
    if bad_far.any():
        ids = df.loc[bad_far, "parcel_id"].astype(str).tolist()
        raise LayerError(
            f"layer '{layer}': {len(ids)} parcel(s) with a negative floor area or a FAR outside 0–30 ({feature_list(ids)}); "
            "fix the values or leave them empty"
        )
    return df


def _buildings(src: LayerSource | None, ext: OsmExtract | None, crs: CRS, ledger: Ledger, landuse: gpd.GeoDataFrame,
               opts: BuildingOptions) -> gpd.GeoDataFrame:  # fmt: skip
    if src is None:
        if ext is None:  # no building source at all: an empty layer, recorded in StudyArea.absent
            return gpd.GeoDataFrame({"building": pd.Series(dtype=object), "levels_raw": pd.Series(dtype=object),
                                     "height_raw": pd.Series(dtype=object), "name": pd.Series(dtype=object),
                                     "floors": pd.Series(dtype=float), "floors_source": pd.Series(dtype=object),
                                     "residential": pd.Series(dtype=bool)}, geometry=[], crs=crs)  # fmt: skip
        layer = "buildings (OSM)"
        b = osm_layers.buildings_from_osm(ext, crs, ledger)
    else:
        layer = "buildings"
        raw = _read(src, "buildings", ledger)
        cols = (src.type_column, src.floors_column, src.height_column, src.name_column, src.population_column)
        require_columns(raw, [c for c in cols if c], layer="buildings")
        b = gpd.GeoDataFrame(
            {"building": _col(raw, src.type_column, "yes"), "levels_raw": _col(raw, src.floors_column),
             "height_raw": _col(raw, src.height_column), "name": _col(raw, src.name_column),
             "population": _number(raw, src.population_column)},
            geometry=raw.geometry.to_numpy(), crs=raw.crs,
        )  # fmt: skip
        b["building"] = b["building"].fillna("yes").astype(str)
        b["made_valid"] = ~shapely.is_valid(b.geometry.to_numpy())  # those left after cleaning are the repaired ones
        b = _to_study(clean_geometries(b, layer=layer, kinds=POLYGONAL, ledger=ledger), crs, layer, ledger)
        _closed_rings(raw, ledger, layer)
    b = b.reset_index(drop=True)
    fl = estimate_floors(b, default_floors=opts.default_floors, storey_height_m=opts.storey_height_m)
    b["floors"] = fl["floors"].to_numpy()
    b["floors_source"] = fl["floors_source"].to_numpy()
    _count_implausible(ledger.layer(layer), fl["floors_implausible"].to_numpy(dtype=bool), b.pop("made_valid").to_numpy(dtype=bool))
    b["residential"] = osm_layers.mark_residential(b, landuse).to_numpy()
    return b


def _closed_rings(raw: gpd.GeoDataFrame, ledger: Ledger, layer: str) -> None:
    """Polygons whose unclosed rings the reader closed (``raw.attrs["rings_closed"]``) count as repaired."""
    rec = ledger.layer(layer)
    n = min(int(raw.attrs.get("rings_closed", 0)), rec.kept)
    if n:
        rec.kept -= n
        rec.repaired["unclosed ring closed"] += n


def _count_implausible(rec, implausible: np.ndarray, made_valid: np.ndarray) -> None:
    """Count buildings whose floor count or height was implausible (ignored) as repaired, each building once."""
    alone = int((implausible & ~made_valid).sum())
    both = int((implausible & made_valid).sum())
    if alone:
        rec.kept -= alone
        rec.repaired["implausible floors/height ignored"] += alone
    if both:
        rec.repaired["make_valid"] -= both
        rec.repaired["make_valid + implausible floors/height ignored"] += both
        if not rec.repaired["make_valid"]:
            del rec.repaired["make_valid"]


def _facilities(src: LayerSource | None, points: gpd.GeoDataFrame | None, catalogue, crs: CRS,
                ledger: Ledger) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:  # fmt: skip
    """Life-circle facilities (category) and the community amenities counted in each unit (kind)."""
    from ditan.pipelines.assemble.points import load_facilities

    return load_facilities(src, points, catalogue, crs, ledger)


def _stations(srcs, points: gpd.GeoDataFrame | None, catalogue, crs: CRS, ledger: Ledger,
              roads: gpd.GeoDataFrame | None = None) -> gpd.GeoDataFrame:  # fmt: skip
    """Stations of every kind: the supplied layers for the kinds they supply, OSM for the others, each station once."""
    from ditan.pipelines.assemble.points import load_stations

    return load_stations(srcs, points, catalogue, crs, ledger, roads)


def _count_outside(ledger: Ledger, units: gpd.GeoDataFrame, layers: dict[str, gpd.GeoDataFrame]) -> None:
    """Record how many kept features of each ledger layer touch no unit (informational, not dropped).

    Facilities and stations may repeat a feature once per category; each location counts once.
    """
    if units.empty:
        return
    tree = shapely.STRtree(units.geometry.to_numpy())
    for name, gdf in layers.items():
        if name not in ledger.records or gdf.empty:
            continue
        geoms = gdf.geometry.to_numpy()
        if name in ("life-circle facilities", "stations"):
            geoms = geoms[~pd.Series(shapely.to_wkb(geoms)).duplicated().to_numpy()]
        hit = np.zeros(len(geoms), dtype=bool)
        idx, _ = tree.query(geoms, predicate="intersects")
        hit[idx] = True
        rec = ledger.layer(name)
        rec.outside_study_area = int((~hit).sum())
        if not hit.any():
            log.warning("layer '%s': none of its %d features lies in a unit; check its CRS and extent", name, len(geoms))
            add_note(ledger, name, f"WARNING: none of the {len(geoms)} features lies in a unit; check the layer's CRS and extent")
