"""Display text of data values on the maps: escaped, missing as "—", numbers to a readable precision."""

from __future__ import annotations

import html
import math

import numpy as np
import pandas as pd

__all__ = ["escaped_text", "value_text", "km2_text"]

MISSING = "—"


def escaped_text(value: object) -> str:
    """Escaped text of a data value; "—" when missing."""
    if value is None or (pd.api.types.is_scalar(value) and pd.isna(value)):
        return MISSING
    return html.escape(str(value))


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


def km2_text(value: object) -> str:
    """Display text of an area in km², to 3 decimals (1,000 m²)."""
    f = pd.to_numeric(value, errors="coerce")
    return f"{f:,.3f}" if pd.notna(f) and math.isfinite(f) else MISSING
