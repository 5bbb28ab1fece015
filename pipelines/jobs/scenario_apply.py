"""What-if scenarios: the study area with a scenario's changes applied (ditan.pipelines.jobs.scenario reads the file)."""

from __future__ import annotations

import dataclasses

import geopandas as gpd
import pandas as pd

from ditan.pipelines.jobs.scenario import ID_COLUMN, WHAT_COLUMN, Change, Scenario, base_layer
from ditan.spatial.errors import ConfigError
from ditan.spatial.study_area.model import StudyArea
from ditan.spatial.study_area.osm_layers import mark_residential


def _added(changes: list[Change], layer: str, sa: StudyArea, crs) -> gpd.GeoDataFrame | None:
    rows = []
    for c in (c for c in changes if c.action == "add" and c.layer == layer):
        if layer == "parcel":
            rows.append(
                {
                    "parcel_id": f"scenario_{c.row}",
                    "name": c.name or f"方案新增 {c.parcel['tag']}",
                    **c.parcel,
                    "geometry": c.geometry,
                }
            )
            continue
        entries = sa.catalogue.categories if layer == "facility" else sa.catalogue.stations
        for v in c.values:
            rows.append(
                {
                    WHAT_COLUMN[layer]: v,
                    "name": c.name or f"方案新增 {entries[v].zh}",
                    "geometry": c.geometry,
                }
            )
    if not rows:
        return None
    out = gpd.GeoDataFrame(rows, geometry="geometry", crs=crs)
    return out.drop(columns=["code_system"]) if "code_system" in out else out


def _combine(
    base: gpd.GeoDataFrame | None, removes: list, added: gpd.GeoDataFrame | None
) -> gpd.GeoDataFrame | None:
    if base is not None:
        base = base.drop(index=removes)
    if added is None:
        return None if base is None else base.reset_index(drop=True)
    if base is None:
        return added.reset_index(drop=True)
    keep = base.astype(
        {c: object for c in ("osm_id", "outline") if c in base}
    )  # ids stay ids, not floats
    out = pd.concat([keep, added.to_crs(base.crs)], ignore_index=True)
    for c in (
        "osm_id",
        "outline",
    ):  # added features have none: None, as the readers leave it (not NaN)
        if c in out:
            out[c] = out[c].astype(object).where(out[c].notna(), None)
    return gpd.GeoDataFrame(out, geometry=base.geometry.name, crs=base.crs)


def apply_scenario(sa: StudyArea, scenario: Scenario) -> StudyArea:
    """A new StudyArea with the scenario's changes; ``sa`` is not modified (the ledger is shared: compute does not change it)."""
    ch = scenario.changes
    gone = {
        layer: [lab for c in ch if c.action == "remove" and c.layer == layer for lab in c.removes]
        for layer in ID_COLUMN
    }
    for layer, labels in gone.items():
        frame = base_layer(sa, layer)
        if labels and (frame is None or not set(labels) <= set(frame.index)):
            raise ConfigError(
                f"scenario {scenario.path.name}: it was read against another study area ({layer} rows missing)"
            )
    facilities = _combine(sa.facilities, gone["facility"], _added(ch, "facility", sa, sa.crs))
    stations = _combine(sa.stations, gone["station"], _added(ch, "station", sa, sa.crs))
    # a category or kind whose last feature the scenario removes is gone on purpose: a measured 0, not a data gap
    emptied = {
        c for c in sa.facilities["category"].unique() if not (facilities["category"] == c).any()
    } | {k for k in sa.stations["kind"].unique() if not (stations["kind"] == k).any()}
    new = {
        "facilities": facilities,
        "stations": stations,
        "confirmed_absent": sa.confirmed_absent | frozenset(map(str, emptied)),
    }
    added_parcels = _added(ch, "parcel", sa, sa.crs)
    if added_parcels is not None or gone["parcel"]:
        parcels = _combine(sa.parcels, gone["parcel"], added_parcels)
        known = parcels[parcels["lu_class"].notna()]
        if (
            sa.parcels is not None
        ):  # land use is the parcels of a known class, as the loader makes it
            landuse = known[["lu_class", "tag", "name", "geometry"]].reset_index(drop=True)
        else:  # OSM land use plus the added parcels
            landuse = _combine(sa.landuse, [], known[["lu_class", "tag", "name", "geometry"]])
        buildings = sa.buildings.copy()
        buildings["residential"] = mark_residential(buildings, landuse).to_numpy()
        new.update(
            parcels=parcels,
            landuse=landuse,
            buildings=buildings,
            absent={k: v for k, v in sa.absent.items() if k != "landuse"},
            extents={**sa.extents, "landuse": None},
        )
    return dataclasses.replace(sa, **new)
