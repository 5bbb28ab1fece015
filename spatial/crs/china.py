"""Chinese web-map coordinate systems (GCJ-02, BD-09) and a coordinate/CRS sanity check.

Points of interest from Chinese map providers are not in WGS 84:

- GCJ-02 (国测局坐标, "Mars coordinates"): Amap/高德, Tencent/腾讯, Google Maps in China;
  WGS 84 shifted by a published-by-leak polynomial, typically 100–700 m;
- BD-09 (百度坐标): Baidu/百度; GCJ-02 shifted once more (≈ 0.0065° east, 0.006° north).

The forward formulas are the well-known public ones ("eviltransform", "coordtransform").
The inverses have no closed form and are solved by fixed-point iteration, vectorised over all
points, until the largest residual is below 1e-9 degrees (about 0.1 mm).

:func:`check_coordinates` catches the commonest CRS mistake: coordinates that cannot be in the
declared CRS (metres read as degrees, degrees read as metres, a Gauss–Krüger zone prefix), and
suggests the CRS the numbers look like.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS, Transformer

from ditan.spatial.errors import CRSError

__all__ = [
    "china_system",
    "out_of_china",
    "wgs84_to_gcj02",
    "gcj02_to_bd09",
    "gcj02_to_wgs84",
    "bd09_to_gcj02",
    "wgs84_to_bd09",
    "bd09_to_wgs84",
    "to_wgs84",
    "suggest_crs",
    "check_coordinates",
]

#: Krasovsky 1940 ellipsoid, as used by the GCJ-02 formula.
KRASOVSKY_A = 6378245.0
KRASOVSKY_EE = 0.00669342162296594323
#: The rough box inside which GCJ-02 differs from WGS 84 (outside it they are equal).
GCJ_LON_RANGE = (72.004, 137.8347)
GCJ_LAT_RANGE = (0.8293, 55.8271)
X_PI = math.pi * 3000.0 / 180.0
#: Convergence of the iterative inverses: largest residual in degrees, and the iteration cap.
TOLERANCE_DEG = 1e-9
MAX_ITERATIONS = 20
#: The literals accepted as a layer's ``crs`` for Chinese web-map data (normalised form → spellings).
CHINA_SYSTEMS = {"gcj02": ("gcj02", "gcj-02", "gcj_02"), "bd09": ("bd09", "bd-09", "bd_09")}
SYSTEM_NAMES = {"gcj02": "GCJ-02 (Amap/高德, Tencent/腾讯)", "bd09": "BD-09 (Baidu/百度)"}
#: How far (degrees) data may extend beyond a projected CRS's area of use before it is an error.
AREA_OF_USE_MARGIN_DEG = 2.0

Array = np.ndarray
Pair = tuple[Array, Array]


def china_system(value: str | None) -> str | None:
    """'gcj02' or 'bd09' if ``value`` names one of them (case-insensitive, 'GCJ-02' too), else None."""
    if value is None:
        return None
    v = str(value).strip().lower()
    for name, spellings in CHINA_SYSTEMS.items():
        if v in spellings:
            return name
    return None


def _arrays(lon: object, lat: object) -> Pair:
    lon_a, lat_a = np.broadcast_arrays(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
    return lon_a.astype(float, copy=True), lat_a.astype(float, copy=True)


def out_of_china(lon: object, lat: object) -> Array:
    """True where GCJ-02 equals WGS 84 (outside the rough box around China; NaN counts as outside)."""
    lon_a, lat_a = _arrays(lon, lat)
    inside = (
        (lon_a >= GCJ_LON_RANGE[0])
        & (lon_a <= GCJ_LON_RANGE[1])
        & (lat_a >= GCJ_LAT_RANGE[0])
        & (lat_a <= GCJ_LAT_RANGE[1])
    )
    return ~inside


def _transform_lat(x: Array, y: Array) -> Array:
    ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
    ret += (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    ret += (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
    ret += (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    return ret


def _transform_lon(x: Array, y: Array) -> Array:
    ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
    ret += (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    ret += (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
    ret += (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    return ret


def _gcj02_unmasked(lon: Array, lat: Array) -> Pair:
    """The GCJ-02 formula applied everywhere (no outside-China test): smooth, so the inverse iteration converges."""
    dlat = _transform_lat(lon - 105.0, lat - 35.0)
    dlon = _transform_lon(lon - 105.0, lat - 35.0)
    radlat = lat / 180.0 * np.pi
    magic = 1.0 - KRASOVSKY_EE * np.sin(radlat) ** 2
    sqrtmagic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((KRASOVSKY_A * (1.0 - KRASOVSKY_EE)) / (magic * sqrtmagic) * np.pi)
    dlon = (dlon * 180.0) / (KRASOVSKY_A / sqrtmagic * np.cos(radlat) * np.pi)
    return lon + dlon, lat + dlat


def wgs84_to_gcj02(lon: object, lat: object) -> Pair:
    """WGS 84 → GCJ-02 (degrees, arrays of any matching shape); unchanged outside China."""
    lon_a, lat_a = _arrays(lon, lat)
    g_lon, g_lat = _gcj02_unmasked(lon_a, lat_a)
    out = out_of_china(lon_a, lat_a)
    return np.where(out, lon_a, g_lon), np.where(out, lat_a, g_lat)


def gcj02_to_bd09(lon: object, lat: object) -> Pair:
    """GCJ-02 → BD-09 (degrees)."""
    x, y = _arrays(lon, lat)
    z = np.sqrt(x * x + y * y) + 0.00002 * np.sin(y * X_PI)
    theta = np.arctan2(y, x) + 0.000003 * np.cos(x * X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def _bd09_to_gcj02_closed(lon: object, lat: object) -> Pair:
    """The usual algebraic inverse of :func:`gcj02_to_bd09` (accurate to a few centimetres)."""
    bx, by = _arrays(lon, lat)
    x, y = bx - 0.0065, by - 0.006
    z = np.sqrt(x * x + y * y) - 0.00002 * np.sin(y * X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * X_PI)
    return z * np.cos(theta), z * np.sin(theta)


def _max_abs(*arrays: Array) -> float:
    worst = 0.0
    for a in arrays:
        finite = np.abs(a[np.isfinite(a)])
        if finite.size:
            worst = max(worst, float(finite.max()))
    return worst


def _invert(forward: Callable[[Array, Array], Pair], lon: Array, lat: Array, start: Pair) -> Pair:
    """Solve forward(w) = (lon, lat) for w by fixed-point iteration w ← w − (forward(w) − target)."""
    w_lon, w_lat = start
    for _ in range(MAX_ITERATIONS):
        f_lon, f_lat = forward(w_lon, w_lat)
        r_lon, r_lat = f_lon - lon, f_lat - lat
        if _max_abs(r_lon, r_lat) < TOLERANCE_DEG:
            break
        w_lon, w_lat = w_lon - r_lon, w_lat - r_lat
    return w_lon, w_lat


def gcj02_to_wgs84(lon: object, lat: object) -> Pair:
    """GCJ-02 → WGS 84 (degrees), iterated against the forward formula to < 1e-9°; unchanged outside China.

    The iteration runs on the unmasked formula (smooth, so it converges everywhere); points outside
    the box are returned unchanged. Within a few metres of the box's edge GCJ-02 is not one-to-one
    (a point just inside may be shifted across the edge onto one just outside, which maps to itself);
    there the point outside is preferred.
    """
    lon_a, lat_a = _arrays(lon, lat)
    w_lon, w_lat = _invert(_gcj02_unmasked, lon_a, lat_a, (lon_a, lat_a))
    out = out_of_china(lon_a, lat_a)
    return np.where(out, lon_a, w_lon), np.where(out, lat_a, w_lat)


def bd09_to_gcj02(lon: object, lat: object) -> Pair:
    """BD-09 → GCJ-02 (degrees): the algebraic inverse, refined iteratively against the forward formula."""
    lon_a, lat_a = _arrays(lon, lat)
    return _invert(gcj02_to_bd09, lon_a, lat_a, _bd09_to_gcj02_closed(lon_a, lat_a))


def wgs84_to_bd09(lon: object, lat: object) -> Pair:
    """WGS 84 → BD-09 (degrees), via GCJ-02."""
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def bd09_to_wgs84(lon: object, lat: object) -> Pair:
    """BD-09 → WGS 84 (degrees), via GCJ-02; both steps iterative."""
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))


TO_WGS84: dict[str, Callable[[object, object], Pair]] = {
    "gcj02": gcj02_to_wgs84,
    "bd09": bd09_to_wgs84,
}


def to_wgs84(gdf: gpd.GeoDataFrame, system: str) -> gpd.GeoDataFrame:
    """A copy of ``gdf`` whose coordinates, read as degrees in ``system`` ('gcj02' or 'bd09'), are in WGS 84.

    Any geometry type is converted (all vertices at once); z values are kept. The result's CRS is
    EPSG:4326 and ``attrs["source_crs"]`` names the system converted from.
    """
    name = china_system(system)
    if name is None:
        raise CRSError(f"'{system}' is not a Chinese web-map coordinate system; use gcj02 or bd09")
    convert = TO_WGS84[name]

    def _coords(xy: Array) -> Array:
        out = np.array(xy, dtype=float, copy=True)
        out[:, 0], out[:, 1] = convert(xy[:, 0], xy[:, 1])
        return out

    column = gdf.geometry.name
    df = pd.DataFrame(gdf).copy()
    df[column] = shapely.transform(gdf.geometry.to_numpy(), _coords, include_z=True)
    result = gpd.GeoDataFrame(df, geometry=column, crs=4326)
    result.attrs = {**gdf.attrs, "source_crs": name}
    return result


# --- coordinate / CRS sanity check --------------------------------------------------------------------------------


def _fmt(v: float) -> str:
    return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.4f}"


def _range(b: tuple[float, float, float, float]) -> str:
    return f"x {_fmt(b[0])} … {_fmt(b[2])}, y {_fmt(b[1])} … {_fmt(b[3])}"


def _bounds(gdf: gpd.GeoDataFrame) -> tuple[float, float, float, float] | None:
    """(xmin, ymin, xmax, ymax) over finite coordinates, or None when there are none."""
    b = shapely.bounds(gdf.geometry.to_numpy())
    b = b[np.isfinite(b).all(axis=1)] if len(b) else b
    if not len(b):
        return None
    return float(b[:, 0].min()), float(b[:, 1].min()), float(b[:, 2].max()), float(b[:, 3].max())


def suggest_crs(b: tuple[float, float, float, float]) -> str:
    """What projected coordinates with these bounds most likely are (a hint for error messages)."""
    xmin, ymin, xmax, ymax = b
    if 25_000_000 <= xmin and xmax < 46_000_000 and 0 <= ymin and ymax <= 7_000_000:
        zone = int(xmin // 1_000_000)
        if int(xmax // 1_000_000) == zone:
            epsg = 4513 + zone - 25
            return (
                f"the x values carry a zone prefix ({zone}): this looks like CGCS2000 3° Gauss–Krüger zone {zone}; "
                f"try EPSG:{epsg} (CGCS2000 / 3-degree Gauss-Kruger zone {zone})"
            )
        return "the x values carry a zone prefix (25–45) but span more than one zone; each zone is its own CRS (EPSG:4513–4533)"
    if 8_000_000 <= xmin and xmax <= 15_500_000 and 1_000_000 <= ymin and ymax <= 7_500_000:
        hint = (
            "this looks like Web Mercator (EPSG:3857, the CRS of web-map tiles); try crs: EPSG:3857"
        )
        if xmin >= 13_000_000:
            zone = int(xmin // 1_000_000)
            hint += f" (or, for survey data, CGCS2000 6° Gauss–Krüger zone {zone} with zone prefix: EPSG:{4491 + zone - 13})"
        return hint
    if (
        13_000_000 <= xmin
        and xmax < 24_000_000
        and 0 <= ymin
        and ymax <= 7_000_000
        and xmin // 1_000_000 == xmax // 1_000_000
    ):
        zone = int(xmin // 1_000_000)
        return f"this looks like CGCS2000 6° Gauss–Krüger zone {zone} with zone prefix; try EPSG:{4491 + zone - 13}"
    if 100_000 <= xmin and xmax <= 900_000 and 1_000_000 <= ymin and ymax <= 6_000_000:
        return (
            "this looks like a CGCS2000 3° Gauss–Krüger zone with false easting 500000 (no zone number); "
            "try EPSG:4534–4554, the one whose central meridian is nearest your area, e.g. EPSG:4548 for CM 117°E (Beijing) "
            "— or a UTM zone (EPSG:326xx, e.g. EPSG:32650 for 114°–120°E)"
        )
    if 100_000 <= xmin and xmax <= 900_000 and 0 <= ymin and ymax <= 10_000_000:
        return (
            "this looks like a UTM zone (false easting 500000): EPSG:326xx north of the equator, EPSG:327xx south "
            "(zone = ⌊(longitude + 180) / 6⌋ + 1)"
        )
    return "these numbers are metres of some projected CRS; find it in the data's metadata (.prj, supplier's notes)"


def _declared(declared: str | None, crs: CRS | None) -> str:
    if declared:
        return f"declared crs: {declared}"
    return f"the file's own CRS: {crs.name if crs is not None else 'none'}, no crs: in the config"


def _projected_problem(crs: CRS, b: tuple[float, float, float, float]) -> str | None:
    """Why bounds ``b`` cannot be in the projected ``crs`` (None if they can)."""
    xmin, ymin, xmax, ymax = b
    if max(abs(xmin), abs(xmax)) <= 180 and max(abs(ymin), abs(ymax)) <= 90:
        return (
            "the coordinates look like degrees (longitude/latitude), not metres; the data is probably WGS 84 "
            "(crs: EPSG:4326) or CGCS2000 geographic (EPSG:4490), and the .prj / declared CRS is wrong"
        )
    aou = crs.area_of_use
    if aou is None:
        return None
    try:
        tr = Transformer.from_crs(crs, 4326, always_xy=True)
        w, s, e, n = tr.transform_bounds(xmin, ymin, xmax, ymax, densify_pts=21)
    except Exception:  # pyproj raises on coordinates outside the projection's domain
        w = s = e = n = math.inf
    m = AREA_OF_USE_MARGIN_DEG
    inside = (
        np.isfinite([w, s, e, n]).all()
        and w >= aou.west - m
        and e <= aou.east + m
        and s >= aou.south - m
        and n <= aou.north + m
    )
    if inside:
        return None
    where = (
        f"fall at lon {w:.2f} … {e:.2f}, lat {s:.2f} … {n:.2f}"
        if np.isfinite([w, s, e, n]).all()
        else "cannot be placed on the globe"
    )
    return (
        f"in {crs.name} these coordinates {where}, far outside the CRS's area of use "
        f"(lon {aou.west:.2f} … {aou.east:.2f}, lat {aou.south:.2f} … {aou.north:.2f}); {suggest_crs(b)}"
    )


def check_coordinates(gdf: gpd.GeoDataFrame, layer: str, *, declared: str | None) -> None:
    """Raise :class:`CRSError` when the coordinates of ``gdf`` cannot be in its CRS, suggesting the likely one.

    ``declared`` is the layer's ``crs:`` from the config (None: the file's own CRS was used);
    'gcj02' / 'bd09' are checked as geographic degrees. Layers without coordinates pass.
    """
    b = _bounds(gdf)
    if b is None:
        return
    crs = CRS.from_user_input(gdf.crs) if gdf.crs is not None else None
    geographic = china_system(declared) is not None or (crs is not None and crs.is_geographic)
    if geographic:
        xmin, ymin, xmax, ymax = b
        if max(abs(xmin), abs(xmax)) <= 180 and max(abs(ymin), abs(ymax)) <= 90:
            return
        if max(abs(xmin), abs(xmax)) <= 90 and 90 < max(abs(ymin), abs(ymax)) <= 180:
            why = "x and y look swapped (x within ±90, y beyond 90); swap x_column and y_column (or the axis order)"
        else:
            why = f"the values are metres, not degrees: {suggest_crs(b)}"
        what = (
            f"{declared} coordinates are longitude/latitude degrees"
            if china_system(declared)
            else "a geographic CRS is in degrees"
        )
        problem = f"{what}, so |x| ≤ 180 and |y| ≤ 90; {why}"
    elif crs is not None:
        found = _projected_problem(crs, b)
        if found is None:
            return
        problem = found
    else:
        return
    raise CRSError(
        f"layer '{layer}' ({_declared(declared, crs)}): the coordinates contradict the CRS — {_range(b)}; {problem}. "
        f"Fix: set crs: for this layer in the config (inputs.<layer>.crs) to the CRS the data is really in"
    )
