"""Turn a raw OSM extract into ditan's layers.

Roads, buildings, land use, vegetation, facilities and stations are derived by the tag tables kept as data. Everything returned is in the metric CRS.
Features the reader could not build (``OsmExtract.lost``: nodes missing from a clipped export, broken multipolygons) are
counted as dropped, with the reason, in the ledger layer they belong to. A file without a kind of feature (an osmnx drive
network has no areas) gives empty layers with the usual columns.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from ditan.spatial.io.osm import (
    HIGHWAY_MISSING,
    HIGHWAY_SHORT,
    MISSING_NODES,
    TOO_SHORT,
    OsmExtract,
)
from ditan.spatial.io.validate import LINEAR, POLYGONAL, Ledger, clean_geometries
from ditan.spatial.landuse.classes import classify_tags, vegetation_mask
from ditan.spatial.standards.catalogue import Catalogue, match

__all__ = [
    "roads_from_osm",
    "buildings_from_osm",
    "mark_residential",
    "landuse_from_osm",
    "vegetation_from_osm",
    "points_from_osm",
    "facilities_from_points",
    "stations_from_points",
    "amenities_from_points",
]

#: OSM building values that are housing.
RESIDENTIAL_BUILDINGS = {
    "residential", "apartments", "house", "detached", "dormitory", "terrace",
    "semidetached_house", "bungalow", "static_caravan",
}  # fmt: skip


def _areas(ext: OsmExtract, crs: CRS) -> gpd.GeoDataFrame:
    areas = ext.areas.to_crs(crs)
    areas["area_m2"] = areas.geometry.area
    return areas


def roads_from_osm(ext: OsmExtract, crs: CRS, ledger: Ledger) -> gpd.GeoDataFrame:
    """All highway ways as lines (road classes are applied by the roads indicator)."""
    ways = ext.ways.copy()
    rec = ledger.layer("roads (OSM highway ways)")
    for key, reason in ((HIGHWAY_MISSING, MISSING_NODES), (HIGHWAY_SHORT, TOO_SHORT)):
        n = ext.failures.get(key, 0)
        if n:
            rec.read += n
            rec.dropped[reason] += n
    ways = clean_geometries(ways, layer="roads (OSM highway ways)", kinds=LINEAR, ledger=ledger)
    return ways.to_crs(crs).reset_index(drop=True)


def _count_lost(ledger: Ledger, layer: str, lost: pd.DataFrame) -> None:
    """Count the features the reader could not build as read and dropped, by reason."""
    if len(lost):
        rec = ledger.layer(layer)
        rec.read += len(lost)
        for reason, n in lost["reason"].value_counts(sort=False).items():
            rec.dropped[str(reason)] += int(n)


def _is_building(df: pd.DataFrame) -> pd.Series:
    return (
        (df["building"].notna() & (df["building"] != "no"))
        if "building" in df
        else pd.Series(False, index=df.index)
    )


def buildings_from_osm(ext: OsmExtract, crs: CRS, ledger: Ledger) -> gpd.GeoDataFrame:
    """Building polygons; ``made_valid`` marks those clean_geometries repaired (for the loader's counts)."""
    areas = ext.areas
    _count_lost(ledger, "buildings (OSM)", ext.lost[_is_building(ext.lost).to_numpy()])
    b = areas[_is_building(areas).to_numpy()].copy()
    b["made_valid"] = ~shapely.is_valid(
        b.geometry.to_numpy()
    )  # those left after cleaning are the repaired ones
    b = clean_geometries(b, layer="buildings (OSM)", kinds=POLYGONAL, ledger=ledger)
    b = b.to_crs(crs)
    out = gpd.GeoDataFrame(
        {
            "osm_id": b["osm_id"].to_numpy(),
            "building": b["building"].astype(str).to_numpy(),
            "levels_raw": b.get(
                "building:levels", pd.Series(index=b.index, dtype=object)
            ).to_numpy(),
            "height_raw": b.get("height", pd.Series(index=b.index, dtype=object)).to_numpy(),
            "name": b.get("name", pd.Series(index=b.index, dtype=object)).to_numpy(),
            "made_valid": b["made_valid"].to_numpy(dtype=bool),
        },
        geometry=b.geometry.to_numpy(),
        crs=crs,
    )
    return out


def mark_residential(buildings: gpd.GeoDataFrame, landuse: gpd.GeoDataFrame) -> pd.Series:
    """Residential buildings: a housing building type, or an untyped building ('yes') standing on residential land."""
    typed = buildings["building"].isin(RESIDENTIAL_BUILDINGS).to_numpy()
    untyped = (buildings["building"] == "yes").to_numpy()
    on_res = np.zeros(len(buildings), dtype=bool)
    res = landuse[landuse["lu_class"] == "residential"]
    if len(res) and untyped.any():
        pts = buildings.geometry.representative_point().to_numpy()
        b_idx, _ = res.sindex.query(pts, predicate="within")
        on_res[np.unique(b_idx)] = True
    return pd.Series(typed | (untyped & on_res), index=buildings.index)


def landuse_from_osm(ext: OsmExtract, crs: CRS, ledger: Ledger) -> gpd.GeoDataFrame:
    """Land-use polygons with their internal class (areas matching no rule are not land use)."""
    areas = ext.areas
    _count_lost(ledger, "land use (OSM)", ext.lost[classify_tags(ext.lost).notna().to_numpy()])
    cls = classify_tags(areas)
    lu = areas[cls.notna()].copy()
    lu["lu_class"] = cls[cls.notna()]
    lu = clean_geometries(lu, layer="land use (OSM)", kinds=POLYGONAL, ledger=ledger)
    lu = lu.to_crs(crs)
    lu["tag"] = _describe_tag(lu)
    if "name" not in lu:
        lu["name"] = None
    return lu[["osm_id", "lu_class", "tag", "name", "geometry"]].reset_index(drop=True)


def vegetation_from_osm(ext: OsmExtract, crs: CRS) -> gpd.GeoDataFrame:
    """Vegetation polygons (for green coverage without a raster); repairs are counted with land use."""
    areas = ext.areas
    veg = areas[vegetation_mask(areas)].copy()
    veg = veg[veg.geometry.notna() & ~veg.geometry.is_empty]
    veg["geometry"] = veg.geometry.make_valid()
    veg = veg[veg.geom_type.isin(POLYGONAL)]
    return gpd.GeoDataFrame(
        {"tag": _describe_tag(veg).to_numpy()}, geometry=veg.geometry.to_numpy(), crs=4326
    ).to_crs(crs)


def _describe_tag(df: pd.DataFrame) -> pd.Series:
    out = pd.Series("", index=df.index, dtype=object)
    for key in (
        "amenity",
        "leisure",
        "natural",
        "landuse",
        "shop",
        "tourism",
        "office",
        "railway",
        "public_transport",
    ):
        if key in df.columns:
            v = df[key]
            take = (out == "") & v.notna()
            out[take] = key + "=" + v[take].astype(str)
    return out


def points_from_osm(ext: OsmExtract, crs: CRS) -> gpd.GeoDataFrame:
    """Tagged nodes plus area features (at a point on their surface), with their area."""
    nodes = ext.nodes.to_crs(crs)
    nodes["area_m2"] = np.nan
    nodes["outline"] = None
    areas = _areas(ext, crs)
    # plain buildings are not POIs; a building that is also a school, shop or station is
    poi_keys = [
        c
        for c in (
            "amenity",
            "shop",
            "leisure",
            "healthcare",
            "social_facility",
            "railway",
            "public_transport",
        )
        if c in areas
    ]
    plain_building = (
        areas["building"].notna() & ~areas[poi_keys].notna().any(axis=1)
        if "building" in areas
        else False
    )
    areas = areas[~plain_building]
    areas["outline"] = (
        areas.geometry.to_numpy()
    )  # kept: an area is reached at its edge, not its centre
    areas = areas.set_geometry(areas.geometry.representative_point())
    pts = pd.concat([nodes, areas], ignore_index=True)
    return gpd.GeoDataFrame(pts, geometry="geometry", crs=crs)


def facilities_from_points(
    points: gpd.GeoDataFrame, catalogue: Catalogue, ledger: Ledger, *, layer: str
) -> gpd.GeoDataFrame:
    """One row per (feature, life-circle category) matched by the catalogue."""
    hits = match(points, catalogue.categories)
    return _take(points, hits, ledger, layer=layer)


def stations_from_points(
    points: gpd.GeoDataFrame, catalogue: Catalogue, ledger: Ledger, *, layer: str
) -> gpd.GeoDataFrame:
    hits = match(points, catalogue.stations).rename(columns={"category": "kind"})
    return _take(points, hits, ledger, layer=layer, col="kind")


def amenities_from_points(
    points: gpd.GeoDataFrame, catalogue: Catalogue, ledger: Ledger, *, layer: str
) -> gpd.GeoDataFrame:
    """Community amenities counted in each unit (canteens, second-hand exchanges), one row per feature and kind."""
    hits = match(points, catalogue.amenities).rename(columns={"category": "kind"})
    return _take(points, hits, ledger, layer=layer, col="kind")


def _take(
    points: gpd.GeoDataFrame,
    hits: pd.DataFrame,
    ledger: Ledger,
    *,
    layer: str,
    col: str = "category",
) -> gpd.GeoDataFrame:
    rec = ledger.layer(layer)
    rec.read += len(hits)
    rec.kept += len(hits)
    sub = points.iloc[hits["row"].to_numpy()]
    name = sub["name"].to_numpy() if "name" in sub else np.full(len(sub), None)
    return gpd.GeoDataFrame(
        {
            col: hits[col].to_numpy(),
            "name": name,
            "osm_id": sub["osm_id"].to_numpy(),
            "area_m2": sub["area_m2"].to_numpy(),
            "outline": sub["outline"].to_numpy() if "outline" in sub else None,
        },
        geometry=sub.geometry.to_numpy(),
        crs=points.crs,
    )
