"""Output column names built from the configured values — the one place they are spelled.

Life-circle columns carry the tier id (``lc_15min_all_pct``) and proximity columns the radius
(``bus_stop_500m_radius_pct``): a run at ``transit.radius_m: 400`` writes ``bus_stop_400m_radius_pct``.
The registry, the NaN reasons, the map, the annex and the profiles read the names from here.
"""

from __future__ import annotations

import re

__all__ = [
    "distance_tag",
    "proximity",
    "proximity_columns",
    "parse_proximity",
    "lc_category",
    "lc_all",
    "lc_score",
    "lc_assessed",
    "lc_categories_total",
]

#: station kinds measured by distance (500 m radius and network), in table order
PROXIMITY_KINDS = ("bus_stop", "metro", "bike_rental")
#: station kinds counted inside each unit → count column
STATION_COUNTS = {"bus_stop": "bus_stop_count", "metro": "metro_station_count", "bike_rental": "bike_rental_count",
                  "ev_charging": "ev_charging_count"}  # fmt: skip
METHODS = ("radius", "network")
_PROXIMITY = re.compile(
    r"^(?P<kind>"
    + "|".join(PROXIMITY_KINDS)
    + r")_(?P<d>\d+(?:\.\d+)?)m_(?P<method>radius|network)_pct$"
)


def distance_tag(distance_m: float) -> str:
    """'500m' for 500.0, '312.5m' for 312.5."""
    return f"{float(distance_m):g}m"


def proximity(kind: str, radius_m: float, method: str) -> str:
    """Share of homes within ``radius_m`` of a station of ``kind``: ``bus_stop_500m_radius_pct``."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, not {method!r}")
    return f"{kind}_{distance_tag(radius_m)}_{method}_pct"


def proximity_columns(radius_m: float) -> list[str]:
    """Every proximity column at one radius, in table order."""
    return [proximity(k, radius_m, m) for k in PROXIMITY_KINDS for m in METHODS]


def parse_proximity(column: str) -> tuple[str, float, str] | None:
    """(kind, radius_m, method) of a proximity column name, else None."""
    m = _PROXIMITY.match(column)
    return (m["kind"], float(m["d"]), m["method"]) if m else None


def lc_category(category_id: str) -> str:
    """Share of homes within the category's tier distance: ``lc_kindergarten_pct``."""
    return f"lc_{category_id}_pct"


def lc_all(tier_id: str) -> str:
    """Share of homes with every category of the tier within reach: ``lc_15min_all_pct``."""
    return f"lc_{tier_id}_all_pct"


def lc_score(tier_id: str) -> str:
    """Weighted mean share of the tier's assessed categories within reach: ``lc_15min_score_pct``."""
    return f"lc_{tier_id}_score_pct"


def lc_assessed(tier_id: str) -> str:
    """Number of the tier's categories assessed (not data gaps): ``lc_15min_assessed_count``."""
    return f"lc_{tier_id}_assessed_count"


def lc_categories_total(tier_id: str) -> str:
    """Number of categories of the tier in the catalogue: ``lc_15min_categories_count``."""
    return f"lc_{tier_id}_categories_count"
