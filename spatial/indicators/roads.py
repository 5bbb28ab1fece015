"""Road network density (km/km²) by Chinese road class, and intersection density.

OSM highway values map to the four classes of GB/T 51328: 快速路 expressway (motorway, trunk),
主干路 arterial (primary), 次干路 collector (secondary), 支路 local (tertiary, residential,
unclassified, living_street); links go with their road. Service roads, footways, cycleways,
paths and tracks are not city roads and are excluded unless the config includes them (they
then count as local roads). Roads are clipped to each unit; a road on a boundary shared by k
units counts 1/k to each (spatial.indicators.allocate).
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd

from spatial.crs import ensure_projected
from spatial.indicators.allocate import line_pieces, point_units
from spatial.network import build_network

ROAD_CLASS = {
    "motorway": "expressway", "motorway_link": "expressway", "trunk": "expressway", "trunk_link": "expressway",
    "primary": "arterial", "primary_link": "arterial",
    "secondary": "collector", "secondary_link": "collector",
    "tertiary": "local", "tertiary_link": "local", "residential": "local", "unclassified": "local",
    "living_street": "local",
}  # fmt: skip
CLASS_NAMES = {
    "expressway": ("快速路", "Expressway"),
    "arterial": ("主干路", "Arterial"),
    "collector": ("次干路", "Collector"),
    "local": ("支路", "Local"),
}
DEFAULT_INCLUDED = tuple(ROAD_CLASS)


def classify_roads(roads: gpd.GeoDataFrame, *, include: tuple[str, ...] = DEFAULT_INCLUDED) -> pd.Series:
    """Chinese road class of each road ('expressway' … 'local'), None where not a counted city road."""
    hw = roads["highway"].astype(object)
    cls = hw.map(ROAD_CLASS)
    extra = hw.isin(include) & cls.isna()
    cls[extra] = "local"
    cls[~hw.isin(include)] = None
    return cls


def road_density(
    units: gpd.GeoDataFrame, roads: gpd.GeoDataFrame, *, include: tuple[str, ...] = DEFAULT_INCLUDED
) -> pd.DataFrame:
    """road_length_km, road_density_km_per_km2 and one density column per class, per unit."""
    ensure_projected(units, "units")
    ensure_projected(roads, "roads")
    cls = classify_roads(roads, include=include)
    city = roads[cls.notna()]
    city_cls = cls[cls.notna()].to_numpy()
    area_km2 = units.geometry.area.to_numpy() / 1e6
    pieces = line_pieces(units.geometry.to_numpy(), city.geometry.to_numpy())
    pieces["km"] = pieces["length_m"] / 1000.0
    pieces["cls"] = city_cls[pieces["line"].to_numpy()]
    by = pieces.pivot_table(index="unit", columns="cls", values="km", aggfunc="sum").reindex(
        index=range(len(units)), columns=list(CLASS_NAMES)
    ).fillna(0.0)
    out = pd.DataFrame(index=units.index)
    out["road_length_km"] = by.sum(axis=1).to_numpy()
    out["road_density_km_per_km2"] = out["road_length_km"] / area_km2
    for c in CLASS_NAMES:
        out[f"road_density_{c}_km_per_km2"] = by[c].to_numpy() / area_km2
    return out


def intersection_density(
    units: gpd.GeoDataFrame, roads: gpd.GeoDataFrame, *, include: tuple[str, ...] = DEFAULT_INCLUDED
) -> pd.DataFrame:
    """intersection_count and intersection_density_per_km2: nodes where ≥ 3 city-road segments meet.

    The degree is taken on the whole network (roads outside the unit still make a junction a
    junction); nodes on a boundary shared by k units count 1/k.
    """
    ensure_projected(units, "units")
    ensure_projected(roads, "roads")
    cls = classify_roads(roads, include=include)
    net = build_network(roads.geometry.to_numpy()[cls.notna().to_numpy()])
    nodes = net.node_xy[net.degree() >= 3]
    pts = gpd.points_from_xy(nodes[:, 0], nodes[:, 1]).to_numpy() if len(nodes) else np.array([], dtype=object)
    alloc = point_units(units.geometry.to_numpy(), pts)
    count = np.bincount(alloc["unit"].to_numpy(), weights=alloc["weight"].to_numpy(), minlength=len(units))
    out = pd.DataFrame(index=units.index)
    out["intersection_count"] = count
    out["intersection_density_per_km2"] = count / (units.geometry.area.to_numpy() / 1e6)
    return out
