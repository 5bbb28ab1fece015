"""What-if scenarios: add or remove facilities, stations and parcels, and compare the indicators.

A scenario file (GeoPackage, GeoJSON, Shapefile, or CSV with x/y or lon/lat columns in WGS 84)
holds one change per row; rows are numbered from 1 in file order (in a CSV, row 1 is the line
after the header). Columns:

- ``action``: add | remove (新增 / 删除);
- ``layer``: facility | station | parcel (设施 / 站点 / 地块);
- ``category`` (facility: catalogue id, Chinese name or alias), ``kind`` (station: bus_stop,
  metro, bike_rental, ev_charging or the Chinese name); on a remove they narrow the match;
- ``code`` and ``code_system`` (parcel; default: the config's parcel code system), optional
  ``far``, ``floor_area``, ``green_ratio``, ``height_limit`` (also with _m2 / _pct / _m);
- ``name`` (optional), ``target_id`` (remove: osm_id of an OSM facility or station, parcel_id of a parcel).

Geometry: a point for facilities and stations, a polygon for an added parcel. A remove without
``target_id`` takes the nearest feature of that layer (and category / kind) within 20 m. A remove
with a category removes that category of the feature only; without, the feature in all its categories.

This module reads and validates the file; ditan.pipelines.jobs.scenario_apply applies it to a study
area and ditan.pipelines.jobs.scenario_compare compares the indicators. A YAML plan file (``--scenario plan.yaml``:
carbon ``measures:`` and an optional ``changes:`` feature file) is read by ditan.pipelines.jobs.scenario_plan.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ditan.pipelines.outputs import files as write
from ditan.spatial.crs.metric import to_metric
from ditan.spatial.errors import ConfigError
from ditan.spatial.io.vector import read_vector
from ditan.spatial.landuse.codes import CODE_SYSTEMS, classify_codes
from ditan.spatial.standards.carbon_measures import PlanMeasures
from ditan.spatial.standards.catalogue import Category, value_lookup
from ditan.spatial.study_area.model import StudyArea

ACTIONS = {
    "add": "add",
    "新增": "add",
    "增加": "add",
    "remove": "remove",
    "删除": "remove",
    "拆除": "remove",
}


LAYERS = {
    "facility": "facility",
    "设施": "facility",
    "station": "station",
    "站点": "station",
    "parcel": "parcel",
    "地块": "parcel",
}


NUMBERS = {"far": "far", "floor_area": "floor_area_m2", "floor_area_m2": "floor_area_m2", "green_ratio": "green_ratio_pct",
           "green_ratio_pct": "green_ratio_pct", "height_limit": "height_limit_m", "height_limit_m": "height_limit_m"}  # fmt: skip


MATCH_M = 20.0  # a remove without target_id takes the nearest feature within this distance


OUTSIDE_M = 1000.0  # an added feature further than this from the study bounds is a mistake (usually the CRS)


ID_COLUMN = {"facility": "osm_id", "station": "osm_id", "parcel": "parcel_id"}


WHAT_COLUMN = {"facility": "category", "station": "kind"}


PARCEL_COLUMNS = (
    "parcel_id",
    "tag",
    "name",
    "floor_area_m2",
    "far",
    "height_limit_m",
    "green_ratio_pct",
    "lu_class",
    "code",
)


@dataclass
class Change:
    """One validated row of a scenario file."""

    row: int  # 1-based, in file order
    action: str  # add | remove
    layer: str  # facility | station | parcel
    values: tuple[
        str, ...
    ] = ()  # category ids / station kinds (add: what is added; remove: the filter)
    name: str | None = None
    geometry: shapely.Geometry | None = None  # in the study CRS
    parcel: dict = field(default_factory=dict)  # add parcel: tag, code, lu_class and the numbers
    target_id: str = ""
    removes: tuple = ()  # remove: index labels of the matched rows of the base layer
    matched: str = ""  # remove: what was matched, for the report


@dataclass
class Scenario:
    path: Path  # the scenario file: a feature file of changes, or a plan file (ditan.pipelines.jobs.scenario_plan)
    sha256: str
    changes: list[Change]
    #: a plan file's carbon measures (its ``measures:`` section); None: a feature file alone, no reduction rate
    measures: PlanMeasures | None = None
    changes_file: Path | None = None  # a plan file's ``changes:`` feature file
    changes_sha256: str = ""

    def table(self) -> pd.DataFrame:
        """One row per change: row, action, layer, what, name, matched, x, y (study CRS)."""
        rows = []
        for c in self.changes:
            at = shapely.centroid(c.geometry) if c.geometry is not None else None
            what = "/".join(c.values) or c.parcel.get("tag", "")
            rows.append(
                {
                    "row": c.row,
                    "action": c.action,
                    "layer": c.layer,
                    "what": what,
                    "name": c.name or "",
                    "target_id": c.target_id,
                    "matched": c.matched,
                    "x": at.x if at else np.nan,
                    "y": at.y if at else np.nan,
                }
            )
        return pd.DataFrame(
            rows,
            columns=["row", "action", "layer", "what", "name", "target_id", "matched", "x", "y"],
        )

    def summary(self) -> dict:
        """For the manifest: the file, its hash and the changes counted by action and layer."""
        counts = (
            pd.Series([f"{c.action} {c.layer}" for c in self.changes]).value_counts().sort_index()
        )
        out = {
            "file": str(self.path),
            "sha256": self.sha256,
            "rows": len(self.changes),
            "changes": {k: int(v) for k, v in counts.items()},
        }
        if self.changes_file is not None:
            out["changes_file"] = {"file": str(self.changes_file), "sha256": self.changes_sha256}
        if self.measures is not None:
            out["measures"] = {r["measure"]: r["value"] for r in self.measures.table()}
        return out


def _text(v: object) -> str:
    """A cell as text: '' for empty, 123 for a float 123.0 (ids read as numbers)."""
    if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA:
        return ""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v).strip()


def _missing(g: object) -> bool:
    return g is None or shapely.is_empty(g) or bool(np.isnan(shapely.get_coordinates(g)).any())


def _read(path: Path, crs: str | None) -> gpd.GeoDataFrame:
    if path.suffix.lower() != ".csv":
        return read_vector(path, layer_name="scenario", crs=crs)
    head = ""
    for enc in ("utf-8-sig", "gb18030"):
        try:
            head = path.read_text(encoding=enc).splitlines()[0] if path.stat().st_size else ""
            break
        except UnicodeDecodeError:
            continue
    names = [h.strip().lower() for h in head.split(",")]
    original = [h.strip() for h in head.split(",")]
    for x, y in (("x", "y"), ("lon", "lat"), ("lng", "lat"), ("longitude", "latitude")):
        if x in names and y in names:
            return read_vector(
                path,
                layer_name="scenario",
                crs=crs or "EPSG:4326",
                x_column=original[names.index(x)],
                y_column=original[names.index(y)],
            )
    raise ConfigError(
        f"scenario {path.name}: a CSV needs coordinate columns x and y (or lon and lat, WGS 84); it has {', '.join(original)}"
    )


def read_scenario(path: str | Path, sa: StudyArea, *, crs: str | None = None) -> Scenario:
    """Read and validate a scenario file against the study area; every bad row is reported in one ConfigError.

    ``crs`` declares the file's coordinate system (default: the file's own; a CSV: EPSG:4326). An added parcel's
    code is read in the study area's code system (the config's inputs.parcels.code_system) unless its row says.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"scenario file not found: {path}")
    raw = _read(path, crs)
    raw = raw.rename(
        columns={c: str(c).strip().lower() for c in raw.columns if c != raw.geometry.name}
    )
    missing = [c for c in ("action", "layer") if c not in raw.columns]
    if missing:
        raise ConfigError(
            f"scenario {path.name} has no column {' or '.join(missing)}; every row needs action (add | remove) "
            f"and layer (facility | station | parcel); it has {', '.join(map(str, raw.columns))}"
        )
    if raw.crs is not None:
        raw = to_metric(raw, sa.crs, "scenario")
    default_system = sa.code_system
    problems: list[str] = []
    changes = []
    for i, rec in enumerate(raw.to_dict("records")):
        change = _row(i + 1, rec, raw.geometry.name, sa, default_system, problems)
        if change is not None:
            changes.append(change)
    seen: dict[tuple, int] = {}
    for c in changes:
        for label in c.removes:
            first = seen.setdefault((c.layer, label), c.row)
            if first != c.row:
                problems.append(
                    f"row {c.row}: removes the same {c.layer} as row {first} ({c.matched}); remove each feature once"
                )
                break
    if problems:
        raise ConfigError(
            f"{len(problems)} problem(s) in scenario {path.name} (rows numbered from 1 in file order):\n"
            + "\n".join(f"  - {p}" for p in problems)
        )
    if not changes:
        raise ConfigError(
            f"scenario {path.name} has no rows; add one row per change (action, layer, geometry)"
        )
    return Scenario(path=path, sha256=write.file_sha256(path), changes=changes)


def _lookup(entries: dict[str, Category], value: str) -> tuple[str, ...]:
    lk = value_lookup(entries, "catalogue")
    return tuple(lk.loc[lk["value"] == value, "category"].drop_duplicates())


def _row(
    n: int, rec: dict, geom_col: str, sa: StudyArea, default_system: str, problems: list[str]
) -> Change | None:
    bad = len(problems)
    action, layer = (
        ACTIONS.get(_text(rec.get("action")).lower()),
        LAYERS.get(_text(rec.get("layer")).lower()),
    )
    if action is None:
        problems.append(f"row {n}: unknown action '{_text(rec.get('action'))}'; use add or remove")
    if layer is None:
        problems.append(
            f"row {n}: unknown layer '{_text(rec.get('layer'))}'; use facility, station or parcel"
        )
    geom = rec.get(geom_col)
    geom = None if _missing(geom) else geom
    target = _text(rec.get("target_id"))
    if geom is None and (action == "add" or (action == "remove" and not target)):
        need = "a polygon" if layer == "parcel" and action == "add" else "a point"
        problems.append(
            f"row {n}: no geometry; draw {need}"
            + (" or give target_id" if action == "remove" else "")
        )
    values: tuple[str, ...] = ()
    if layer in WHAT_COLUMN:
        col = WHAT_COLUMN[layer]
        entries = sa.catalogue.categories if layer == "facility" else sa.catalogue.stations
        value = _text(rec.get(col))
        if value:
            values = _lookup(entries, value)
            if not values:
                examples = ", ".join(f"{c.id} / {c.zh}" for c in list(entries.values())[:4])
                problems.append(
                    f"row {n}: unknown {col} '{value}'; use a catalogue id, Chinese name or alias (e.g. {examples} …)"
                )
        elif action == "add":
            problems.append(f"row {n}: adding a {layer} needs a {col} column value")
    if action is None or layer is None or len(problems) > bad:
        return None
    change = Change(
        row=n,
        action=action,
        layer=layer,
        values=values,
        name=_text(rec.get("name")) or None,
        geometry=geom,
        target_id=target,
    )
    if action == "add":
        _check_add(change, rec, sa, default_system, problems)
    else:
        _match(change, sa, problems)
    return change if len(problems) == bad else None


def _check_add(
    change: Change, rec: dict, sa: StudyArea, default_system: str, problems: list[str]
) -> None:
    n, g = change.row, change.geometry
    kinds = ("Polygon", "MultiPolygon") if change.layer == "parcel" else ("Point",)
    if g.geom_type not in kinds:
        problems.append(
            f"row {n}: adding a {change.layer} needs a {' or '.join(kinds).lower()} geometry, not a {g.geom_type.lower()}"
        )
        return
    off = shapely.distance(g, sa.bounds)
    if off > OUTSIDE_M:
        problems.append(
            f"row {n}: lies {off / 1000:,.1f} km outside the study area; check the scenario file's coordinate system"
        )
    source = {"facility": sa.has_facility_source, "station": sa.has_station_source}.get(
        change.layer, True
    )
    if not source:
        key = "pois" if change.layer == "facility" else "stations"
        problems.append(
            f"row {n}: the study area has no {change.layer} source, so its indicators are not assessed and the "
            f"added {change.layer} would change nothing; name inputs.{key} or inputs.osm in the config"
        )
    if change.layer != "parcel":
        return
    change.geometry = shapely.make_valid(g) if not shapely.is_valid(g) else g
    system = _text(rec.get("code_system")).lower() or default_system
    code = _text(rec.get("code"))
    if system not in CODE_SYSTEMS:
        problems.append(
            f"row {n}: unknown code_system '{system}'; use one of {', '.join(CODE_SYSTEMS)}"
        )
        return
    if not code:
        problems.append(
            f"row {n}: adding a parcel needs a land-use code (column code, {system} codes)"
        )
        return
    cls = classify_codes(pd.Series([code]), system).iloc[0]
    if cls["lu_class"] is None:
        problems.append(
            f"row {n}: '{code}' is not a {system} land-use code; use a code of that system or set code_system"
        )
    numbers = dict.fromkeys(NUMBERS.values(), np.nan)
    for col, key in NUMBERS.items():
        v = _text(rec.get(col))
        x = float(pd.to_numeric(v, errors="coerce")) if v else np.nan
        if v and np.isnan(x):
            problems.append(f"row {n}: {col} '{v}' is not a number")
        elif np.isnan(numbers[key]):
            numbers[key] = x
    if numbers["far"] < 0 or numbers["far"] > 30:
        problems.append(f"row {n}: far {numbers['far']:g} is outside 0–30")
    if numbers["floor_area_m2"] < 0:
        problems.append(f"row {n}: floor_area {numbers['floor_area_m2']:g} is negative")
    change.parcel = {
        "tag": code,
        "code": cls["code"],
        "lu_class": cls["lu_class"],
        "code_system": system,
        **numbers,
    }


def base_layer(sa: StudyArea, layer: str) -> gpd.GeoDataFrame | None:
    return {"facility": sa.facilities, "station": sa.stations, "parcel": sa.parcels}[layer]


def _match(change: Change, sa: StudyArea, problems: list[str]) -> None:
    """Find the rows of the base layer a remove takes away (change.removes), or report why none."""
    n, frame = change.row, base_layer(sa, change.layer)
    what = change.layer + (f" ({'/'.join(change.values)})" if change.values else "")
    if frame is None or frame.empty:
        problems.append(
            f"row {n}: the study area has no {change.layer} layer to remove from"
            + (" (name inputs.parcels in the config)" if change.layer == "parcel" else "")
        )
        return
    sel = (
        frame[WHAT_COLUMN[change.layer]].isin(change.values).to_numpy()
        if change.values
        else np.ones(len(frame), dtype=bool)
    )
    idcol = ID_COLUMN[change.layer]
    ids = frame[idcol].map(_text).to_numpy() if idcol in frame else None
    if change.target_id:
        if ids is None:
            problems.append(
                f"row {n}: target_id given but the {change.layer} layer has no ids ({idcol}); leave target_id empty "
                f"and place the row within {MATCH_M:g} m of the feature"
            )
            return
        hit = sel & (ids == change.target_id)
        if not hit.any():
            problems.append(f"row {n}: no {what} with id '{change.target_id}'")
            return
        change.matched = f"{idcol} {change.target_id}"
    else:
        geoms = frame.geometry.to_numpy()
        d = shapely.distance(geoms, change.geometry)
        if "outline" in frame:
            outline = frame["outline"].to_numpy()
            has = np.array(
                [o is not None and not (isinstance(o, float) and np.isnan(o)) for o in outline]
            )
            d[has] = np.minimum(
                d[has], shapely.distance(outline[has].astype(object), change.geometry)
            )
        d = np.where(sel, d, np.inf)
        overlap = (
            shapely.area(shapely.intersection(geoms, change.geometry))
            if change.layer == "parcel"
            else np.zeros(len(d))
        )
        i = int(np.lexsort((-overlap, d))[0])
        if not d[i] <= MATCH_M:
            near = f"the nearest is {d[i]:,.0f} m away" if np.isfinite(d[i]) else "there is none"
            problems.append(
                f"row {n}: no {what} within {MATCH_M:g} m of the row's geometry ({near}); move it onto the feature "
                "or give target_id"
            )
            return
        if change.layer == "parcel":
            hit = np.arange(len(frame)) == i
        else:  # the feature in every category it has (or only those of the row's filter)
            hit = sel & shapely.equals_exact(geoms, geoms[i], tolerance=0.0)
            if ids is not None:
                hit &= ids == ids[i]
        label = f"{idcol} {ids[i]}" if ids is not None and ids[i] else "feature"
        change.matched = f"{label} {_text(frame['name'].iloc[i])} ({d[i]:.1f} m)".replace("  ", " ")
    change.removes = tuple(frame.index[hit])
    if change.layer != "parcel":
        change.matched += f" [{', '.join(frame[WHAT_COLUMN[change.layer]].to_numpy()[hit])}]"
