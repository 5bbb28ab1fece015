"""Geometry repair and the data-quality ledger.

Every input layer is accounted for: features read = kept + repaired + dropped, each repair
and each drop with its reason. Nothing disappears without a line in ``data_quality.csv``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ditan.spatial.errors import LayerError, feature_list

__all__ = [
    "LayerRecord",
    "DataGap",
    "Ledger",
    "clean_geometries",
    "drop_null_geometries",
    "require_columns",
    "require_unique_ids",
]

POLYGONAL = ("Polygon", "MultiPolygon")
LINEAR = ("LineString", "MultiLineString")
PUNTAL = ("Point", "MultiPoint")


@dataclass
class LayerRecord:
    """What happened to one layer's features."""

    layer: str
    read: int = 0
    kept: int = 0
    repaired: Counter = field(default_factory=Counter)
    dropped: Counter = field(default_factory=Counter)
    outside_study_area: int = 0
    flagged: Counter = field(
        default_factory=Counter
    )  # kept, but with a caveat (e.g. an unknown land-use code)
    note: str = ""

    @property
    def repaired_total(self) -> int:
        return int(sum(self.repaired.values()))

    @property
    def dropped_total(self) -> int:
        return int(sum(self.dropped.values()))

    def balanced(self) -> bool:
        return self.read == self.kept + self.repaired_total + self.dropped_total


@dataclass
class DataGap:
    """Something the indicators need that no source holds anywhere in the study window (not a service gap)."""

    what: str  # e.g. "life-circle category elderly_home 养老院 Elderly home", "layer buildings"
    fix: str  # what the user can do, e.g. "add a POI layer or confirm none exists (life_circle.confirmed_absent)"
    columns: tuple[str, ...] = ()  # the indicator columns left NaN by it


class Ledger:
    """The data-quality ledger of one run."""

    def __init__(self) -> None:
        self.records: dict[str, LayerRecord] = {}
        self.gaps: dict[
            str, DataGap
        ] = {}  # by ``what``; one row each in data_quality.csv (layer "data gap")

    def gap(self, what: str, fix: str, columns: tuple[str, ...] | list[str] = ()) -> DataGap:
        """Name a data gap (once per ``what``; columns are added up)."""
        g = self.gaps.get(what)
        if g is None:
            g = self.gaps[what] = DataGap(what, fix, tuple(columns))
        else:
            g.columns = tuple(dict.fromkeys(g.columns + tuple(columns)))
        return g

    def layer(self, name: str) -> LayerRecord:
        if name not in self.records:
            self.records[name] = LayerRecord(layer=name)
        return self.records[name]

    def merged(self, *others: Ledger) -> Ledger:
        """A new ledger: this one's rows, then each of ``others`` added in; none of them is changed.

        A layer in both has its counts summed and its notes joined; a gap in both keeps its fix and
        adds up its columns (as :meth:`gap` does). Rows keep their order: this ledger's first.
        """
        out = Ledger()
        for ledger in (self, *others):
            for name, r in ledger.records.items():
                rec = out.layer(name)
                rec.read += r.read
                rec.kept += r.kept
                rec.outside_study_area += r.outside_study_area
                rec.repaired.update(r.repaired)
                rec.dropped.update(r.dropped)
                rec.flagged.update(r.flagged)
                if r.note and r.note != rec.note:
                    rec.note = f"{rec.note}; {r.note}" if rec.note else r.note
            for g in ledger.gaps.values():
                out.gap(g.what, g.fix, g.columns)
        return out

    def to_frame(self) -> pd.DataFrame:
        rows = []
        for r in self.records.values():
            rows.append(
                {
                    "layer": r.layer,
                    "features_read": r.read,
                    "kept": r.kept,
                    "repaired": r.repaired_total,
                    "repaired_how": "; ".join(f"{k}: {v}" for k, v in sorted(r.repaired.items())),
                    "dropped": r.dropped_total,
                    "dropped_why": "; ".join(f"{k}: {v}" for k, v in sorted(r.dropped.items())),
                    "outside_study_area": r.outside_study_area,
                    "flagged": int(sum(r.flagged.values())),
                    "flagged_why": "; ".join(f"{k}: {v}" for k, v in sorted(r.flagged.items())),
                    "balanced": r.balanced(),
                    "note": r.note,
                }
            )
        for g in self.gaps.values():
            cols = f" (NaN: {', '.join(g.columns)})" if g.columns else ""
            rows.append(
                {
                    "layer": f"data gap: {g.what}",
                    "features_read": 0,
                    "kept": 0,
                    "repaired": 0,
                    "repaired_how": "",
                    "dropped": 0,
                    "dropped_why": "",
                    "outside_study_area": 0,
                    "flagged": 0,
                    "flagged_why": "",
                    "balanced": True,
                    "note": f"DATA GAP 数据缺失: {g.fix}{cols}",
                }
            )
        return pd.DataFrame(rows)


#: the single-part geometry type id of each kind (shapely.get_type_id), and how its parts are collected
_PART_TYPE: dict[tuple[str, ...], int] = {POLYGONAL: 3, LINEAR: 1, PUNTAL: 0}
_PART_NAME: dict[tuple[str, ...], str] = {POLYGONAL: "polygon", LINEAR: "line", PUNTAL: "point"}
_COLLECT: dict[tuple[str, ...], Any] = {
    POLYGONAL: shapely.multipolygons,
    LINEAR: shapely.multilinestrings,
    PUNTAL: shapely.multipoints,
}
_GEOMETRY_COLLECTION = 7
#: the ``attrs`` key the table reader (ditan.spatial.io.vector) sets on points read from a CSV or Excel table
#: with rows whose x or y is empty or not a number: {"count": rows, "reason": the ledger's reason}
UNUSABLE_XY = "coordinates_unusable"


def clean_geometries(
    gdf: gpd.GeoDataFrame,
    *,
    layer: str,
    kinds: tuple[str, ...],
    ledger: Ledger,
    valid: np.ndarray | None = None,
) -> gpd.GeoDataFrame:
    """Repair or drop unusable geometries of one layer, recording every case in the ledger.

    - null or empty geometries are dropped ("null or empty geometry"); the rows of a CSV or Excel
      table whose x or y is empty or not a number (``attrs["coordinates_unusable"]``, set by the table
      reader) are dropped with that reason and examples instead;
    - a GeometryCollection holding parts of the layer's kind keeps those parts (polygons of a units,
      parcels or buildings layer; lines of roads; points) as one feature, counted as repaired
      ("geometry collection: polygon parts kept"); overlapping polygon parts are merged. One with no
      such part is dropped ("geometry collection with no Polygon/MultiPolygon part");
    - invalid polygons are repaired with ``make_valid`` and their polygonal part kept
      ("make_valid"); those with no polygonal part left are dropped;
    - geometries of another kind than ``kinds`` are dropped ("wrong geometry type: X").

    ``valid``: ``shapely.is_valid`` of each row of ``gdf``, when the caller has it already (it is not
    computed again on a whole city's polygons).
    """
    rec = ledger.layer(layer)
    rec.read += len(gdf)
    if valid is not None:
        g = gdf.geometry.values
        valid = np.asarray(valid, dtype=bool)[~(shapely.is_missing(g) | shapely.is_empty(g))]
    gdf = _drop_null(gdf, rec).copy()
    geoms = np.asarray(gdf.geometry.values, dtype=object).copy()
    changed = False
    from_collection = np.zeros(len(gdf), dtype=bool)
    if kinds in _PART_TYPE:
        gc = shapely.get_type_id(geoms) == _GEOMETRY_COLLECTION
        if gc.any():
            parts = _parts_of_kind(geoms[gc], kinds)
            if kinds == POLYGONAL:  # overlapping or edge-sharing parts merged, not left invalid
                bad = ~shapely.is_valid(parts) & ~shapely.is_empty(parts)
                if bad.any():
                    parts[bad] = _parts_of_kind(_make_valid(parts[bad], structure=True), kinds)
            took = np.flatnonzero(gc)[~shapely.is_empty(parts)]
            geoms[took] = parts[~shapely.is_empty(parts)]
            from_collection[took] = True
            changed = True
    repaired = np.zeros(len(gdf), dtype=bool)
    if kinds == POLYGONAL:
        if valid is None:
            valid = shapely.is_valid(geoms)
        elif from_collection.any():  # the parts taken from collections are new geometries
            valid = valid.copy()
            valid[from_collection] = shapely.is_valid(geoms[from_collection])
        invalid = ~valid & np.isin(shapely.get_type_id(geoms), (3, 6))
        if invalid.any():
            # the polygonal part of what make_valid returns (a GeometryCollection may hold lines too)
            geoms[invalid] = _parts_of_kind(_make_valid(geoms[invalid]), POLYGONAL)
            repaired = invalid & ~from_collection
            changed = True
    if changed:
        gdf = gdf.set_geometry(gpd.GeoSeries(geoms, index=gdf.index, crs=gdf.crs))
    gone = (repaired | from_collection) & shapely.is_empty(geoms)
    if gone.any():
        rec.dropped["invalid polygon with no area after make_valid"] += int(gone.sum())
        gdf, repaired, from_collection = gdf.loc[~gone], repaired[~gone], from_collection[~gone]
    types = gdf.geometry.geom_type.to_numpy()
    wrong = ~np.isin(types, kinds)
    if wrong.any():
        for t, n in Counter(types[wrong]).items():
            why = (
                f"geometry collection with no {'/'.join(kinds)} part"
                if t == "GeometryCollection"
                else f"wrong geometry type: {t} (expected {'/'.join(kinds)})"
            )
            rec.dropped[why] += n
        gdf = gdf.loc[~wrong]
        repaired, from_collection = repaired[~wrong], from_collection[~wrong]
    n_rep, n_gc = int(repaired.sum()), int(from_collection.sum())
    if n_rep:
        rec.repaired["make_valid"] += n_rep
    if n_gc:
        part = _PART_NAME[kinds]
        rec.repaired[f"geometry collection: {part} parts kept"] += n_gc
    rec.kept += len(gdf) - n_rep - n_gc
    return gdf


def _drop_null(gdf: gpd.GeoDataFrame, rec: LayerRecord) -> gpd.GeoDataFrame:
    """``gdf`` without its null or empty geometries, each counted as dropped in ``rec`` with its reason."""
    geoms = gdf.geometry.values
    missing = shapely.is_missing(geoms)
    null = missing | shapely.is_empty(geoms)
    if not null.any():
        return gdf
    unusable = gdf.attrs.get(UNUSABLE_XY)
    n_xy = min(int(unusable["count"]), int(missing.sum())) if unusable else 0
    if n_xy:
        rec.dropped[unusable["reason"]] += n_xy
    if int(null.sum()) > n_xy:
        rec.dropped["null or empty geometry"] += int(null.sum()) - n_xy
    return gdf.loc[~null]


def drop_null_geometries(gdf: gpd.GeoDataFrame, *, layer: str, ledger: Ledger) -> gpd.GeoDataFrame:
    """Drop the features with no geometry, counted as read and dropped (for a layer whose kept features are counted later).

    The reasons are those of :func:`clean_geometries` (a table's rows without usable x/y named as such).
    """
    rec = ledger.layer(layer)
    out = _drop_null(gdf, rec)
    rec.read += len(gdf) - len(out)
    return out


def _make_valid(geoms: np.ndarray, *, structure: bool = False) -> np.ndarray:
    """shapely.make_valid; ``structure``: the 'structure' method (overlapping polygons merged), where shapely has it."""
    if structure:
        try:
            return shapely.make_valid(geoms, method="structure")
        except (TypeError, ValueError):  # shapely < 2.1 or GEOS < 3.10: the default method
            pass
    return shapely.make_valid(geoms)


def _parts_of_kind(geoms: np.ndarray, kinds: tuple[str, ...]) -> np.ndarray:
    """Each geometry's parts of ``kinds`` (nested collections and multi-parts flattened), as one geometry each.

    One part: that part (a Polygon, LineString, Point); several: the multi-part geometry in their order;
    none: an empty geometry of the kind.
    """
    parts, owner = shapely.get_parts(geoms, return_index=True)
    while True:  # flatten multi-parts and collections inside collections, level by level
        nested = shapely.get_type_id(parts) >= 4
        if not nested.any():
            break
        sub, where = shapely.get_parts(parts[nested], return_index=True)
        owner = np.concatenate([owner[~nested], owner[nested][where]])
        parts = np.concatenate([parts[~nested], sub])
    keep = (shapely.get_type_id(parts) == _PART_TYPE[kinds]) & ~shapely.is_empty(parts)
    parts, owner = parts[keep], owner[keep]
    order = np.argsort(owner, kind="stable")
    parts, owner = parts[order], owner[order]
    out = np.full(len(geoms), None, dtype=object)
    _COLLECT[kinds](parts, indices=owner, out=out)
    single = np.bincount(owner, minlength=len(geoms)) == 1
    out[single] = shapely.get_geometry(out[single], 0)
    empty: dict[tuple[str, ...], shapely.Geometry] = {
        POLYGONAL: shapely.Polygon(),
        LINEAR: shapely.LineString(),
        PUNTAL: shapely.Point(),
    }
    out[shapely.is_missing(out)] = empty[kinds]
    return out


def require_columns(gdf: pd.DataFrame, columns: list[str], *, layer: str, hint: str = "") -> None:
    """Raise one LayerError naming every missing column."""
    missing = [c for c in columns if c not in gdf.columns]
    if missing:
        raise LayerError(
            f"layer '{layer}' lacks column(s) {', '.join(missing)}; it has "
            f"{', '.join(map(str, gdf.columns))}. {hint}".strip()
        )


def require_unique_ids(ids: pd.Series, *, layer: str) -> None:
    dup = ids[ids.duplicated(keep=False)]
    if len(dup):
        raise LayerError(
            f"layer '{layer}' has duplicate ids: {feature_list(sorted(set(map(str, dup))))}; "
            f"give every feature its own id"
        )
