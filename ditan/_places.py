"""Homes, facilities and stations for :mod:`ditan.indicators`: where residents start and walk to.

Private: the rules are those of the pipeline (ditan.spatial.engine.origins,
ditan.pipelines.assemble.points);
this module only turns a user's GeoDataFrames into the inputs those functions take.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ditan._inputs import POLYGONAL, PUNTAL, Context, floors, layer
from ditan.spatial.engine.allocate import point_units
from ditan.spatial.engine.origins import GRID_M, Origins, residential_origins
from ditan.spatial.errors import LayerError, feature_list
from ditan.spatial.io.validate import Ledger
from ditan.spatial.standards.catalogue import Catalogue, value_lookup
from ditan.spatial.study_area.osm_layers import facilities_from_points
from ditan.spatial.study_area.stations import merge_duplicates, station_values


def _kinds(gdf: gpd.GeoDataFrame) -> str:
    kinds = set(gdf.geom_type.dropna())
    if kinds and kinds <= set(POLYGONAL):
        return "polygons"
    if kinds and kinds <= set(PUNTAL):
        return "points"
    return "mixed" if kinds else "none"


def grid_origins(units: gpd.GeoDataFrame, *, grid_m: float = GRID_M) -> Origins:
    """Origins on a ``grid_m`` grid over the units, each standing for its cell's area ('unit_area').

    One lattice for all units, sampled only inside each unit's bounding box (units far apart cost no
    points between them); a point on a boundary shared by k units counts 1/k to each. A unit too
    small to hold a grid point gets one point on its surface, standing for its whole area.
    """
    geoms = units.geometry.to_numpy()
    b = shapely.bounds(geoms)
    ox, oy = b[:, 0].min() + grid_m / 2, b[:, 1].min() + grid_m / 2
    i0, j0 = np.ceil((b[:, 0] - ox) / grid_m), np.ceil((b[:, 1] - oy) / grid_m)
    ni = np.maximum(np.floor((b[:, 2] - ox) / grid_m) - i0 + 1, 0).astype(np.int64)
    nj = np.maximum(np.floor((b[:, 3] - oy) / grid_m) - j0 + 1, 0).astype(np.int64)
    n = ni * nj
    box = np.repeat(np.arange(len(geoms)), n)
    k = np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)
    ij = np.unique(np.stack([i0[box] + k % ni[box], j0[box] + k // ni[box]], axis=1), axis=0)
    pts = shapely.points(ox + ij[:, 0] * grid_m, oy + ij[:, 1] * grid_m)
    alloc = point_units(geoms, pts)
    w = pd.DataFrame(
        {
            "unit": alloc["unit"].to_numpy(),
            "origin": alloc["point"].to_numpy(),
            "weight": alloc["weight"].to_numpy() * grid_m**2,
        }
    )
    empty = np.setdiff1d(np.arange(len(units)), w["unit"].to_numpy())
    if len(empty):
        extra = pd.DataFrame(
            {
                "unit": empty,
                "origin": len(pts) + np.arange(len(empty)),
                "weight": shapely.area(geoms[empty]),
            }
        )
        w = pd.concat([w, extra], ignore_index=True)
        pts = np.concatenate([pts, shapely.point_on_surface(geoms[empty])])
    has = np.bincount(w["unit"], minlength=len(units)) > 0
    return Origins(
        points=pts, weights=w, basis=pd.Series(np.where(has, "unit_area", "none"), dtype=object)
    )


def home_origins(
    ctx: Context,
    units: gpd.GeoDataFrame,
    homes: gpd.GeoDataFrame | None,
    landuse: gpd.GeoDataFrame | None,
    *,
    weight_column: str | None,
    storey_height_m: float,
    default_floors: dict | None,
) -> Origins:
    """Origins weighted as the pipeline weights them (see :func:`ditan.indicators.life_circle`)."""
    from ditan.spatial.indicators.intensity import building_pieces
    from ditan.spatial.indicators.landuse import landuse_faces

    if homes is None:
        ctx.note(
            f"no homes given: every place of a unit counts by its area (a {GRID_M:g} m grid; "
            "lc_basis 'unit_area')"
        )
        return grid_origins(units)
    homes = layer(ctx, homes, "homes")
    kind = _kinds(homes)
    if kind == "points":
        if weight_column is not None and weight_column not in homes:
            raise LayerError(
                f"layer 'homes' has no column '{weight_column}' (weight_column); its columns: "
                f"{', '.join(map(str, homes.columns))}"
            )
        wt = (
            np.ones(len(homes))
            if weight_column is None
            else pd.to_numeric(homes[weight_column], errors="coerce").to_numpy(float)
        )
        pts = shapely.point_on_surface(homes.geometry.to_numpy())
        alloc = point_units(units.geometry.to_numpy(), pts)
        w = pd.DataFrame(
            {
                "unit": alloc["unit"].to_numpy(),
                "origin": alloc["point"].to_numpy(),
                "weight": np.nan_to_num(wt[alloc["point"].to_numpy()]) * alloc["weight"].to_numpy(),
            }
        )
        w = w[w["weight"] > 0].reset_index(drop=True)
        has = np.bincount(w["unit"], weights=w["weight"], minlength=len(units)) > 0
        return Origins(
            points=pts, weights=w, basis=pd.Series(np.where(has, "homes", "none"), dtype=object)
        )
    if kind != "polygons":
        raise LayerError(
            "layer 'homes' must hold building polygons (weighted by floor area) or points "
            "(weighted by weight_column, else 1 each), not "
            f"{', '.join(sorted(set(homes.geom_type.dropna()))) or 'nothing'}"
        )
    b = floors(
        homes.reset_index(drop=True), storey_height_m=storey_height_m, default_floors=default_floors
    )
    if "residential" in b:
        b["residential"] = b["residential"].fillna(False).astype(bool)
    else:
        b["residential"] = True
    faces = gpd.GeoDataFrame({"lu_class": []}, geometry=[], crs=ctx.crs)
    if landuse is not None:
        lu = layer(ctx, landuse, "landuse")
        if "lu_class" not in lu:
            raise LayerError(
                "layer 'landuse' needs a column lu_class (the internal land-use class, e.g. "
                "residential); classify codes with ditan.spatial.landuse.codes.classify_codes"
            )
        faces = landuse_faces(lu)
    return residential_origins(units, b, building_pieces(units, b), faces)


def facility_points(
    ctx: Context, facilities: gpd.GeoDataFrame, catalogue: Catalogue, *, category_column: str | None
) -> gpd.GeoDataFrame:
    """Facilities as (category, point, outline) rows: an area is reached along its outline.

    With ``category_column`` (default 'category' when present) its values are catalogue ids, Chinese
    names or aliases; without, the features' OSM tags are matched with the catalogue's rules.
    """
    fac = layer(ctx, facilities, "facilities").reset_index(drop=True)
    poly = fac.geom_type.isin(POLYGONAL).to_numpy()
    pts = gpd.GeoDataFrame(
        fac.drop(columns=fac.geometry.name), geometry=fac.geometry.to_numpy(), crs=ctx.crs
    )
    if "outline" not in pts:
        pts["outline"] = np.where(poly, fac.geometry.to_numpy(), None)
        pts = pts.set_geometry(shapely.point_on_surface(fac.geometry.to_numpy()))
    column = category_column or ("category" if "category" in fac else None)
    if column is not None:
        if column not in fac:
            raise LayerError(
                f"layer 'facilities' has no column '{column}' (category_column); its columns: "
                f"{', '.join(map(str, fac.columns))}"
            )
        value = fac[column].astype("string").str.strip().fillna("")
        hit = (
            pd.DataFrame({"row": np.arange(len(fac)), "value": value.to_numpy()})
            .merge(value_lookup(catalogue.categories, "catalogue"), on="value")
            .drop_duplicates(["row", "category"])
        )
        miss = value[~np.isin(np.arange(len(fac)), hit["row"].to_numpy())].value_counts()
        if len(miss):
            ctx.note(
                "facilities not of a catalogue category, not used: "
                + ", ".join(f"'{v}' ({n})" for v, n in miss.sort_index().items())
            )
        rows = hit["row"].to_numpy()
        return gpd.GeoDataFrame(
            {"category": hit["category"].to_numpy(), "outline": pts["outline"].to_numpy()[rows]},
            geometry=pts.geometry.to_numpy()[rows],
            crs=ctx.crs,
        )
    pts["osm_id"] = np.arange(len(pts))
    pts["area_m2"] = np.where(poly, fac.geometry.area.to_numpy(), np.nan)
    found = facilities_from_points(pts, catalogue, Ledger(), layer="facilities")
    if not len(found) and len(fac):
        raise LayerError(
            "layer 'facilities' has no category column and no feature whose OSM tags match a "
            "category of the catalogue: name the column of catalogue ids with category_column=…, "
            "or pass OSM features (e.g. osmnx.features_from_xml) with their tags"
        )
    ctx.note(
        f"facilities: {len(found)} (feature, category) pairs matched by OSM tags from {len(fac)} "
        "features"
    )
    return found[["category", "outline", "geometry"]]


def station_points(
    ctx: Context, stations: gpd.GeoDataFrame, catalogue: Catalogue, *, kind_column: str
) -> gpd.GeoDataFrame:
    """Stations (kind, name, members) in the metric CRS, each station once (merge_duplicates)."""
    st = layer(ctx, stations, "stations").reset_index(drop=True)
    if kind_column not in st:
        raise LayerError(
            f"layer 'stations' has no column '{kind_column}' (kind_column: bus_stop, metro, "
            "bike_rental, ev_charging or 公交站, 地铁站 …); its columns: "
            f"{', '.join(map(str, st.columns))}"
        )
    known = station_values("catalogue", catalogue)
    kind = st[kind_column].astype("string").str.strip().map(known)
    if kind.isna().any():
        miss = st.loc[kind.isna(), kind_column].astype(str).value_counts().sort_index()
        ctx.note(
            "stations of no known kind, not used: "
            + ", ".join(f"'{v}' ({n})" for v, n in miss.items())
        )
    name = (
        st["name"].to_numpy(dtype=object) if "name" in st else np.full(len(st), None, dtype=object)
    )
    keep = kind.notna().to_numpy()
    geoms = st.geometry.to_numpy()[keep]
    if len(geoms) and not np.isin(shapely.get_type_id(geoms), [0, 4]).all():
        bad = st.index[keep][~np.isin(shapely.get_type_id(geoms), [0, 4])].tolist()
        raise LayerError(
            f"layer 'stations': {len(bad)} row(s) are not points ({feature_list(bad)}); pass "
            "station points"
        )
    out = gpd.GeoDataFrame(
        {"kind": kind[keep].to_numpy(dtype=object), "name": name[keep]}, geometry=geoms, crs=ctx.crs
    )
    if "members" in st:  # merged already (a study area's stations)
        return out.assign(members=st["members"].to_numpy(dtype=object)[keep])
    out, merged = merge_duplicates(out)
    if merged:
        ctx.note(
            f"stations: {merged} listed more than once (same kind within 50 m, or same name within "
            "150 m) counted once; each is still reached from every position it was listed at"
        )
    return out
