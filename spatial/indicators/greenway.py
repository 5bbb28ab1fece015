"""Greenways (绿道): paths and cycleways through green land, and their links to transit stops.

OSM and Overture have no greenway tag that planners' 绿道 maps to, so this is a stated proxy:
the length of walking and cycling ways (footway, cycleway, path, pedestrian, bridleway, steps
excluded) running through park or other green land (land-use classes ``park`` and ``green``),
clipped to each unit (boundary rule of ditan.spatial.engine.allocate). A greenway is linked to a
bus stop or metro station when one lies within ``link_m`` (default 100 m) of the unit's greenway
(申报创建指标体系 item 23: 与轨道站点、公交站场…形成良好接驳).
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ditan.spatial.crs.metric import ensure_projected
from ditan.spatial.engine.allocate import line_pieces
from ditan.spatial.engine.geometry import merge_touching
from ditan.spatial.study_area.stations import station_access_points

__all__ = ["greenways"]

GREENWAY_HIGHWAYS = ("footway", "cycleway", "path", "pedestrian", "bridleway")
GREEN_CLASSES = ("park", "green")
LINK_KINDS = ("bus_stop", "metro")


def greenways(
    units: gpd.GeoDataFrame,
    roads: gpd.GeoDataFrame,
    faces: gpd.GeoDataFrame,
    stations: gpd.GeoDataFrame,
    *,
    link_m: float = 100.0,
) -> pd.DataFrame:
    """greenway_km and greenway_station_links (stops within ``link_m`` of the unit's greenway) per unit."""
    ensure_projected(units, "units")
    ensure_projected(roads, "roads")
    ensure_projected(faces, "land-use faces")
    ensure_projected(stations, "stations")
    n = len(units)
    out = pd.DataFrame(index=units.index)
    ways = roads.geometry.to_numpy()[roads["highway"].isin(GREENWAY_HIGHWAYS).to_numpy()]
    green = faces.geometry.to_numpy()[faces["lu_class"].isin(GREEN_CLASSES).to_numpy()]
    if len(ways) == 0 or len(green) == 0:
        out["greenway_km"] = 0.0
        out["greenway_station_links"] = 0.0
        return out
    # green land merged where faces touch (so a way along a shared edge counts once), then way × green pairs
    green = merge_touching(green)
    wi, gi = shapely.STRtree(green).query(ways, predicate="intersects")
    inside = shapely.intersection(ways[wi], green[gi])
    inside = inside[shapely.length(inside) > 0]
    unit_geoms = units.geometry.to_numpy()
    pieces = line_pieces(unit_geoms, inside)
    out["greenway_km"] = (
        np.bincount(pieces["unit"].to_numpy(), weights=pieces["length_m"].to_numpy(), minlength=n)
        / 1000.0
    )
    # a station listed at several positions (both platforms, two sources; merged) links when any of them is near
    stops, owner = station_access_points(stations[stations["kind"].isin(LINK_KINDS).to_numpy()])
    links = np.zeros(n)
    if len(stops) and len(pieces):
        clipped = shapely.intersection(
            inside[pieces["line"].to_numpy()], unit_geoms[pieces["unit"].to_numpy()]
        )
        gi, si = shapely.STRtree(stops).query(clipped, predicate="dwithin", distance=link_m)
        pairs = pd.DataFrame(
            {"unit": pieces["unit"].to_numpy()[gi], "stop": owner[si]}
        ).drop_duplicates()
        links = np.bincount(pairs["unit"].to_numpy(), minlength=n).astype(float)
    out["greenway_station_links"] = links
    return out
