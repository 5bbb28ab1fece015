"""Green coverage (绿化覆盖率) and permeable surface share (可渗透面积占比).

Green coverage is the vertical projection of vegetation ÷ unit land area, distinct from the
green-space ratio (绿地率, from land use; see landuse.py). From a land-cover raster when one is
configured (exact zonal shares, green_raster.py); otherwise from vegetation polygons, dissolved
first so that overlapping polygons count once.

The permeable share is the assessed area that is not of an impervious class (default ESA
WorldCover 50 built-up): trees, grass, cropland, bare soil and water let rain in; roofs and
paving do not. It needs a class raster; with a continuous (NDVI) raster or without a raster it
is NaN, not assessable.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import geopandas as gpd
import numpy as np
import pandas as pd

from ditan.spatial.crs.metric import ensure_projected
from ditan.spatial.engine.allocate import polygon_pieces
from ditan.spatial.engine.geometry import merge_touching
from ditan.spatial.errors import LayerError
from ditan.spatial.io.raster import raster_cover_shares
from ditan.spatial.standards import landcover_products

__all__ = ["green_coverage_from_polygons", "green_coverage_from_raster"]

#: ESA WorldCover vegetation classes: trees, shrubland, grassland, herbaceous wetland, mangroves
WORLDCOVER_VEGETATION = (10, 20, 30, 90, 95)
#: ESA WorldCover impervious classes: built-up
WORLDCOVER_IMPERVIOUS = (50,)


def _check_classes(
    raster_path, found: list, vegetation: Sequence[int] | None, impervious: Sequence[int] | None
) -> None:
    """Stop when no pixel under the units has a configured class: the raster is of another product (CLCD, Esri …)."""
    wanted = set(vegetation or ()) | set(impervious or ())
    # a land-cover mosaic (three codes or more) none of which is configured: another product's legend; one or two codes
    # may be a unit over water or bare land
    if len(found) >= 3 and not wanted & set(found):
        shown = ", ".join(f"{v:g}" for v in found[:30]) + (" …" if len(found) > 30 else "")
        fits = landcover_products.fitting(found)
        if fits:
            best = fits[0]
            hint = (
                f"looks like {best.key} ({best.name_en}): set inputs.landcover.product: {best.key} "
                f"(vegetation {' '.join(map(str, best.vegetation))}, impervious {' '.join(map(str, best.impervious))})"
                + (
                    f"; the codes also fit {', '.join(p.key for p in fits[1:])}"
                    if len(fits) > 1
                    else ""
                )
            )
        else:
            hint = (
                "no known product's legend holds all these codes (known: "
                + ", ".join(landcover_products.products())
                + ")"
            )
        raise LayerError(
            f"land-cover raster '{raster_path}': no pixel under the units has a configured class (vegetation "
            f"{', '.join(map(str, vegetation or ())) or 'none'}; impervious {', '.join(map(str, impervious or ())) or 'none'}), "
            f"but it holds codes {shown}: {hint}; "
            "or set inputs.landcover.vegetation_classes and impervious_classes to this product's codes, "
            "or ndvi_threshold for an NDVI raster"
        )


def green_coverage_from_polygons(
    units: gpd.GeoDataFrame,
    vegetation: gpd.GeoDataFrame,
    green_land: gpd.GeoDataFrame | None = None,
) -> pd.DataFrame:
    """green_coverage_pct from vegetation polygons and green land (overlaps counted once).

    Without a raster, vegetation is what is tagged as vegetated (grass, wood, scrub …) together with the
    green land of the green-space ratio (``green_land``: the park and green land-use faces, which already
    exclude the water, squares, car parks and other land-use areas mapped inside them): green coverage is
    then never below the green-space ratio on the same polygons, as the programmes define them
    (绿化覆盖率 counts all vegetation, 绿地率 the green land).
    """
    ensure_projected(units, "units")
    ensure_projected(vegetation, "vegetation")
    layers = [vegetation.geometry.to_numpy()]
    if green_land is not None and len(green_land):
        ensure_projected(green_land, "green land")
        layers.append(green_land.geometry.to_numpy())
    geoms = np.concatenate(layers)
    # overlaps counted once: touching polygons merged group by group (one union per group, not one city-wide union)
    merged = merge_touching(geoms)
    pieces = polygon_pieces(units.geometry.to_numpy(), np.asarray(merged, dtype=object))
    veg = np.bincount(
        pieces["unit"].to_numpy(), weights=pieces["area_m2"].to_numpy(), minlength=len(units)
    )
    out = pd.DataFrame(index=units.index)
    out["green_coverage_pct"] = veg / units.geometry.area.to_numpy() * 100.0
    out["green_coverage_source"] = (
        "vegetation + green land polygons"
        if green_land is not None and len(green_land)
        else "vegetation polygons"
    )
    out["permeable_surface_pct"] = np.nan
    out["raster_nodata_pct"] = np.nan
    return out


def green_coverage_from_raster(
    units: gpd.GeoDataFrame,
    raster_path: str | os.PathLike,
    *,
    vegetation_classes: Sequence[int] | None = WORLDCOVER_VEGETATION,
    impervious_classes: Sequence[int] | None = WORLDCOVER_IMPERVIOUS,
    ndvi_threshold: float | None = None,
    nodata: float | None = None,
    tree_classes: Sequence[int] | None = None,
) -> pd.DataFrame:
    """green_coverage_pct and permeable_surface_pct of the assessed (non-nodata) area.

    With ``tree_classes`` also tree_cover_pct (the tree classes' share, measured in the same pass), which
    the carbon sink rests on.

    Both are NaN where the raster does not cover a unit (not assessable); the permeable share is
    NaN for a continuous raster (``ndvi_threshold``), which has no impervious class.
    """
    ensure_projected(units, "units")
    if ndvi_threshold is not None:
        shares = raster_cover_shares(
            units, raster_path, thresholds={"green": ndvi_threshold}, nodata=nodata
        )
        shares["impervious_pct"] = np.nan
    else:
        shares = raster_cover_shares(
            units,
            raster_path,
            classes={  # type: ignore[arg-type]  # list[int] is a Sequence[int]
                "green": list(vegetation_classes or ()),
                "impervious": list(impervious_classes or ()),
            }
            | ({"tree": list(tree_classes)} if tree_classes else {}),
            nodata=nodata,
        )
    if ndvi_threshold is None:
        _check_classes(
            raster_path, shares.attrs.get("codes_found", []), vegetation_classes, impervious_classes
        )
    out = pd.DataFrame(index=units.index)
    out["green_coverage_pct"] = shares["green_pct"].to_numpy()
    out["green_coverage_source"] = "raster"
    out["permeable_surface_pct"] = 100.0 - shares["impervious_pct"].to_numpy()
    out["raster_nodata_pct"] = shares["raster_nodata_pct"].to_numpy()
    if tree_classes and ndvi_threshold is None:
        out["tree_cover_pct"] = shares["tree_pct"].to_numpy()
    return out
