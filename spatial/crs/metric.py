"""Coordinate systems: choosing the one metric CRS of a study area, and guarding metric functions.

All areas and lengths in ditan are measured in a projected CRS whose unit is the metre.
Inside China's extent the CGCS2000 3-degree Gauss–Krüger zone whose central meridian is
nearest the data is used (EPSG:4534 "CM 75E" … EPSG:4554 "CM 135E", false easting 500 000 m,
no zone prefix); elsewhere the UTM zone of the data's centre.
"""

from __future__ import annotations

import geopandas as gpd
from pyproj import CRS

from ditan.spatial.errors import CRSError

__all__ = ["gauss_kruger_3deg_epsg", "choose_metric_crs", "ensure_projected", "to_metric"]

#: China's extent (lon/lat) used to decide between CGCS2000 Gauss–Krüger and UTM.
CHINA_LON_RANGE = (73.0, 136.0)
CHINA_LAT_RANGE = (3.0, 54.0)


def gauss_kruger_3deg_epsg(lon: float) -> int:
    """EPSG code of the CGCS2000 3° Gauss–Krüger CM zone (no zone prefix) for a longitude.

    Central meridians run 75°E, 78°E … 135°E (EPSG:4534 … 4554); the nearest one is chosen.
    """
    cm = 3 * round(lon / 3.0)
    cm = min(max(cm, 75), 135)
    return 4534 + (cm - 75) // 3


def choose_metric_crs(lon: float, lat: float) -> CRS:
    """The metric CRS for data centred at (lon, lat) in WGS 84 degrees."""
    if (
        CHINA_LON_RANGE[0] <= lon <= CHINA_LON_RANGE[1]
        and CHINA_LAT_RANGE[0] <= lat <= CHINA_LAT_RANGE[1]
    ):
        return CRS.from_epsg(gauss_kruger_3deg_epsg(lon))
    zone = int((lon + 180) // 6) + 1
    return CRS.from_epsg((32600 if lat >= 0 else 32700) + zone)


def ensure_projected(gdf: gpd.GeoDataFrame | gpd.GeoSeries, layer: str) -> None:
    """Raise unless ``gdf`` is in a projected CRS measured in metres.

    Called at the top of every metric function.
    """
    crs = gdf.crs
    if crs is None:
        raise CRSError(
            f"layer '{layer}' has no coordinate system; declare it in the config "
            f"(e.g. crs: EPSG:4326) or set it with GeoDataFrame.set_crs()"
        )
    crs = CRS.from_user_input(crs)
    if not crs.is_projected:
        raise CRSError(
            f"layer '{layer}' is in a geographic CRS ({crs.name}, degrees); reproject it with "
            f"ditan.spatial.crs.metric.to_metric() first — areas and lengths need metres"
        )
    unit = crs.axis_info[0].unit_name if crs.axis_info else ""
    if unit not in ("metre", "meter", "m"):
        raise CRSError(
            f"layer '{layer}' is in {crs.name} whose unit is '{unit}', not metres; reproject it"
        )


def to_metric(gdf: gpd.GeoDataFrame, crs: CRS, layer: str) -> gpd.GeoDataFrame:
    """Reproject a layer to the study area's metric CRS (raising if it has no CRS at all)."""
    if gdf.crs is None:
        raise CRSError(
            f"layer '{layer}' has no coordinate system; declare it in the config (crs: EPSG:…)"
        )
    if CRS.from_user_input(gdf.crs) == crs:
        return gdf
    return gdf.to_crs(crs)
