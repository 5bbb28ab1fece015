"""The buildings layer: footprints with floors (given, from height, or by type), residents and the residential flag."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from ditan.pipelines.assemble.reading import _closed_rings, _col, _number, _read, _to_study
from ditan.pipelines.config.layer_source import LayerSource
from ditan.pipelines.config.options import BuildingOptions
from ditan.spatial.indicators.intensity import estimate_floors
from ditan.spatial.io.osm import OsmExtract
from ditan.spatial.io.validate import POLYGONAL, Ledger, clean_geometries, require_columns
from ditan.spatial.study_area import osm_layers


def _buildings(
    src: LayerSource | None,
    ext: OsmExtract | None,
    crs: CRS,
    ledger: Ledger,
    landuse: gpd.GeoDataFrame,
    opts: BuildingOptions,
) -> gpd.GeoDataFrame:
    if src is None:
        if ext is None:  # no building source at all: an empty layer, recorded in StudyArea.absent
            return gpd.GeoDataFrame(
                {
                    "building": pd.Series(dtype=object),
                    "levels_raw": pd.Series(dtype=object),
                    "height_raw": pd.Series(dtype=object),
                    "name": pd.Series(dtype=object),
                    "floors": pd.Series(dtype=float),
                    "floors_source": pd.Series(dtype=object),
                    "residential": pd.Series(dtype=bool),
                },
                geometry=[],
                crs=crs,
            )
        layer = "buildings (OSM)"
        b = osm_layers.buildings_from_osm(ext, crs, ledger)
    else:
        layer = "buildings"
        raw = _read(src, "buildings", ledger)
        cols = (
            src.type_column,
            src.floors_column,
            src.height_column,
            src.name_column,
            src.population_column,
        )
        require_columns(raw, [c for c in cols if c], layer="buildings")
        b = gpd.GeoDataFrame(
            {
                "building": _col(raw, src.type_column, "yes"),
                "levels_raw": _col(raw, src.floors_column),
                "height_raw": _col(raw, src.height_column),
                "name": _col(raw, src.name_column),
                "population": _number(raw, src.population_column),
            },
            geometry=raw.geometry.to_numpy(),
            crs=raw.crs,
        )
        b["building"] = b["building"].fillna("yes").astype(str)
        valid = shapely.is_valid(b.geometry.to_numpy())
        b["made_valid"] = ~valid  # those left after cleaning are the repaired ones
        b = _to_study(
            clean_geometries(b, layer=layer, kinds=POLYGONAL, ledger=ledger, valid=valid),
            crs,
            layer,
            ledger,
        )
        _closed_rings(raw, ledger, layer)
    b = b.reset_index(drop=True)
    fl = estimate_floors(
        b, default_floors=opts.default_floors, storey_height_m=opts.storey_height_m
    )
    b["floors"] = fl["floors"].to_numpy()
    b["floors_source"] = fl["floors_source"].to_numpy()
    _count_implausible(
        ledger.layer(layer),
        fl["floors_implausible"].to_numpy(dtype=bool),
        b.pop("made_valid").to_numpy(dtype=bool),
    )
    b["residential"] = osm_layers.mark_residential(b, landuse).to_numpy()
    return b


def _count_implausible(rec, implausible: np.ndarray, made_valid: np.ndarray) -> None:
    """Count buildings whose floor count or height was implausible (ignored) as repaired, each building once."""
    alone = int((implausible & ~made_valid).sum())
    both = int((implausible & made_valid).sum())
    if alone:
        rec.kept -= alone
        rec.repaired["implausible floors/height ignored"] += alone
    if both:
        rec.repaired["make_valid"] -= both
        rec.repaired["make_valid + implausible floors/height ignored"] += both
        if not rec.repaired["make_valid"]:
            del rec.repaired["make_valid"]
