"""Road classes as data (road_classes.yaml): OSM highway values and the Chinese / English class names that mean them.

A planner's road layer classed 快速路 / 主干路 / 次干路 / 支路 (GB/T 51328-2018, CJJ 37-2012), 高速公路 /
一级公路 … (JTG B01-2014) or "Expressway" / "Arterial" is read as OSM highway values, which is what ditan's
road indicators count (ditan.spatial.indicators.roads). Matching ignores case, whitespace, '_' and '-', and
full-width forms (:func:`normalise`).
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from dataclasses import dataclass
from functools import cache
from importlib import resources

import numpy as np
import pandas as pd
import yaml

from ditan.spatial.errors import LayerError, feature_list
from ditan.spatial.io.validate import LayerRecord

__all__ = [
    "normalise",
    "RoadClassTable",
    "table",
    "to_osm",
    "accepted",
    "did_you_mean",
    "resolve_include",
    "classify_layer",
]

_SPACE = re.compile(r"[\s_\-]+")


def normalise(value: object) -> str:
    """The matching key of a class value.

    NFKC (full-width and Roman-numeral forms to ASCII), casefolded, without whitespace, '_' or '-'
    ("Ⅱ级 主干路" → "ii级主干路", "Motorway_Link" → "motorwaylink").
    """
    return _SPACE.sub("", unicodedata.normalize("NFKC", str(value)).casefold())


@dataclass(frozen=True)
class RoadClassTable:
    osm_values: dict[str, str]  # OSM highway value → description (Chinese and English)
    names: dict[str, str]  # name as written in the table (Chinese, English) → OSM value
    sources: dict[str, str]  # name → its source
    unconfirmed: frozenset[str]  # names whose source was not checked against the published text
    heads: tuple[
        str, ...
    ]  # the first Chinese name of each group (快速路, 匝道, 主干路 …), for messages
    lookup: dict[str, str]  # normalised key (of an OSM value or a name) → OSM value


@cache
def table() -> RoadClassTable:
    """The packaged table, checked: every name maps to a known OSM value, and no key means two values."""
    data = yaml.safe_load(
        resources.files("ditan.spatial.standards")
        .joinpath("road_classes.yaml")
        .read_text(encoding="utf-8")
    )
    osm_values = {str(k): str(v) for k, v in data["osm_values"].items()}
    names: dict[str, str] = {}
    sources: dict[str, str] = {}
    unconfirmed: set[str] = set()
    heads: list[str] = []
    lookup = {normalise(v): v for v in osm_values}
    for group in data["names"]:
        osm = group["osm"]
        heads += group.get("names", [])[:1]
        if osm not in osm_values:
            raise ValueError(f"road_classes.yaml: '{osm}' is not among osm_values")
        for name in [*group.get("names", []), *group.get("en", [])]:
            key = normalise(name)
            if lookup.get(key, osm) != osm:
                raise ValueError(f"road_classes.yaml: '{name}' means both {lookup[key]} and {osm}")
            lookup[key] = osm
            names[str(name)] = osm
            sources[str(name)] = str(group.get("source", ""))
            if group.get("unconfirmed", False):
                unconfirmed.add(str(name))
    return RoadClassTable(osm_values, names, sources, frozenset(unconfirmed), tuple(heads), lookup)


def to_osm(values: pd.Series | np.ndarray | list) -> np.ndarray:
    """The OSM highway value of each class value (object array; None where nothing matches, or the value is empty)."""
    s = pd.Series(values, dtype=object)
    lookup = table().lookup
    mapping = {u: lookup.get(normalise(u)) for u in pd.unique(s.dropna())}
    out = np.array(s.map(mapping).to_numpy(dtype=object), dtype=object)  # a writable copy
    out[pd.isna(out)] = None
    return out


def accepted() -> str:
    """The accepted values in brief, for messages."""
    t = table()
    osm = ", ".join(v for v in t.osm_values if not v.endswith("_link"))
    return (
        f"OSM highway values ({osm}), Chinese classes ({', '.join(dict.fromkeys(t.heads))} and their variants) or English "
        "ones (expressway, arterial, collector, local …); the full list is spatial/standards/road_classes.yaml"
    )


def did_you_mean(value: str) -> str | None:
    """The closest OSM value or name of the table to an unknown value, if any is close."""
    t = table()
    candidates = [*t.osm_values, *t.names]
    by_key = {
        normalise(c): c for c in reversed(candidates)
    }  # an OSM value wins over a name of the same key
    close = difflib.get_close_matches(normalise(value), list(by_key), n=1, cutoff=0.6)
    return by_key[close[0]] if close else None


def resolve_include(values: list[str]) -> list[str]:
    """roads.include as OSM highway values: an OSM value as it is, a name as its OSM value plus that value's _link.

    Raises ValueError naming every unknown value with a did-you-mean hint.
    """
    t = table()
    out: list[str] = []
    bad: list[str] = []
    for v in values:
        v = str(v)
        osm = t.lookup.get(normalise(v))
        if osm is None:
            hint = did_you_mean(v)
            bad.append(f"'{v}'" + (f" (did you mean '{hint}'?)" if hint else ""))
            continue
        out.append(osm)
        if (
            normalise(v) != normalise(osm) and f"{osm}_link" in t.osm_values
        ):  # a class name: its links go with it
            out.append(f"{osm}_link")
    if bad:
        raise ValueError(
            f"{', '.join(bad)} {'is not a road class' if len(bad) == 1 else 'are not road classes'} ditan knows; "
            f"use {accepted()}"
        )
    return list(dict.fromkeys(out))


def classify_layer(
    values: pd.Series, length_m: np.ndarray, *, rec: LayerRecord, label: str, column: str
) -> np.ndarray:
    """The OSM highway value of each road of a layer, from its class column (``values``).

    A value matching nothing is kept as written (the road stays walkable; it is no city road) and flagged in
    ``rec`` with its count and length; a layer where no value matches raises LayerError listing the values found.
    """
    raw = pd.Series(np.asarray(values, dtype=object))
    osm = to_osm(raw)
    miss = np.array([v is None for v in osm], dtype=bool)
    if not miss.any():
        return osm
    written = raw.where(raw.notna(), "").astype(str).str.strip()
    by_value = (
        pd.DataFrame(
            {
                "value": written[miss].replace("", "(empty)").to_numpy(),
                "km": np.asarray(length_m)[miss] / 1000,
            }
        )
        .groupby("value")["km"]
        .agg(["size", "sum"])
        .sort_values("sum", ascending=False)
    )
    found = [f"'{v}' ({int(r['size'])} roads, {r['sum']:,.2f} km)" for v, r in by_value.iterrows()]
    if miss.all():
        raise LayerError(
            f"layer 'roads' ({label}): no value of class_column '{column}' is a road class ditan knows "
            f"(found {feature_list(found)}); use {accepted()}"
        )
    for n, text in zip(by_value["size"].to_numpy(), found, strict=True):
        rec.flagged[
            f"class {text} matches no road class (spatial/standards/road_classes.yaml): kept for walking, "
            "not counted in road or intersection density"
        ] += int(n)
    osm[miss] = written[miss].to_numpy(dtype=object)
    return osm
