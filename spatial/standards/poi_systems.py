"""Web-map POI classifications (高德 Amap, 百度 Baidu) as data: category paths and typecodes → ditan ids.

The tables are ``poi_systems.yaml`` beside this module: for each provider its published classification
(``source``), the coordinate system its exports are in (``crs``: gcj02 for Amap, bd09 for Baidu) and
entries mapping a category path (大类;中类;小类, a shorter path naming everything under it) and, for Amap,
six-digit typecodes to ditan's life-circle categories, community amenities and station kinds.

:func:`match_types` matches a column of provider types against a table, vectorised:

- a value may name several types joined by ``|`` ("购物服务;便民商店/便利店;便民商店/便利店|购物服务;超级市场;超市");
  each part is matched on its own, and each distinct id a row names counts once for that row;
- a part's path takes the table entry with the longest prefix of whole ``;`` segments;
- Amap's typecode column (parts joined by ``|`` in the same order as the types) is matched first: a code
  listed in the table exactly, else its 中类 (``XXYY00``), else its 大类 (``XX0000``), as Amap's own
  ``types=`` filter groups them. The typecode is the more stable of the two (names change between table
  versions); a part whose code matches nothing falls back to its path;
- a part that is, as a whole, an id, Chinese name or alias of the catalogue (``extra_values``) names that
  id too: aliases added with ``life_circle.extend_categories`` extend the provider tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np
import pandas as pd
import yaml

__all__ = [
    "PROVIDERS",
    "PoiSystem",
    "load_poi_system",
    "provider_crs",
    "split_parts",
    "normalise_codes",
    "match_types",
]

#: the providers with a table in poi_systems.yaml (values of a layer's category_system / kind_system)
PROVIDERS = ("amap", "baidu")


@dataclass(frozen=True)
class PoiSystem:
    """One provider's table: paths (path, depth, category) and codes (code, category), one row per id named."""

    name: str
    source: str
    crs: str
    paths: pd.DataFrame
    codes: pd.DataFrame
    unconfirmed: frozenset[str]  # paths of entries not checked against the provider's table


def _norm(s: pd.Series) -> pd.Series:
    """Text as compared: NFKC (full-width forms as half-width), no space around ';' segments."""
    s = s.astype("string").fillna("").str.normalize("NFKC")
    return s.str.replace(r"\s*;\s*", ";", regex=True).str.strip()


@lru_cache(maxsize=4)
def load_poi_system(name: str) -> PoiSystem:
    """The packaged table of provider ``name`` ('amap' or 'baidu')."""
    if name not in PROVIDERS:
        raise ValueError(f"'{name}' is not a web-map POI system; known: {', '.join(PROVIDERS)}")
    raw = yaml.safe_load(
        resources.files("ditan.spatial.standards")
        .joinpath("poi_systems.yaml")
        .read_text(encoding="utf-8")
    )[name]
    paths, codes, unconfirmed = [], [], set()
    for e in raw["entries"]:
        ids = e["to"] if isinstance(e["to"], list) else [e["to"]]
        path = str(e["path"])
        if e.get("unconfirmed"):
            unconfirmed.add(path)
        for cid in ids:
            paths.append((path, str(cid)))
            codes += [(str(c), str(cid)) for c in e.get("codes") or ()]
    p = pd.DataFrame(paths, columns=["path", "category"])
    p["path"] = _norm(p["path"]).astype(object)
    p["depth"] = p["path"].str.count(";") + 1
    c = pd.DataFrame(codes, columns=["code", "category"])
    bad = c.loc[~c["code"].str.fullmatch(r"\d{6}"), "code"].tolist()
    if bad:
        raise ValueError(f"poi_systems.yaml {name}: codes must be six digits, not {bad}")
    return PoiSystem(
        name=name,
        source=str(raw["source"]),
        crs=str(raw["crs"]),
        paths=p.drop_duplicates().reset_index(drop=True),
        codes=c.drop_duplicates().reset_index(drop=True),
        unconfirmed=frozenset(unconfirmed),
    )


def provider_crs(name: str) -> str:
    """The coordinate system the provider's exports are in ('gcj02' for Amap, 'bd09' for Baidu)."""
    return load_poi_system(name).crs


def split_parts(values: pd.Series | np.ndarray | list) -> pd.DataFrame:
    """Long table (row, part, text) of the ``|``-joined parts of each value (empty parts left out)."""
    s = pd.Series(np.asarray(values, dtype=object)).astype("string").fillna("")
    parts = s.str.split("|").explode()
    out = pd.DataFrame(
        {"row": parts.index.to_numpy(dtype=np.int64), "text": parts.to_numpy(dtype=object)}
    )
    out["part"] = out.groupby("row").cumcount()
    out["text"] = out["text"].astype("string").fillna("").str.strip()
    return out[out["text"] != ""][["row", "part", "text"]].reset_index(drop=True)


def normalise_codes(codes: pd.Series) -> pd.Series:
    """Typecodes as six-digit text: spreadsheet damage repaired (60200 and 60200.0 → 060200); others kept."""
    s = codes.astype("string").fillna("").str.strip().str.replace(r"\.0+$", "", regex=True)
    digits = s.str.fullmatch(r"\d{1,6}").fillna(False)
    return s.where(~digits, s.str.zfill(6))


_EMPTY = pd.DataFrame({"row": pd.Series(dtype=np.int64), "category": pd.Series(dtype=object)})


def _by_code(codes: pd.Series, table: pd.DataFrame) -> pd.DataFrame:
    """(row, part, category) of the code parts matching the table: exact, else 中类 XXYY00, else 大类 XX0000."""
    parts = split_parts(codes)
    if not len(parts) or not len(table):
        return pd.DataFrame(columns=["row", "part", "category"])
    parts["text"] = normalise_codes(parts["text"])
    found = []
    done = pd.Series(False, index=parts.index)
    for key in (
        parts["text"],
        parts["text"].str[:4] + "00",
        parts["text"].str[:2] + "0000",
    ):
        probe = parts.assign(code=key.to_numpy(dtype=object))[~done.to_numpy()]
        hit = probe.reset_index().merge(table, on="code")
        found.append(hit[["row", "part", "category"]])
        done.loc[hit["index"].unique()] = True
    return pd.concat(found, ignore_index=True)


def _by_path(parts: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    """(row, part, category) of the path parts: the table entries of the longest matching prefix."""
    if not len(parts) or not len(table):
        return pd.DataFrame(columns=["row", "part", "category"])
    segs = parts["text"].str.split(";")
    n = segs.str.len()
    found = []
    for depth in sorted(table["depth"].unique()):
        sub = parts[(n >= depth).to_numpy()]
        prefix = segs[(n >= depth).to_numpy()].str[:depth].str.join(";")
        hit = sub.assign(path=prefix.to_numpy(dtype=object)).merge(
            table[table["depth"] == depth], on="path"
        )
        found.append(hit[["row", "part", "category", "depth"]])
    hits = pd.concat(found, ignore_index=True)
    deepest = hits.groupby(["row", "part"])["depth"].transform("max")
    return hits[hits["depth"] == deepest][["row", "part", "category"]]


def match_types(
    types: pd.Series,
    system: str,
    *,
    codes: pd.Series | None = None,
    ids: list[str] | None = None,
    extra_values: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Long table (row, category) of the ids each row's types name (see the module's description).

    ``types``: the provider's type column (positional rows 0…n-1); ``codes``: Amap's typecode column or None;
    ``ids``: keep only these ids (default all); ``extra_values``: (value, category) of whole values that name
    an id besides the table (the catalogue's ids, Chinese names and aliases). Each (row, category) once.
    """
    sysd = load_poi_system(system)
    keep = (lambda t: t[t["category"].isin(ids)]) if ids is not None else (lambda t: t)
    types = _norm(pd.Series(np.asarray(types, dtype=object)))
    parts = split_parts(types)
    by_path = _by_path(parts, keep(sysd.paths))
    if extra_values is not None and len(extra_values):
        ev = keep(extra_values.assign(value=_norm(extra_values["value"]).astype(object)))
        whole = parts.merge(ev, left_on="text", right_on="value")[["row", "part", "category"]]
        by_path = pd.concat([by_path, whole], ignore_index=True)
    if codes is not None:
        by_code = _by_code(pd.Series(np.asarray(codes, dtype=object)), keep(sysd.codes))
        coded = pd.MultiIndex.from_frame(by_code[["row", "part"]].astype(np.int64))
        key = pd.MultiIndex.from_frame(by_path[["row", "part"]].astype(np.int64))
        by_path = by_path[~key.isin(coded)]
        hits = pd.concat([by_code, by_path], ignore_index=True)
    else:
        hits = by_path
    if not len(hits):
        return _EMPTY.copy()
    out = hits[["row", "category"]].astype({"row": np.int64, "category": object})
    return (
        out.drop_duplicates().sort_values(["row", "category"], kind="stable").reset_index(drop=True)
    )
