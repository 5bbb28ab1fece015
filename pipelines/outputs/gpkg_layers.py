"""The layers of a run's GeoPackages besides the units, and what they wear in QGIS: service areas, land use.

``service_areas.gpkg`` holds a layer per tier (``service_areas_15min`` …), each coloured by facility category.

``communities.gpkg`` holds the units (``communities``) and, when the run has land use, ``landuse``: the
land-use polygons the shares were computed from (the parcels with a recognised code, or OSM's land-use
areas), each with its internal class, the GB 50137-2011 class it stands for, the Chinese and English
names, the code or tag it was read from and its area. QGIS opens it in the GB 50137 colours
(:func:`landuse_dress`).
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd

from ditan.maps import style as st
from ditan.pipelines.outputs import qgis_styles
from ditan.spatial.standards.catalogue import Catalogue

__all__ = [
    "service_area_layers",
    "service_areas_dress",
    "landuse_layer",
    "landuse_dress",
    "LANDUSE_LAYER",
]

#: Chinese names of the service-area layers' fields
SERVICE_AREA_ZH = {
    "category": "设施类别",
    "tier": "生活圈层级",
    "distance_m": "服务距离",
    "reachable_network_km": "可达路网长度",
    "area_km2": "服务范围面积",
    "form": "服务范围形式",
}
SERVICE_AREA_EN = {
    "category": "Facility category (or station kind)",
    "tier": "Life-circle tier (or the station radius)",
    "distance_m": "Walking distance along the network",
    "reachable_network_km": "Length of the network within reach",
    "area_km2": "Area of the exact service area (the stored polygon is simplified)",
    "form": "How the area was drawn",
}

LANDUSE_LAYER = "landuse"
#: the land-use layer's fields: Chinese and English names
LANDUSE_ZH = {
    "lu_class": "用地类别",
    "gb50137": "国标用地分类",
    "class_zh": "用地名称",
    "class_en": "用地英文名称",
    "code": "原始代码或标签",
    "name": "名称",
    "area_m2": "面积",
}
LANDUSE_EN = {
    "lu_class": "Internal land-use class (what the shares count)",
    "gb50137": "The GB 50137-2011 class it stands for",
    "class_zh": "Chinese name of the class",
    "class_en": "English name of the class",
    "code": "The land-use code (parcels) or OSM tag it was classified from",
    "name": "Name in the source",
    "area_m2": "Area of the polygon as read (overlaps not resolved)",
}


def service_area_layers(areas: pd.DataFrame) -> dict:
    """One GeoPackage layer per tier (service_areas_5min …, service_areas_500m), one row per category."""
    return {
        f"service_areas_{tier}": grp.reset_index(drop=True)
        for tier, grp in areas.groupby("tier", sort=False)
    }


def service_areas_dress(catalogue: Catalogue) -> qgis_styles.Dresser:
    """A service-area layer's dress: aliases and one style, categorised by facility category (named from ``catalogue``)."""
    cats = (*catalogue.categories.values(), *catalogue.stations.values())
    labels = {c.id: c.zh for c in cats}

    def dress(frame: gpd.GeoDataFrame) -> qgis_styles.Dress:
        al = qgis_styles.aliases(frame, {}, SERVICE_AREA_ZH, SERVICE_AREA_EN)
        return qgis_styles.Dress(
            al,
            [
                qgis_styles.categorized(
                    "category", frame["category"].tolist(), labels, al, default=True
                )
            ]
            if "category" in frame
            else [],
        )

    return dress


def landuse_layer(landuse: gpd.GeoDataFrame | None) -> gpd.GeoDataFrame | None:
    """The classified land-use polygons as written to communities.gpkg; None when the run has none."""
    if landuse is None or landuse.empty or "lu_class" not in landuse:
        return None
    cls = landuse["lu_class"].astype(object).where(landuse["lu_class"].notna(), "other")
    names = pd.DataFrame.from_dict(st.LANDUSE_CLASSES, orient="index", columns=["zh", "en"])
    known = cls.where(cls.isin(names.index), "other")

    def text(column: str) -> np.ndarray:
        out = np.full(len(landuse), None, dtype=object)
        if column in landuse:
            have = landuse[column].notna().to_numpy()
            out[have] = landuse[column].astype(str).to_numpy(dtype=object)[have]
        return out

    return gpd.GeoDataFrame(
        {
            "lu_class": cls.to_numpy(dtype=object),
            "gb50137": known.map(st.LANDUSE_GB50137).to_numpy(dtype=object),
            "class_zh": names["zh"].reindex(known).to_numpy(dtype=object),
            "class_en": names["en"].reindex(known).to_numpy(dtype=object),
            "code": text("tag"),
            "name": text("name"),
            "area_m2": landuse.geometry.area.to_numpy(),
        },
        geometry=landuse.geometry.to_numpy(),
        crs=landuse.crs,
    )


def landuse_dress(frame: gpd.GeoDataFrame) -> qgis_styles.Dress:
    """Aliases of the land-use layer and its style: the classes in GB 50137 colours, labelled with the GB code."""
    al = qgis_styles.aliases(frame, {}, LANDUSE_ZH, LANDUSE_EN)
    labels = {
        c: f"{st.LANDUSE_GB50137.get(c, '')} {zh} {en}".strip()
        for c, (zh, en) in st.LANDUSE_CLASSES.items()
    }
    style = qgis_styles.categorized(
        "lu_class",
        frame["lu_class"].tolist(),
        labels,
        al,
        default=True,
        colours=st.LANDUSE_COLOURS,
        alpha=200,
        outline="#666666",
    )
    return qgis_styles.Dress(al, [style])
