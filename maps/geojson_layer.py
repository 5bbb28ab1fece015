"""One folium.GeoJson layer per class of features: the helper every layer of the interactive map uses.

A layer is prepared (:func:`_prep`: empty geometries left out, reprojected), turned into one GeoJSON
FeatureCollection with only display-safe properties and rounded coordinates, and added with its
tooltip, popup and DivIcon marker. Text from data is HTML-escaped here (``_esc``, ``_fmt``, ``_km2``),
because Leaflet tooltips, popups and the layer control insert strings as HTML.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping
from contextvars import ContextVar

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from folium.template import Environment as _FoliumEnvironment
from folium.utilities import get_obj_in_upper_tree
from jinja2.utils import htmlsafe_json_dumps

from ditan.maps.display_text import (
    MISSING,
    escaped_text,
    inert_html,
    km2_text,
    value_text,
    value_texts,
)

log = logging.getLogger("ditan.maps.interactive")

WGS84 = "EPSG:4326"
#: Every web coordinate is rounded to this many decimal degrees (about 0.1 m), to keep the page small.
COORD_DECIMALS = 6

_esc, _fmt, _km2 = escaped_text, value_text, km2_text
#: a display-only shift of the WGS 84 web coordinates ((n, 2) lon/lat → (n, 2)), set while a map on GCJ-02
#: tiles is built (:func:`ditan.maps.basemaps.display_shift`); None: drawn as they are
DISPLAY_SHIFT: ContextVar[Callable[[np.ndarray], np.ndarray] | None] = ContextVar(
    "DISPLAY_SHIFT", default=None
)


#: formatters that have a column-at-once form
_MANY: dict[Callable[[object], str], Callable[[pd.Series], list[str]]] = {value_text: value_texts}


def _col(gdf: gpd.GeoDataFrame, column: str, fmt: Callable[[object], str] = _esc) -> list[str]:
    """Display text of one column (all "—" when the column is absent)."""
    if column not in gdf.columns:
        return [MISSING] * len(gdf)
    many = _MANY.get(fmt)
    return many(gdf[column]) if many else [fmt(v) for v in gdf[column].tolist()]


def _prep(
    gdf: gpd.GeoDataFrame, layer: str, points: bool = False, crs: object = WGS84
) -> gpd.GeoDataFrame:
    """A copy without empty geometries, in ``crs`` (points: representative points first)."""
    if gdf.crs is None:
        raise ValueError(f"layer '{layer}' has no CRS; set it before mapping")
    out = gdf[~(gdf.geometry.isna() | gdf.geometry.is_empty)].copy()
    if len(out) < len(gdf):
        log.info("%s: %d features without geometry not drawn", layer, len(gdf) - len(out))
    if points and not (out.geom_type == "Point").all():
        out = out.set_geometry(out.geometry.representative_point())
    return out.to_crs(crs)


def _feature_collection(gdf: gpd.GeoDataFrame, props: dict[str, pd.Series | list]) -> dict:
    """GeoJSON FeatureCollection with only ``props`` (already display-safe) and ids '0', '1' and so on.

    Coordinates (WGS 84, or shifted by DISPLAY_SHIFT for GCJ-02 tiles) are rounded to COORD_DECIMALS,
    which roughly halves the page size.
    """
    shift = DISPLAY_SHIFT.get()
    geom = shapely.transform(
        gdf.geometry.to_numpy(),
        lambda xy: np.round(xy if shift is None else shift(xy), COORD_DECIMALS),
    )
    shapes = json.loads(
        "[" + ",".join(shapely.to_geojson(geom)) + "]"
    )  # one parse for the whole layer
    keys = list(props)
    rows = [
        dict(zip(keys, values, strict=True))
        for values in zip(*(_json_values(v, len(geom)) for v in props.values()), strict=True)
    ] or [{} for _ in range(len(geom))]
    return {
        "type": "FeatureCollection",
        "features": [
            {"id": str(i), "type": "Feature", "properties": p, "geometry": g}
            for i, (p, g) in enumerate(zip(rows, shapes, strict=True))
        ],
    }


def _json_values(values: pd.Series | list, n: int) -> list:
    """A property column as JSON values: numbers as Python numbers, a missing value as None."""
    s = values if isinstance(values, pd.Series) else pd.Series(list(values), dtype=object)
    if len(s) != n:
        raise ValueError(f"a property has {len(s)} values for {n} features")
    if s.dtype.kind in "iub":
        return s.tolist()
    s = s.astype(object)
    return s.where(s.notna(), None).tolist()


class InlineGeoJson(folium.GeoJson):
    """folium.GeoJson whose data are written into the page by :func:`embed_data` after rendering.

    folium renders a layer's script with its data, and branca compiles that output once more as a
    Jinja template: at city scale, seconds of lexing tens of megabytes, and text from data read as
    template code. Here the script is rendered around a stand-in (the first feature, its properties
    blanked, and a serial number), and the page's data replace it afterwards, serialised as folium's
    ``tojson`` does (sorted keys; ``<``, ``>``, ``&`` and ``'`` escaped, so no text ends the script).
    """

    def render(self, **kwargs: object) -> None:
        """The style maps of the whole data (as folium.GeoJson.render makes them), then the script.

        Only when the page is rendered by :func:`ditan.maps.interactive.map_html` (which embeds the data
        afterwards); rendered any other way (folium's ``save``, a notebook) it is a plain folium.GeoJson.
        """
        if not getattr(self.get_root(), EMBED_LATER, False):
            super().render(**kwargs)
            return
        self.parent_map = get_obj_in_upper_tree(self, folium.Map)
        if (self.style or self.highlight) and self.data["features"]:
            mapper = folium.features.GeoJsonStyleMapper(self.data, self.feature_identifier, self)
            if self.style:
                self.style_map = mapper.get_style_map(self.style_function)
            if self.highlight:
                self.highlight_map = mapper.get_highlight_map(self.highlight_function)
        data = self.data
        store = _data_store(self.get_root())
        first = [
            {**f, "properties": dict.fromkeys(f.get("properties") or {})}
            for f in data["features"][:1]
        ]
        self.data = {**data, "features": first, "ditan_data": len(store)}
        store[_tojson(self.data)] = data
        try:  # folium.GeoJson's parent: the layer and its script, tooltip and popup
            super(folium.GeoJson, self).render(**kwargs)
        finally:
            self.data = data


#: the Jinja environment folium's templates render in (its JSON policies)
_FOLIUM_ENV = _FoliumEnvironment()
#: set on the page's root element by map_html: the layers' data are embedded after rendering
EMBED_LATER = "_ditan_embed_data_later"


def _tojson(value: object) -> str:
    """JSON as folium's templates write it: Jinja's ``tojson`` with the policies of folium's environment."""
    policies = _FOLIUM_ENV.policies
    return str(
        htmlsafe_json_dumps(
            value, dumps=policies["json.dumps_function"], **policies["json.dumps_kwargs"]
        )
    )


def _data_store(root: object) -> dict[str, object]:
    """Stand-in JSON → the layer's data, kept on the page's root element."""
    store = getattr(root, "_ditan_geojson_data", None)
    if store is None:
        store = {}
        setattr(root, "_ditan_geojson_data", store)  # noqa: B010 - an attribute of folium's Figure
    return store


def render_with_data(root: object, fix: Callable[[str], str]) -> str:
    """The page of ``root`` rendered with its layers' data as stand-ins, passed through ``fix``, then the data put in.

    ``fix`` sees the page's markup and scripts without the (possibly large) data.
    """
    setattr(root, EMBED_LATER, True)  # noqa: B010 - an attribute of folium's Figure
    try:
        _data_store(root).clear()
        page = fix(root.render())  # type: ignore[attr-defined]
    finally:
        setattr(root, EMBED_LATER, False)  # noqa: B010
    return _embed_data(root, page)


def _embed_data(root: object, page: str) -> str:
    """``page`` (rendered from ``root``) with every InlineGeoJson's data in place of its stand-in (one pass)."""
    store = _data_store(root)
    if not store:
        return page
    found = re.compile("|".join(map(re.escape, store)))
    parts, seen, at = [], [], 0
    for m in found.finditer(page):
        parts += [page[at : m.start()], _tojson(store[m.group(0)])]
        seen.append(m.group(0))
        at = m.end()
    if sorted(seen) != sorted(store):
        raise RuntimeError("a map layer's data placeholder is not once in the page")
    return "".join([*parts, page[at:]])


def _const(style: dict) -> Callable[[dict], dict]:
    """A style function giving every feature the same style."""
    return lambda _feature: dict(style)


def _geojson(
    parent: folium.Map | folium.FeatureGroup,
    gdf: gpd.GeoDataFrame,
    props: Mapping[str, pd.Series | list],
    style: dict | Callable[[dict], dict] | None,
    tooltip: Mapping[str, str] | None = None,
    popup: Mapping[str, str] | None = None,
    icon: str | None = None,
    **kwargs: object,
) -> folium.GeoJson:
    """Add one GeoJson layer; ``tooltip``/``popup`` map property → bilingual label (escaped here).

    Points get a DivIcon marker showing ``icon`` (inline SVG; no image or web font).
    """
    marker = None
    if icon is not None:
        marker = folium.Marker(
            icon=folium.DivIcon(
                html=icon, icon_size=(16, 16), icon_anchor=(8, 8), class_name="ditan-icon"
            )
        )
    tip = pop = None
    if tooltip:
        tip = folium.GeoJsonTooltip(
            fields=list(tooltip), aliases=[inert_html(a) for a in tooltip.values()], sticky=True
        )
    if popup:
        pop = folium.GeoJsonPopup(
            fields=list(popup), aliases=[inert_html(a) for a in popup.values()], max_width=420
        )
    style_function = None if style is None else style if callable(style) else _const(style)
    return InlineGeoJson(
        _feature_collection(gdf, props),
        style_function=style_function,
        tooltip=tip,
        popup=pop,
        marker=marker,
        **kwargs,
    ).add_to(parent)
