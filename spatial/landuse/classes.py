"""Internal land-use classes and the OSM tag table that feeds them."""

from __future__ import annotations

from functools import cache
from importlib import resources

import numpy as np
import pandas as pd
import yaml

__all__ = ["osm_landuse_table", "vegetation_table", "classify_tags", "vegetation_mask"]

#: Internal classes, in table order, with Chinese and English names. ``industrial`` is 产业用地
#: (manufacturing, mining and logistics/warehousing); ``community_service`` is the residential
#: community's own service land (GB 50137 R12/R22/R32, 2023 guide 0702/0704), kept apart from
#: ``public_service`` so 公共服务用地比例 can be read either way (see ``ditan.spatial.landuse.codes``).
LANDUSE_CLASSES: dict[str, tuple[str, str]] = {
    "residential": ("居住用地", "Residential"),
    "community_service": ("社区服务设施用地", "Community service facilities"),
    "public_service": ("公共管理与公共服务用地", "Public administration and public service"),
    "commercial": ("商业服务业用地", "Commercial and business"),
    "industrial": ("工业与物流仓储用地", "Industry, logistics and warehousing"),
    "transport": ("交通运输用地", "Transport"),
    "utilities": ("公用设施用地", "Utilities"),
    "park": ("公园绿地", "Parks"),
    "green": ("防护绿地与其他绿地", "Buffer and other green space"),
    "plaza": ("广场用地", "Squares"),
    "water": ("水域", "Water"),
    "agriculture": ("农林用地", "Agriculture and forestry"),
    "other": ("其他用地", "Other"),
}


@cache
def _table(name: str) -> dict:
    text = resources.files("ditan.spatial.landuse").joinpath(name).read_text(encoding="utf-8")
    return yaml.safe_load(text)


def osm_landuse_table() -> dict[str, dict[str, str]]:
    return _table("osm.yaml")


def vegetation_table() -> dict[str, list[str]]:
    return _table("vegetation.yaml")


def classify_tags(tags: pd.DataFrame) -> pd.Series:
    """Internal land-use class of each row of OSM tags (None where no rule applies).

    Vectorised over rows: one ``map`` per key of the table, earlier keys taking precedence.
    """
    out = pd.Series(np.full(len(tags), None, dtype=object), index=tags.index)
    for key, mapping in osm_landuse_table().items():
        if key not in tags.columns:
            continue
        cls = tags[key].map(mapping)
        take = out.isna() & cls.notna()
        out[take] = cls[take]
    return out


def vegetation_mask(tags: pd.DataFrame) -> pd.Series:
    """True where a row's tags mark vegetation."""
    mask = pd.Series(False, index=tags.index)
    for key, values in vegetation_table().items():
        if key in tags.columns:
            mask |= tags[key].isin(values)
    return mask
