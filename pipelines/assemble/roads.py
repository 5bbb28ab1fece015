"""The roads layer: road lines with their OSM highway value, from a layer (class column read through road_classes) or OSM."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
from pyproj import CRS

from ditan.pipelines.assemble.reading import _col, _to_study
from ditan.pipelines.config.layer_source import LayerSource
from ditan.spatial.errors import LayerError
from ditan.spatial.io.osm import OsmExtract
from ditan.spatial.io.validate import LINEAR, Ledger, clean_geometries, require_columns
from ditan.spatial.standards import road_classes
from ditan.spatial.study_area import osm_layers


def _roads(
    raw: gpd.GeoDataFrame | None,
    src: LayerSource | None,
    ext: OsmExtract | None,
    crs: CRS,
    ledger: Ledger,
) -> gpd.GeoDataFrame:
    """Road lines with their OSM highway value; a class column in Chinese (快速路 …) is read through road_classes.yaml."""
    if raw is None:
        if ext is None:  # no road source at all: an empty layer, recorded in StudyArea.absent
            return gpd.GeoDataFrame(
                {"highway": pd.Series(dtype=object), "name": pd.Series(dtype=object)},
                geometry=[],
                crs=crs,
            )
        return osm_layers.roads_from_osm(ext, crs, ledger)
    assert src is not None
    hint = "class_column holds the road class: OSM highway values (primary, residential …) or 快速路, 主干路, 次干路, 支路 …"
    require_columns(raw, [c for c in (src.class_column,) if c], layer="roads", hint=hint)
    if not src.class_column:
        raise LayerError(f"layer 'roads' needs class_column; {hint}")
    df = gpd.GeoDataFrame(
        {
            "highway": raw[src.class_column].to_numpy(dtype=object),
            "name": _col(raw, src.name_column),
        },
        geometry=raw.geometry.to_numpy(),
        crs=raw.crs,
    )
    df = clean_geometries(df, layer="roads", kinds=LINEAR, ledger=ledger)
    df = _to_study(df, crs, "roads", ledger).reset_index(drop=True)
    df["highway"] = road_classes.classify_layer(
        df["highway"],
        df.geometry.length.to_numpy(),
        rec=ledger.layer("roads"),
        label=src.label,
        column=src.class_column,
    )
    return df
