"""Input layers a run has no data for (StudyArea.absent): why, and the data gap named in the ledger.

A layer is absent when no feature of it can be measured: no source at all (neither the OSM file nor a layer in the
config), an OSM file without such features (an osmnx drive network has no buildings), or a source whose every
feature was lost (a clipped export, unusable geometries; counted in data_quality.csv). A layer given but empty is
absent too: a placeholder file is no evidence that there is none. The indicators needing an absent layer are NaN with
the reason.
"""

from __future__ import annotations

import logging

import geopandas as gpd

from ditan.pipelines.config.sources import Inputs
from ditan.spatial.io.osm import OsmExtract
from ditan.spatial.io.validate import Ledger
from ditan.spatial.standards.registry import registry

log = logging.getLogger(__name__)


#: a layer key of StudyArea.absent → (its config key, what an OSM file would hold, the ledger layer of the OSM features, the fix)
ABSENT_LAYERS = {
    "roads": ("inputs.roads", "highway ways", "roads (OSM highway ways)",
              "add a road layer (inputs.roads with class_column) or an OSM file with highway ways (inputs.osm)"),
    "buildings": ("inputs.buildings", "building ways", "buildings (OSM)",
                  "add building footprints (inputs.buildings) or an OSM file with building outlines (inputs.osm)"),
    "landuse": ("inputs.parcels", "land-use areas", "land use (OSM)",
                "add land-use parcels (inputs.parcels with code_column and code_system) or an OSM file with land-use areas (inputs.osm)"),
    "vegetation": ("inputs.landcover", "vegetation areas (grass, wood, garden …)", None,
                   "add a land-cover raster (inputs.landcover) or an OSM file with vegetation areas (inputs.osm)"),
}  # fmt: skip


def absent_layers(
    inp: Inputs, ext: OsmExtract | None, ledger: Ledger, **layers: gpd.GeoDataFrame | None
) -> dict[str, str]:
    """Why each of roads, buildings, landuse and vegetation has no feature at all (before cropping), by key.

    ``inp``: the config's inputs. Each absent layer is also named as a data gap in the ledger (what is missing,
    the fix, the columns left NaN).
    """
    out: dict[str, str] = {}
    for key, gdf in layers.items():
        cfg_key, what, osm_layer, fix = ABSENT_LAYERS[key]
        src = getattr(inp, cfg_key.split(".")[1])
        if (
            src is not None and key == "vegetation"
        ):  # a land-cover raster: green coverage does not need the polygons
            continue
        if gdf is not None and len(gdf):
            continue
        rec = ledger.records.get(osm_layer) if osm_layer else None
        if (
            src is not None
        ):  # a given layer, empty or with every feature unusable: no data (a placeholder says nothing)
            given = ledger.records.get(key if key != "landuse" else "land-use parcels")
            if given is None or not given.read:
                out[key] = f"{cfg_key} ({src.label}) has no features"
            else:
                out[key] = (
                    f"none of the {given.read} features of {cfg_key} ({src.label}) could be used (see data_quality.csv)"
                )
        elif ext is None:
            out[key] = f"neither inputs.osm nor {cfg_key} is set"
        elif rec is not None and rec.read:
            out[key] = (
                f"none of the {rec.read} {what} of the OSM file could be used ({'; '.join(rec.dropped)}) and {cfg_key} is not set"
            )
        else:
            out[key] = f"the OSM file has no {what} and {cfg_key} is not set"
        columns = [i.id for i in registry().values() if i.spatial and key in i.needs]
        ledger.gap(f"layer {key}", f"{out[key]}: {fix}", columns)
        log.warning("no %s: %s; the indicators that need it are NaN", key, out[key])
    return out
