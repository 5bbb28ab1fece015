"""Cropping to the units: how far an indicator reaches, and the features beyond that set aside (noted in the ledger)."""

from __future__ import annotations

import geopandas as gpd

from ditan.pipelines.assemble.reading import add_note
from ditan.pipelines.config.params import ComputeParams
from ditan.spatial.io.validate import Ledger
from ditan.spatial.study_area.model import reach_zone, within_zone


def reach_m(params: ComputeParams, catalogue) -> float:
    """How far from a unit a feature can still change an indicator computed with ``params``.

    The longest walking or radius distance (life-circle tiers, station radius, park radii), plus snapping
    at both ends and the service-area buffer.
    """
    lc, parks = params.life_circle, params.parks
    longest = max(
        [t.distance_m for t in catalogue.tiers.values()]
        + [params.transit.radius_m, parks.large_radius_m, parks.small_radius_m]
    )
    return float(longest + 2 * lc.snap_max_m + lc.service_area_buffer_m + 50.0)


def _crop(
    units: gpd.GeoDataFrame, distance_m: float, ledger: Ledger, **layers: gpd.GeoDataFrame | None
) -> list:
    """Each layer without the features beyond ``distance_m`` of every unit's envelope (counted in a ledger note)."""
    zone = reach_zone(units, distance_m)
    names = {
        "roads": "roads",
        "buildings": "buildings",
        "landuse": "land use",
        "facilities": "life-circle facilities",
        "stations": "stations",
        "amenities": "community amenities",
        "vegetation": "vegetation",
        "parcels": "land-use parcels",
    }
    out = []
    for key, gdf in layers.items():
        if gdf is None or gdf.empty:
            out.append(gdf)
            continue
        keep = within_zone(zone, gdf.geometry.to_numpy())
        if not keep.all():
            gdf = gdf[keep].reset_index(drop=True)
            layer = next((n for n in ledger.records if n.startswith(names[key])), None)
            if layer is not None:
                add_note(
                    ledger,
                    layer,
                    f"{int((~keep).sum()):,} features farther than {distance_m:,.0f} m from every unit "
                    "set aside (they cannot change any indicator)",
                )
        out.append(gdf)
    return out
