"""The contract of a StudyArea, checked once where it is assembled (as osmnx checks a graph).

Every step after loading relies on it: one metric CRS for every layer, the columns each layer must
carry (with numeric and boolean ones of those dtypes), geometries of the layer's kind, unique string
unit ids, and facility categories, community amenities and station kinds of the catalogue.
:func:`validate_study_area` lists every breach at once in one :class:`~ditan.spatial.errors.LayerError`.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from ditan.spatial.errors import LayerError, feature_list
from ditan.spatial.study_area.model import StudyArea

__all__ = ["LAYERS", "validate_study_area"]

_POLYGONAL = ("polygonal", {shapely.GeometryType.POLYGON, shapely.GeometryType.MULTIPOLYGON})
_LINEAR = ("linear", {shapely.GeometryType.LINESTRING, shapely.GeometryType.MULTILINESTRING})
_PUNTAL = ("point", {shapely.GeometryType.POINT, shapely.GeometryType.MULTIPOINT})

_TYPE_NAMES = ("Point", "LineString", "LinearRing", "Polygon", "MultiPoint", "MultiLineString", "MultiPolygon",
               "GeometryCollection")  # fmt: skip
#: layer → (required, geometry kind, columns of the layer with their dtype: "any", "number" or "bool")
LAYERS: dict[str, tuple[bool, tuple[str, set], dict[str, str]]] = {
    "units": (True, _POLYGONAL, {"name": "any"}),
    "roads": (True, _LINEAR, {"highway": "any", "name": "any"}),
    "buildings": (True, _POLYGONAL, {"building": "any", "floors": "number", "floors_source": "any",
                                     "residential": "bool", "name": "any"}),
    "landuse": (True, _POLYGONAL, {"lu_class": "any", "tag": "any", "name": "any"}),
    "vegetation": (True, _POLYGONAL, {}),
    "facilities": (True, _PUNTAL, {"category": "any", "name": "any"}),
    "stations": (True, _PUNTAL, {"kind": "any", "name": "any"}),
    "amenities": (False, _PUNTAL, {"kind": "any", "name": "any"}),
    "parcels": (False, _POLYGONAL, {"parcel_id": "any", "tag": "any", "code": "any", "lu_class": "any",
                                    "floor_area_m2": "number", "far": "number", "height_limit_m": "number",
                                    "green_ratio_pct": "number"}),
}  # fmt: skip
#: the catalogue entries a layer's values must name: layer → (column, catalogue attribute)
CATALOGUED = {
    "facilities": ("category", "categories"),
    "amenities": ("kind", "amenities"),
    "stations": ("kind", "stations"),
}


def validate_study_area(sa: StudyArea) -> StudyArea:
    """Check ``sa`` against the contract of a StudyArea; return it, or raise LayerError listing every problem."""
    problems = _crs_problems(sa.crs)
    if not isinstance(sa.bounds, shapely.Polygon | shapely.MultiPolygon) or sa.bounds.is_empty:
        problems.append(
            f"bounds: a polygon in the study CRS is needed, not {type(sa.bounds).__name__}"
        )
    for name, (required, kind, cols) in LAYERS.items():
        gdf = getattr(sa, name)
        if gdf is None and not required:
            continue
        problems += [f"layer {name}: {p}" for p in _layer_problems(gdf, sa.crs, kind, cols)]
    if isinstance(sa.units, pd.DataFrame):
        problems += [f"layer units: {p}" for p in _unit_id_problems(sa.units.index)]
    for name, (col, entries) in CATALOGUED.items():
        gdf = getattr(sa, name)
        if isinstance(gdf, pd.DataFrame) and col in gdf and len(gdf):
            known = set(getattr(sa.catalogue, entries))
            unknown = sorted(set(pd.unique(gdf[col].astype(str).to_numpy())) - known)
            if unknown:
                problems.append(
                    f"layer {name}: {col} values not in the catalogue's {entries}: {feature_list(unknown)}"
                )
    if problems:
        listing = "\n".join(f"  - {p}" for p in problems)
        raise LayerError(
            f"the study area breaks its contract ({len(problems)} problem(s); every layer must be in one "
            f"metric CRS with its columns, see ditan.spatial.study_area.contract):\n{listing}"
        )
    return sa


def _crs_problems(crs: object) -> list[str]:
    if not isinstance(crs, CRS):
        return [f"crs: a pyproj CRS is needed, not {type(crs).__name__}"]
    if not crs.is_projected:
        return [
            f"crs: {crs.name} is not projected; the study CRS must be in metres (ditan.spatial.crs.metric)"
        ]
    units = {a.unit_name for a in crs.axis_info}
    if not units <= {"metre", "meter"}:
        return [f"crs: {crs.name} measures in {', '.join(sorted(units))}, not metres"]
    return []


def _layer_problems(
    gdf: object, crs: CRS, kind: tuple[str, set], cols: dict[str, str]
) -> list[str]:
    if not isinstance(gdf, gpd.GeoDataFrame):
        return [f"a GeoDataFrame is needed, not {type(gdf).__name__}"]
    out = []
    if gdf.crs is None or not CRS.from_user_input(gdf.crs).equals(crs):
        out.append(
            f"CRS {gdf.crs.name if gdf.crs is not None else 'none'}, not the study CRS {crs.name} (reproject it)"
        )
    missing = [c for c in cols if c not in gdf.columns]
    if missing:
        out.append(f"missing column(s) {', '.join(missing)}")
    for c, dtype in cols.items():
        if c not in gdf.columns or not len(gdf):
            continue
        if dtype == "number" and not pd.api.types.is_numeric_dtype(gdf[c]):
            out.append(f"column {c} must be numeric, not {gdf[c].dtype}")
        elif dtype == "bool" and not pd.api.types.is_bool_dtype(gdf[c]):
            out.append(f"column {c} must be boolean, not {gdf[c].dtype}")
    geoms = gdf.geometry.to_numpy()
    if len(geoms):
        types = shapely.get_type_id(geoms)
        missing_geom = types < 0
        wrong = ~missing_geom & ~np.isin(types, [int(t) for t in kind[1]])
        if missing_geom.any():
            out.append(f"{int(missing_geom.sum())} feature(s) without a geometry")
        if wrong.any():
            names = [_TYPE_NAMES[t] for t in np.unique(types[wrong])]
            out.append(f"{int(wrong.sum())} feature(s) not {kind[0]} ({', '.join(names)})")
    return out


def _unit_id_problems(index: pd.Index) -> list[str]:
    out = []
    kind = (
        pd.api.types.infer_dtype(index, skipna=False) if len(index) else "empty"
    )  # no units yet: `ditan units`
    if kind not in ("string", "empty"):
        out.append(f"unit ids (the index) must be text, not {kind}")
    dupes = index[index.duplicated()].unique()
    if len(dupes):
        out.append(f"unit ids must be unique; repeated: {feature_list(list(dupes))}")
    return out
