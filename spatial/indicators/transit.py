"""Transit and bike proximity, and station counts.

Share of residential floor area within 500 m of a bus stop, a metro station or entrance, and a bike-rental station — by straight-line radius (the official
公交站点500米覆盖 method) and by walking-network distance (stricter), side by side; and counts
of stations (including EV charging) inside each unit.
"""

from __future__ import annotations

from typing import cast

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.spatial import cKDTree

from ditan.spatial.crs.metric import ensure_projected
from ditan.spatial.engine.allocate import point_units
from ditan.spatial.engine.origins import Origins
from ditan.spatial.standards import columns
from ditan.spatial.study_area.stations import station_access_points

__all__ = ["straight_distances", "proximity_coverage", "station_counts"]

PROXIMITY_KINDS = columns.PROXIMITY_KINDS
COUNT_COLUMNS = columns.STATION_COUNTS


def straight_distances(
    origins: np.ndarray, stations: gpd.GeoDataFrame, kinds: list[str]
) -> pd.DataFrame:
    """Straight-line distance (m) from each origin to the nearest station of each kind (inf if none).

    A station listed at several positions (once per line, or by two sources: merged into one, see
    ditan.spatial.study_area.stations) is reached from the nearest of them, as on the walking network.
    """
    ensure_projected(stations, "stations")
    xy = shapely.get_coordinates(origins)
    out = {}
    for kind in kinds:
        sub = stations[stations["kind"] == kind]
        if len(sub) == 0 or len(xy) == 0:
            out[kind] = np.full(len(xy), np.inf)
            continue
        points, _ = station_access_points(sub)
        out[kind], _ = cKDTree(shapely.get_coordinates(points)).query(xy, k=1)
    return pd.DataFrame(out)


def proximity_coverage(
    n_units: int,
    origins: Origins,
    radius: pd.DataFrame,
    network: pd.DataFrame,
    *,
    index: pd.Index,
    radius_m: float | list[float] = 500.0,
) -> pd.DataFrame:
    """<kind>_<r>m_radius_pct and <kind>_<r>m_network_pct per unit, for each radius ``r`` (columns.proximity).

    ``network`` distances must be searched at least as far as the largest radius.
    """
    out = pd.DataFrame(index=index)
    scalar = np.isscalar(radius_m)
    for r in [cast(float, radius_m)] if scalar else list(cast(list[float], radius_m)):
        for kind in PROXIMITY_KINDS:
            out[columns.proximity(kind, r, "radius")] = origins.share(
                radius[kind].to_numpy() <= r, n_units
            )
            out[columns.proximity(kind, r, "network")] = origins.share(
                network[kind].to_numpy() <= r, n_units
            )
    return out


def station_counts(units: gpd.GeoDataFrame, stations: gpd.GeoDataFrame) -> pd.DataFrame:
    """Stations of each kind inside each unit (a station on a shared boundary counts 1/k)."""
    ensure_projected(units, "units")
    ensure_projected(stations, "stations")
    out = pd.DataFrame(index=units.index)
    for kind, col in COUNT_COLUMNS.items():
        sub = stations[stations["kind"] == kind]
        alloc = point_units(units.geometry.to_numpy(), sub.geometry.to_numpy())
        out[col] = np.bincount(
            alloc["unit"].to_numpy(), weights=alloc["weight"].to_numpy(), minlength=len(units)
        )
    return out
