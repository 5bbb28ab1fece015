"""Point layers: the stations of several layers and the OSM file, and the web-map check of supplied point layers.

Stations (``inputs.stations``: one layer or a list, each with ``kind_column`` or a constant ``kind``):

- a supplied layer replaces OSM's stations only for the kinds it supplies (has features of); every other
  kind keeps OSM's. The OSM stations replaced are counted as dropped in the ledger, kind by kind, and a note
  says which kinds came from which source;
- the rows are then merged so that each station counts once (:func:`spatial.station_layers.merge_duplicates`:
  same kind within 50 m, or same kind and name within 150 m; the first row of a group is kept, supplied
  layers in the order given before OSM); the rows merged away are counted in the ledger;
- the frame has columns kind, name and source (the supplied layer's file, table or query, or OSM), plus
  OSM's osm_id, area_m2 and outline when OSM contributes.

A supplied point layer (stations, pois) declared WGS 84 or CGCS2000 that sits markedly better on the study's
other layers after the GCJ-02 or BD-09 inverse stops the run (:mod:`spatial.webmap_offset`).
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
from pyproj import CRS

from pipelines import load as L
from pipelines.config_sources import LayerSource, StationSource
from spatial import osm_layers
from spatial.errors import LayerError
from spatial.station_layers import SAME_NAME_M, SAME_PLACE_M, merge_duplicates, station_values, unknown_kind
from spatial.validate import PUNTAL, Ledger, clean_geometries, require_columns
from spatial.webmap_offset import ROADSIDE_KINDS, Reference, check_layer

LAYER = "stations"
MERGED = (f"merged: same station from two sources or listed once per line (same kind within {SAME_PLACE_M:.0f} m, "
          f"or same kind and name within {SAME_NAME_M:.0f} m)")  # fmt: skip


def load_stations(srcs: StationSource | list[StationSource] | None, points: gpd.GeoDataFrame | None, catalogue, crs: CRS,
                  ledger: Ledger, roads: gpd.GeoDataFrame | None = None) -> gpd.GeoDataFrame:  # fmt: skip
    """Every station of the run in the metric CRS ``crs``, each once (see the module's description)."""
    layers = [] if srcs is None else list(srcs) if isinstance(srcs, list) else [srcs]
    osm = osm_layers.stations_from_points(points, catalogue, ledger, layer=LAYER) if points is not None else None
    if not layers:
        if osm is None:
            return gpd.GeoDataFrame({"kind": [], "name": [], "source": []}, geometry=[], crs=crs)
        return _merge(osm.assign(source="OSM"), ledger)
    refs = []
    if roads is not None and len(roads):
        refs.append(Reference("the roads", roads.geometry.to_numpy(), points_of=ROADSIDE_KINDS))
    if osm is not None and len(osm):
        refs.append(Reference("the OSM stations of the same kind", osm.geometry.to_numpy(), kinds=osm["kind"].to_numpy()))
    frames = [_one_layer(src, i if len(layers) > 1 else None, catalogue, crs, ledger, refs) for i, src in enumerate(layers)]
    supplied: dict[str, list[str]] = {}
    for src, frame in zip(layers, frames, strict=True):
        for kind in pd.unique(frame["kind"]):
            supplied.setdefault(str(kind), []).append(f"'{src.label}'")
    if osm is not None:
        replaced = osm["kind"].isin(list(supplied)).to_numpy()
        rec = ledger.layer(LAYER)
        for kind, n in osm.loc[replaced, "kind"].value_counts().sort_index().items():
            rec.kept -= int(n)
            rec.dropped[f"OSM {kind} replaced by stations layer {', '.join(supplied[kind])}"] += int(n)
        osm = osm[~replaced].assign(source="OSM")
        osm = osm.astype({c: object for c in ("osm_id", "outline") if c in osm})
    by_source: dict[str, list[str]] = {}
    for kind in catalogue.stations:
        where = (f"from stations layer {', '.join(supplied[kind])}" if kind in supplied else "from OSM" if osm is not None
                 else "from no source (no layer has them, no OSM file)")  # fmt: skip
        by_source.setdefault(where, []).append(kind)
    L.add_note(ledger, LAYER, "; ".join(f"{', '.join(kinds)} {where}" for where, kinds in by_source.items()))
    parts = [f for f in [*frames, osm] if f is not None and len(f)]
    if not parts:
        return gpd.GeoDataFrame({"kind": [], "name": [], "source": []}, geometry=[], crs=crs)
    out = gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), geometry="geometry", crs=crs)
    for c in ("osm_id", "outline"):  # supplied rows have none: None, as the OSM reader leaves it (not NaN)
        if c in out:
            out[c] = out[c].astype(object).where(out[c].notna(), None)
    return _merge(out, ledger)


def _one_layer(src: StationSource, item: int | None, catalogue, crs: CRS, ledger: Ledger, refs: list[Reference]) -> gpd.GeoDataFrame:
    """One supplied layer in ``crs``: kind, name, source; notes on its reading prefixed with its name when there are several."""
    scratch = Ledger()  # the reader's notes (conversion, reprojection), to be labelled with the layer
    raw = L._read(src, LAYER, scratch)
    require_columns(raw, [c for c in (src.kind_column, src.name_column) if c], layer=LAYER,
                    hint=f"check kind_column / name_column of the stations layer {src.label}")  # fmt: skip
    if src.kind_column:
        df = L._by_value(raw, src, src.kind_column, catalogue.stations, ledger, LAYER, "kind",
                         where="" if item is None else f" in {src.label}")  # fmt: skip
    else:
        kind = station_values(src.category_system, catalogue).get(str(src.kind).strip())
        if kind is None:
            raise LayerError(f"layer '{LAYER}' ({src.label}): {unknown_kind(str(src.kind), src.category_system, catalogue)} "
                             "in the run's catalogue (life_circle.catalogue); fix kind: of this layer")  # fmt: skip
        pts = clean_geometries(raw, layer=LAYER, kinds=PUNTAL, ledger=ledger).reset_index(drop=True)
        df = gpd.GeoDataFrame({"kind": np.full(len(pts), kind, dtype=object), "name": L._col(pts, src.name_column)},
                              geometry=pts.geometry.to_numpy(), crs=pts.crs)  # fmt: skip
    key = "inputs.stations" if item is None else f"inputs.stations (item {item}, {src.label})"
    check_layer(df, crs, refs, layer=LAYER, label=src.label, declared=L._crs_label(raw.crs) if raw.crs else "none", key=key,
                kinds=df["kind"].to_numpy())  # fmt: skip
    df = L._to_study(df, crs, LAYER, scratch).reset_index(drop=True)
    if note := scratch.layer(LAYER).note:
        L.add_note(ledger, LAYER, note if item is None else f"{src.label}: {note}")
    return df.assign(source=src.label)[["kind", "name", "source", "geometry"]]


def _merge(stations: gpd.GeoDataFrame, ledger: Ledger) -> gpd.GeoDataFrame:
    out, n = merge_duplicates(stations)
    if n:
        rec = ledger.layer(LAYER)
        rec.kept -= n
        rec.dropped[MERGED] += n
    return out


def check_pois(df: gpd.GeoDataFrame, categories: np.ndarray, points: gpd.GeoDataFrame | None, catalogue, crs: CRS,
               src: LayerSource) -> None:  # fmt: skip
    """Stop when a POI layer declared WGS 84 / CGCS2000 is in GCJ-02 or BD-09: compared with OSM's facilities by category.

    Without an OSM file there is nothing to compare with (facilities stand inside blocks, not at the roads).
    """
    if points is None:
        return
    scratch = Ledger()
    osm = pd.concat([osm_layers.facilities_from_points(points, catalogue, scratch, layer="f"),
                     osm_layers.amenities_from_points(points, catalogue, scratch, layer="a").rename(columns={"kind": "category"})])  # fmt: skip
    refs = [Reference("the OSM facilities of the same category", osm.geometry.to_numpy(), kinds=osm["category"].to_numpy())]
    check_layer(df, crs, refs, layer="pois", label=src.label, declared=L._crs_label(df.crs) if df.crs else "none",
                key="inputs.pois", kinds=categories)  # fmt: skip
