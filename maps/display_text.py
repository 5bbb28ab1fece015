"""Display text of data values on the maps: escaped, missing as "—", numbers to a readable precision."""

from __future__ import annotations

import html
import math

import numpy as np
import pandas as pd

__all__ = ["inert_html", "escaped_text", "value_text", "value_texts", "km2_text"]

MISSING = "—"


def inert_html(text: str) -> str:
    """``text`` as HTML text: markup escaped, and braces as character references.

    folium and branca compile each element's rendered output once more as a Jinja template, so a
    "{{ … }}" or "{% … %}" from data or config would run as template code there; as ``&#123;`` it
    is only shown as "{".
    """
    return html.escape(text).replace("{", "&#123;").replace("}", "&#125;")


def escaped_text(value: object) -> str:
    """Escaped text of a data value; "—" when missing."""
    if value is None or (pd.api.types.is_scalar(value) and pd.isna(value)):
        return MISSING
    return inert_html(str(value))


def value_text(value: object) -> str:
    """Display text of an indicator value: integers as is, other numbers to 2 decimals, text escaped."""
    if isinstance(value, (bool, np.bool_)):
        return "是 yes" if value else "否 no"
    if isinstance(value, (int, float, np.integer, np.floating)):
        f = float(value)
        if not math.isfinite(f):
            return MISSING
        return f"{f:,.0f}" if f.is_integer() and abs(f) < 1e15 else f"{f:,.2f}"
    return escaped_text(value)


def value_texts(values: pd.Series) -> list[str]:
    """:func:`value_text` of every value of a column; numeric columns formatted without a call per value."""
    dtype = values.dtype
    if pd.api.types.is_bool_dtype(dtype) or not pd.api.types.is_numeric_dtype(dtype):
        return [value_text(v) for v in values.tolist()]
    arr = values.to_numpy(dtype=float, na_value=np.nan)
    finite = np.isfinite(arr)
    with np.errstate(invalid="ignore"):
        whole = finite & (np.abs(arr) < 1e15) & (arr == np.trunc(arr))
    return [
        (f"{v:,.0f}" if w else f"{v:,.2f}") if f else MISSING
        for v, f, w in zip(arr.tolist(), finite.tolist(), whole.tolist(), strict=True)
    ]


def km2_text(value: object) -> str:
    """Display text of an area in km², to 3 decimals (1,000 m²)."""
    f = pd.to_numeric(value, errors="coerce")
    return f"{f:,.3f}" if pd.notna(f) and math.isfinite(f) else MISSING
