"""Point layers: the stations of several layers and the OSM file, and the web-map check of supplied point layers.

Stations (``inputs.stations``: one layer or a list, each with ``kind_column`` or a constant ``kind``):

- a supplied layer replaces OSM's stations only for the kinds it supplies (has features of); every other
  kind keeps OSM's. The OSM stations replaced are counted as dropped in the ledger, kind by kind, and a note
  says which kinds came from which source;
- the rows are then merged so that each station counts once (:func:`ditan.spatial.study_area.stations.merge_duplicates`:
  same kind within 50 m, or same kind and name within 150 m; the first row of a group is kept, supplied
  layers in the order given before OSM); the rows merged away are counted in the ledger (dropped, "merged: …"),
  and their positions kept in the kept row's ``members`` (ditan.spatial.study_area.stations.station_access_points);
- the frame has columns kind, name, source (the supplied layer's file, 'table …' or 'SQL query', or OSM) and
  members, plus OSM's osm_id, area_m2 and outline when OSM contributes. OSM-only runs are merged too.

A supplied point layer (stations, pois) declared WGS 84 or CGCS2000 that sits markedly better on the study's
other layers after the GCJ-02 or BD-09 inverse stops the run (:mod:`ditan.spatial.crs.webmap_offset`): stations are
compared with the roads (bus stops) and OSM's stations of their kind, POIs with OSM's facilities of their
category (without an OSM file a POI layer is not judged).
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
from pyproj import CRS

from ditan.pipelines.assemble import reading as L
from ditan.pipelines.config.layer_source import LayerSource
from ditan.pipelines.config.station_source import StationSource
from ditan.spatial.crs.china import SYSTEM_NAMES
from ditan.spatial.crs.webmap_offset import ROADSIDE_KINDS, Reference, check_layer
from ditan.spatial.errors import LayerError
from ditan.spatial.io.validate import (
    PUNTAL,
    Ledger,
    clean_geometries,
    drop_null_geometries,
    require_columns,
)
from ditan.spatial.standards.catalogue import value_lookup
from ditan.spatial.standards.poi_systems import PROVIDERS, match_types
from ditan.spatial.study_area import osm_layers
from ditan.spatial.study_area.stations import (
    SAME_NAME_M,
    SAME_PLACE_M,
    merge_duplicates,
    station_values,
    unknown_kind,
)

LAYER = "stations"
MERGED = (
    f"merged: same station from two sources or listed once per line (same kind within {SAME_PLACE_M:.0f} m, "
    f"or same kind and name within {SAME_NAME_M:.0f} m)"
)


def load_stations(
    srcs: StationSource | list[StationSource] | None,
    points: gpd.GeoDataFrame | None,
    catalogue,
    crs: CRS,
    ledger: Ledger,
    roads: gpd.GeoDataFrame | None = None,
) -> gpd.GeoDataFrame:
    """Every station of the run in the metric CRS ``crs``, each once (see the module's description)."""
    layers = [] if srcs is None else list(srcs) if isinstance(srcs, list) else [srcs]
    osm = (
        osm_layers.stations_from_points(points, catalogue, ledger, layer=LAYER)
        if points is not None
        else None
    )
    if not layers:
        if osm is None:
            return gpd.GeoDataFrame({"kind": [], "name": [], "source": []}, geometry=[], crs=crs)
        return _merge(osm.assign(source="OSM"), ledger)
    refs = []
    if roads is not None and len(roads):
        refs.append(Reference("the roads", roads.geometry.to_numpy(), points_of=ROADSIDE_KINDS))
    if osm is not None and len(osm):
        refs.append(
            Reference(
                "the OSM stations of the same kind",
                osm.geometry.to_numpy(),
                kinds=osm["kind"].to_numpy(),
            )
        )
    frames = [
        _one_layer(src, i if len(layers) > 1 else None, catalogue, crs, ledger, refs)
        for i, src in enumerate(layers)
    ]
    supplied: dict[str, list[str]] = {}  # kind → the layers that supply it, as named in the ledger
    for i, (src, frame) in enumerate(zip(layers, frames, strict=True)):
        name = (
            "the stations layer (inputs.stations)"
            if len(layers) == 1
            else f"stations layer '{src.label}' (inputs.stations.{i})"
        )
        for kind in pd.unique(frame["kind"]):
            supplied.setdefault(str(kind), []).append(name)
    if osm is not None:
        replaced = osm["kind"].isin(list(supplied)).to_numpy()
        rec = ledger.layer(LAYER)
        for kind, n in osm.loc[replaced, "kind"].value_counts().sort_index().items():
            rec.kept -= int(n)
            rec.dropped[f"OSM {kind} replaced by {', '.join(supplied[kind])}"] += int(n)
        osm = osm[~replaced].assign(source="OSM")
        osm = osm.astype({c: object for c in ("osm_id", "outline") if c in osm})
    by_source: dict[str, list[str]] = {}
    for kind in catalogue.stations:
        where = (
            f"from {', '.join(supplied[kind])}"
            if kind in supplied
            else "from OSM"
            if osm is not None
            else "from no source (no layer has them, no OSM file)"
        )
        by_source.setdefault(where, []).append(kind)
    L.add_note(
        ledger,
        LAYER,
        "; ".join(f"{', '.join(kinds)} {where}" for where, kinds in by_source.items()),
    )
    parts = [f for f in [*frames, osm] if f is not None and len(f)]
    if not parts:
        return gpd.GeoDataFrame({"kind": [], "name": [], "source": []}, geometry=[], crs=crs)
    out = gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), geometry="geometry", crs=crs)
    for c in (
        "osm_id",
        "outline",
    ):  # supplied rows have none: None, as the OSM reader leaves it (not NaN)
        if c in out:
            out[c] = out[c].astype(object).where(out[c].notna(), None)
    return _merge(out, ledger)


def _one_layer(
    src: StationSource, item: int | None, catalogue, crs: CRS, ledger: Ledger, refs: list[Reference]
) -> gpd.GeoDataFrame:
    """One supplied layer in ``crs``: kind, name, source; notes on its reading prefixed with its name when there are several."""
    scratch = (
        Ledger()
    )  # the reader's notes (conversion, reprojection), to be labelled with the layer
    raw = L._read(src, LAYER, scratch)
    require_columns(
        raw,
        [c for c in (src.kind_column, src.name_column) if c],
        layer=LAYER,
        hint=f"check kind_column / name_column of the stations layer {src.label}",
    )
    if src.kind_column:
        df = by_column(
            raw,
            src,
            src.kind_column,
            catalogue.stations,
            ledger,
            LAYER,
            "kind",
            where="" if item is None else f" in {src.label}",
            others={**catalogue.amenities, **catalogue.categories},
        )
    else:
        kind = station_values(src.category_system, catalogue).get(str(src.kind).strip())
        if kind is None:
            raise LayerError(
                f"layer '{LAYER}' ({src.label}): {unknown_kind(str(src.kind), src.category_system, catalogue)} "
                "in the run's catalogue (life_circle.catalogue); fix kind: of this layer"
            )
        pts = clean_geometries(raw, layer=LAYER, kinds=PUNTAL, ledger=ledger).reset_index(drop=True)
        df = gpd.GeoDataFrame(
            {"kind": np.full(len(pts), kind, dtype=object), "name": L._col(pts, src.name_column)},
            geometry=pts.geometry.to_numpy(),
            crs=pts.crs,
        )
    key = "inputs.stations" if item is None else f"inputs.stations.{item} ({src.label})"
    df.attrs["source_crs"] = raw.attrs.get(
        "source_crs"
    )  # converted from gcj02 / bd09 already: not judged again
    check_layer(
        df,
        crs,
        refs,
        layer=LAYER,
        label=src.label,
        declared=L._crs_label(raw.crs) if raw.crs else "none",
        key=key,
        kinds=df["kind"].to_numpy(),
    )
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


def load_facilities(
    src: LayerSource | None, points: gpd.GeoDataFrame | None, catalogue, crs: CRS, ledger: Ledger
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Life-circle facilities (category) and the community amenities counted in each unit (kind)."""
    layer = "life-circle facilities"
    if src is None:
        if points is None:
            empty = gpd.GeoDataFrame({"category": [], "name": []}, geometry=[], crs=crs)
            return empty, empty.rename(columns={"category": "kind"})
        return (
            osm_layers.facilities_from_points(points, catalogue, ledger, layer=layer),
            osm_layers.amenities_from_points(
                points, catalogue, ledger, layer="community amenities"
            ),
        )
    raw = L._read(src, "pois", ledger, layer)
    require_columns(raw, [c for c in (src.category_column, src.name_column) if c], layer="pois")
    if src.category_column:
        entries = {**catalogue.amenities, **catalogue.categories}
        df = by_column(
            raw,
            src,
            src.category_column,
            entries,
            ledger,
            layer,
            "category",
            others=catalogue.stations,
        )
        check_pois(
            df, df["category"].to_numpy(), points, catalogue, crs, src, raw.attrs
        )  # GCJ-02 / BD-09 declared WGS 84?
        df = L._to_study(df, crs, "pois", ledger, layer).reset_index(drop=True)
        is_amenity = df["category"].isin(list(catalogue.amenities)).to_numpy()
        amenities = df[is_amenity].rename(columns={"category": "kind"}).reset_index(drop=True)
        return df[~is_amenity].reset_index(drop=True), amenities
    raw = drop_null_geometries(raw, layer=layer, ledger=ledger)  # e.g. table rows without x/y
    pts = raw.rename(columns={src.name_column: "name"}) if src.name_column else raw.copy()
    pts["osm_id"] = np.arange(len(pts))
    pts["area_m2"] = np.nan
    probe = osm_layers.facilities_from_points(
        pts[pts.geometry.notna()], catalogue, Ledger(), layer=layer
    )  # tags → categories
    check_pois(probe, probe["category"].to_numpy(), points, catalogue, crs, src, raw.attrs)
    pts = L._to_study(pts, crs, "pois", ledger, layer)
    return (
        osm_layers.facilities_from_points(pts, catalogue, ledger, layer=layer),
        osm_layers.amenities_from_points(pts, catalogue, ledger, layer="community amenities"),
    )


def by_column(
    raw: gpd.GeoDataFrame,
    src: LayerSource,
    column: str,
    entries,
    ledger: Ledger,
    layer: str,
    out_col: str,
    where: str = "",
    others=None,
) -> gpd.GeoDataFrame:
    """The entries each point's ``column`` names, one row per entry named; the rest dropped and counted.

    A web map's types (:func:`by_provider`, amap / baidu), else the catalogue's values (:func:`by_value`: ids,
    Chinese names, aliases, or Overture categories).
    """
    if src.category_system in PROVIDERS:
        return by_provider(raw, src, column, entries, ledger, layer, out_col, where, others)
    return by_value(raw, src, column, entries, ledger, layer, out_col, where)


def by_value(
    raw: gpd.GeoDataFrame,
    src: LayerSource,
    column: str,
    entries,
    ledger: Ledger,
    layer: str,
    out_col: str,
    where: str = "",
) -> gpd.GeoDataFrame:
    """Points whose column value names a catalogue entry, one row per entry named; the rest dropped and counted.

    ``where`` ends the reasons of the dropped (e.g. " in bus.csv", when a ledger layer has several sources).
    """
    pts = clean_geometries(raw, layer=layer, kinds=PUNTAL, ledger=ledger).reset_index(drop=True)
    value = pts[column].astype("string").str.strip().fillna("")
    hit = pd.DataFrame({"row": np.arange(len(pts)), "value": value.to_numpy()}).merge(
        value_lookup(entries, src.category_system), on="value"
    )
    hit = hit.drop_duplicates(["row", "category"]).sort_values(["row", "category"], kind="stable")
    rec = ledger.layer(layer)
    bad = ~np.isin(np.arange(len(pts)), hit["row"].to_numpy())
    what = "a category" if out_col == "category" else "a station kind"
    for v, n in value[bad].value_counts().sort_index().items():
        rec.kept -= int(n)
        rec.dropped[
            f"'{v}' is not {what} of the catalogue ({src.category_system} values){where}"
        ] += int(n)
    rows = hit["row"].to_numpy()
    return gpd.GeoDataFrame(
        {out_col: hit["category"].to_numpy(), "name": L._col(pts, src.name_column)[rows]},
        geometry=pts.geometry.to_numpy()[rows],
        crs=pts.crs,
    )


#: how many of the most frequent unmapped types a ledger line names
TOP_TYPES = 10


def by_provider(
    raw: gpd.GeoDataFrame,
    src: LayerSource,
    column: str,
    entries,
    ledger: Ledger,
    layer: str,
    out_col: str,
    where: str = "",
    others=None,
) -> gpd.GeoDataFrame:
    """As :func:`by_value`, for a web map's types (category_system / kind_system amap or baidu).

    Each row's types (several joined by |) are matched by :func:`ditan.spatial.standards.poi_systems.match_types`
    (Amap's typecode first — ``typecode_column``, else a column named typecode — then the category path);
    one row per id the row names. Dropped and counted: rows naming only ``others`` (station kinds in a POI
    layer, categories in a stations layer: the same export feeds both), and rows naming nothing, listed by
    their most frequent type values (:data:`TOP_TYPES`, then how many other values).
    """
    system = src.category_system
    codes_col = src.typecode_column or (
        "typecode" if system == "amap" and "typecode" in raw.columns else None
    )
    if codes_col:
        require_columns(raw, [codes_col], layer=layer, hint="check typecode_column of the layer")
    pts = clean_geometries(raw, layer=layer, kinds=PUNTAL, ledger=ledger).reset_index(drop=True)
    types = pts[column].astype("string").fillna("")
    codes = pts[codes_col].astype("string").fillna("") if codes_col else None
    named = value_lookup(entries, "catalogue")  # ids, Chinese names, aliases (extend_categories)
    hit = match_types(types, system, codes=codes, ids=list(entries), extra_values=named)
    rec = ledger.layer(layer)
    bad = ~np.isin(np.arange(len(pts)), hit["row"].to_numpy())
    key = "kind_system" if out_col == "kind" else "category_system"
    if bad.any():
        elsewhere = np.zeros(len(pts), dtype=bool)
        if others:
            other = match_types(
                types[bad].reset_index(drop=True),
                system,
                codes=None if codes is None else codes[bad].reset_index(drop=True),
                ids=list(others),
                extra_values=value_lookup(others, "catalogue"),
            )
            elsewhere[np.flatnonzero(bad)[other["row"].unique()]] = True
        if n := int(elsewhere.sum()):
            rec.kept -= n
            rec.dropped[
                "types naming station kinds, not life-circle categories (read them with a stations layer, "
                f"kind_system: {system}){where}"
                if out_col == "category"
                else f"types naming life-circle categories, not station kinds (read them as pois, category_system: {system}){where}"
            ] += n
        none = bad & ~elsewhere
        if n := int(none.sum()):
            counts = types[none].str.strip().replace("", "(empty)").value_counts().sort_index()
            counts = counts.sort_values(ascending=False, kind="stable")  # ties in text order
            top = ", ".join(f"'{v}' {c}" for v, c in counts.head(TOP_TYPES).items())
            rest = len(counts) - TOP_TYPES
            more = f", … and {rest} other types" if rest > 0 else ""
            what = "station kind" if out_col == "kind" else "life-circle category or amenity"
            rec.kept -= n
            rec.dropped[
                f"types naming no {what} in the {system} table (spatial/standards/poi_systems.yaml; {key}: {system})"
                f"{where}; most frequent: {top}{more}"
            ] += n
    rows = hit["row"].to_numpy()
    names = L._col(pts, src.name_column)[rows]
    return gpd.GeoDataFrame(
        {out_col: hit["category"].to_numpy(dtype=object), "name": names},
        geometry=pts.geometry.to_numpy()[rows],
        crs=pts.crs,
    )


def check_pois(
    df: gpd.GeoDataFrame,
    categories: np.ndarray,
    points: gpd.GeoDataFrame | None,
    catalogue,
    crs: CRS,
    src: LayerSource,
    raw_attrs: dict,
) -> None:
    """Stop when a POI layer declared WGS 84 / CGCS2000 is in GCJ-02 or BD-09: compared with OSM's facilities by category.

    Without an OSM file there is nothing to compare with (facilities stand inside blocks, not at the roads).
    """
    if (
        points is None or raw_attrs.get("source_crs") in SYSTEM_NAMES
    ):  # no OSM; or converted from gcj02 / bd09 already
        return
    scratch = Ledger()
    osm = pd.concat(
        [
            osm_layers.facilities_from_points(points, catalogue, scratch, layer="f"),
            osm_layers.amenities_from_points(points, catalogue, scratch, layer="a").rename(
                columns={"kind": "category"}
            ),
        ]
    )
    refs = [
        Reference(
            "the OSM facilities of the same category",
            osm.geometry.to_numpy(),
            kinds=osm["category"].to_numpy(),
        )
    ]
    check_layer(
        df,
        crs,
        refs,
        layer="pois",
        label=src.label,
        declared=L._crs_label(df.crs) if df.crs else "none",
        key="inputs.pois",
        kinds=categories,
    )
