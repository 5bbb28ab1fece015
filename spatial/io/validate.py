"""Geometry repair and the data-quality ledger.

Every input layer is accounted for: features read = kept + repaired + dropped, each repair
and each drop with its reason. Nothing disappears without a line in ``data_quality.csv``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

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


def clean_geometries(
    gdf: gpd.GeoDataFrame, *, layer: str, kinds: tuple[str, ...], ledger: Ledger
) -> gpd.GeoDataFrame:
    """Repair or drop unusable geometries of one layer, recording every case in the ledger.

    - null or empty geometries are dropped ("null or empty geometry");
    - invalid polygons are repaired with ``make_valid`` and their polygonal part kept
      ("make_valid"); those with no polygonal part left are dropped;
    - geometries of another kind than ``kinds`` are dropped ("wrong geometry type: X").
    """
    rec = ledger.layer(layer)
    rec.read += len(gdf)
    geoms = gdf.geometry.values
    null = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    if null.any():
        rec.dropped["null or empty geometry"] += int(null.sum())
    gdf = gdf.loc[~null].copy()
    geoms = gdf.geometry.values
    repaired = np.zeros(len(gdf), dtype=bool)
    if kinds == POLYGONAL:
        invalid = ~shapely.is_valid(geoms)
        if invalid.any():
            fixed = shapely.make_valid(geoms[invalid])
            # keep the polygonal part of a GeometryCollection produced by make_valid
            fixed = np.array([_polygonal_part(g) for g in fixed], dtype=object)
            geoms = np.asarray(geoms, dtype=object).copy()
            geoms[invalid] = fixed
            gdf = gdf.set_geometry(gpd.GeoSeries(geoms, index=gdf.index, crs=gdf.crs))
            repaired = invalid.copy()
            gone = invalid & shapely.is_empty(gdf.geometry.values)
            if gone.any():
                rec.dropped["invalid polygon with no area after make_valid"] += int(gone.sum())
                repaired &= ~gone
                gdf = gdf.loc[~gone]
                repaired = repaired[~gone]
    types = gdf.geometry.geom_type.to_numpy()
    wrong = ~np.isin(types, kinds)
    if wrong.any():
        for t, n in Counter(types[wrong]).items():
            rec.dropped[f"wrong geometry type: {t} (expected {'/'.join(kinds)})"] += n
        gdf = gdf.loc[~wrong]
        repaired = repaired[~wrong]
    n_rep = int(repaired.sum())
    if n_rep:
        rec.repaired["make_valid"] += n_rep
    rec.kept += len(gdf) - n_rep
    return gdf


def _polygonal_part(g: shapely.Geometry) -> shapely.Geometry:
    if g.geom_type in POLYGONAL:
        return g
    parts = [p for p in getattr(g, "geoms", []) if p.geom_type in POLYGONAL]
    if not parts:
        return shapely.Polygon()
    return shapely.union_all(parts)


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
