"""Land-use code systems as data: code tables and the classification of code columns.

Five systems map to ditan's internal classes (``ditan.spatial.landuse.classes.LANDUSE_CLASSES``):

- ``gb50137``: GB 50137-2011 城市用地分类与规划建设用地标准 (R, R2, R22, A33 ...), ``gb50137.yaml``;
- ``gb2023``: 国土空间调查、规划、用途管制用地用海分类指南 (2023) (07, 0701, 070101 ...), ``gb2023.yaml``;
- ``osm``: OpenStreetMap tags (``key=value``, or a bare value looked up across keys), ``osm.yaml``;
- ``overture``: Overture Maps ``land_use`` classes, ``overture.yaml``;
- ``internal``: the internal class ids themselves.

The community's own service land (GB 50137 R12/R22/R32, 2023 guide 0702/0704) is a class of its
own, ``community_service``: whether 公共服务用地比例 counts it depends on the reading, and only the
two national code systems can tell it apart (:func:`community_service_separable`).
"""

from __future__ import annotations

import re
from functools import cache

import numpy as np
import pandas as pd

from ditan.spatial.errors import ConfigError
from ditan.spatial.landuse.classes import LANDUSE_CLASSES, _table, osm_landuse_table

__all__ = ["code_table", "community_service_separable", "classify_codes"]

#: Code systems understood by :func:`code_table` and :func:`classify_codes`.
CODE_SYSTEMS = ("gb50137", "gb2023", "osm", "overture", "internal")

#: Display names of the code systems (for messages and reports).
CODE_SYSTEM_NAMES: dict[str, str] = {
    "gb50137": "GB 50137-2011",
    "gb2023": "用地用海分类指南 (2023)",
    "osm": "OpenStreetMap",
    "overture": "Overture Maps land_use",
    "internal": "ditan internal classes",
}

#: Values :func:`classify_codes` reports in its ``how`` column.
HOW_VALUES = ("code", "name", "parent", "unknown", "empty")

_FILES = {"gb50137": "gb50137.yaml", "gb2023": "gb2023.yaml", "overture": "overture.yaml"}
_TRAILING_ZERO = re.compile(r"^(\d+)\.0+$")
_GB50137_CODE = re.compile(r"^[A-Z]\d{0,3}$")
_GB2023_CODE = re.compile(r"^(\d\d){1,4}$")
_COLUMNS = ["code", "zh", "lu_class", "level", "parent", "unconfirmed"]


def _check_system(system: str) -> None:
    if system not in CODE_SYSTEMS:
        raise ConfigError(
            f"unknown land-use code system {system!r}; use one of: {', '.join(CODE_SYSTEMS)}"
        )


def _level_parent(system: str, code: str) -> tuple[int, str | None]:
    if system == "gb50137":
        return len(code), (code[:-1] if len(code) > 1 else None)
    if system == "gb2023":
        return len(code) // 2, (code[:-2] if len(code) > 2 else None)
    return 1, None


@cache
def _code_table(system: str) -> pd.DataFrame:
    if system in _FILES:
        entries = _table(_FILES[system])["codes"]
        rows = []
        for e in entries:
            code = str(e["code"])
            level, parent = _level_parent(system, code)
            rows.append(
                (
                    code,
                    e.get("zh"),
                    e.get("class"),
                    level,
                    parent,
                    bool(e.get("unconfirmed", False)),
                )
            )
    elif system == "osm":
        osm = osm_landuse_table()
        rows = [
            (f"{key}={value}", None, cls, 1, None, False)
            for key, mapping in osm.items()
            for value, cls in mapping.items()
        ]
    else:
        rows = [(c, zh, c, 1, None, False) for c, (zh, _en) in LANDUSE_CLASSES.items()]
    df = pd.DataFrame(
        rows, columns=_COLUMNS, dtype=object
    )  # object: a missing zh or parent is None, not NaN
    df["level"] = df["level"].astype(int)
    df["unconfirmed"] = df["unconfirmed"].astype(bool)
    bad = df[~df["lu_class"].isin(list(LANDUSE_CLASSES))]
    if len(bad):
        raise ConfigError(
            f"land-use table {system!r}: codes {', '.join(map(str, bad['code']))} map to classes that do not exist "
            f"({', '.join(map(str, bad['lu_class'].unique()))}); use one of: {', '.join(LANDUSE_CLASSES)}"
        )
    dup = df["code"][df["code"].duplicated()]
    if len(dup):
        raise ConfigError(f"land-use table {system!r}: codes listed twice: {', '.join(dup)}")
    return df


def code_table(system: str) -> pd.DataFrame:
    """The code table of one system: code, zh, lu_class, level (1/2/3), parent (or None), unconfirmed.

    ``osm`` codes are ``key=value`` in the order tags are tried (no Chinese names); ``internal``
    codes are the class ids with their Chinese names. Raises ``ConfigError`` for an unknown system.
    """
    _check_system(system)
    return _code_table(system).copy()


def community_service_separable(system: str) -> bool:
    """Whether a code system has community-service codes of its own (GB 50137 R12/R22/R32, 2023 guide 0702/0704).

    Where it does not (OSM, Overture), community-service land is folded into public service or
    residential land and 公共服务用地比例 cannot be read with it counted separately.
    """
    _check_system(system)
    return system in ("gb50137", "gb2023", "internal")


def _normalise(system: str, raw: object) -> str:
    s = str(raw).strip()
    m = _TRAILING_ZERO.match(s)
    if m:
        s = m.group(1)
    if system == "gb50137":
        s = s.upper()
    elif system == "gb2023":
        if s.isdigit() and len(s) % 2 == 1:
            s = "0" + s
    else:
        s = s.lower()
    return s


@cache
def _lookups(
    system: str,
) -> tuple[dict[str, str], dict[str, tuple[str | None, str | None]], dict[str, str]]:
    """(code -> class, zh name -> (code or None when several, class or None when they disagree), osm bare value -> code)."""
    t = _code_table(system)
    by_code = dict(zip(t["code"], t["lu_class"], strict=True))
    by_name: dict[str, tuple[str | None, str | None]] = {}
    named = t[t["zh"].notna()]
    for zh, grp in named.groupby("zh", sort=False):
        codes, classes = grp["code"].tolist(), grp["lu_class"].unique().tolist()
        by_name[str(zh)] = (
            codes[0] if len(codes) == 1 else None,
            classes[0] if len(classes) == 1 else None,
        )
    bare: dict[str, str] = {}
    if system == "osm":
        for code in t["code"]:
            bare.setdefault(code.split("=", 1)[1], code)
    return by_code, by_name, bare


def _parents(system: str, code: str) -> list[str]:
    if system == "gb50137" and _GB50137_CODE.match(code):
        return [code[:i] for i in range(len(code) - 1, 0, -1)]
    if system == "gb2023" and _GB2023_CODE.match(code):
        return [code[:i] for i in range(len(code) - 2, 1, -2)]
    return []


def _classify_one(system: str, raw: object) -> tuple[str | None, str | None, str]:
    by_code, by_name, bare = _lookups(system)
    text = str(raw).strip()
    if not text or text.lower() in ("nan", "none", "null", "<na>"):
        return None, None, "empty"
    code = _normalise(system, raw)
    if code in by_code:
        return code, by_code[code], "code"
    if system == "osm" and code in bare:
        return bare[code], by_code[bare[code]], "code"
    name = re.sub(r"\s+", "", text)
    if name in by_name:
        named_code, cls = by_name[name]
        if cls is not None:
            return named_code, cls, "name"
    for parent in _parents(system, code):
        if parent in by_code:
            return code, by_code[parent], "parent"
    return code, None, "unknown"


def classify_codes(values: pd.Series, system: str) -> pd.DataFrame:
    """Classify a column of land-use codes (or Chinese class names) into internal classes.

    Returns a frame indexed like ``values`` with ``code`` (the normalised code; None for empty
    cells), ``lu_class`` (None where unknown) and ``how``: 'code' (exact match), 'name' (the cell
    held a class name of the table, e.g. 二类居住用地; ``code`` is None when the name is shared by
    several codes, e.g. GB 50137 住宅用地), 'parent' (not in the table but a parent code is:
    080499 -> 0804, A39 -> A3), 'unknown' or 'empty' (null or blank).

    Normalisation: whitespace stripped, a spreadsheet's trailing ".0" dropped (701.0 -> 701),
    GB 50137 letters upper-cased (r2 -> R2), 2023-guide codes of odd length left-padded with one
    zero (701 -> 0701, 80403 -> 080403); OSM values may be ``key=value`` or a bare value, looked up
    across the table's keys in table order. Work is done once per distinct value.
    """
    _check_system(system)
    pos, uniques = pd.factorize(pd.Series(values, copy=False).astype(object), use_na_sentinel=True)
    results = [_classify_one(system, u) for u in uniques] + [(None, None, "empty")]
    code = np.array([r[0] for r in results], dtype=object)
    cls = np.array([r[1] for r in results], dtype=object)
    how = np.array([r[2] for r in results], dtype=object)
    take = np.where(pos < 0, len(uniques), pos)
    idx = values.index
    return pd.DataFrame(
        {
            "code": pd.Series(
                code[take], index=idx, dtype=object
            ),  # object: missing is None, not NaN
            "lu_class": pd.Series(cls[take], index=idx, dtype=object),
            "how": pd.Series(how[take], index=idx, dtype=str),
        }
    )
