"""Land-cover products by name (landcover_products.yaml): each product's legend and its vegetation and impervious classes.

``inputs.landcover.product: clcd`` selects CLCD's classes instead of hand-written lists; explicit
``vegetation_classes`` / ``impervious_classes`` still override. The table says for each product why
cropland and wetland are in or out of green coverage (绿化覆盖率), and its source.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

from ditan.spatial.standards import packaged_yaml

__all__ = ["LandcoverProduct", "products", "product", "default_name", "unknown_message", "fitting"]


@dataclass(frozen=True)
class LandcoverProduct:
    key: str  # the name used in configs (clcd, worldcover …)
    name_zh: str
    name_en: str
    resolution_m: float
    classes: dict[int, str]  # code → name (English and Chinese)
    vegetation: tuple[int, ...]
    tree: tuple[int, ...]  # tree cover (the carbon sink): a subset of vegetation
    impervious: tuple[int, ...]
    source: str
    unconfirmed: bool
    notes: str

    @property
    def label(self) -> str:
        return f"{self.name_zh} / {self.name_en}"


def _table() -> dict:
    return packaged_yaml("landcover_products.yaml")


@cache
def products() -> dict[str, LandcoverProduct]:
    """Every product of the table, by config name."""
    out = {}
    for key, p in _table()["products"].items():
        out[key] = LandcoverProduct(
            key=key,
            name_zh=p["name_zh"],
            name_en=p["name_en"],
            resolution_m=float(p["resolution_m"]),
            classes={int(c): str(n) for c, n in p["classes"].items()},
            vegetation=tuple(int(c) for c in p["vegetation"]),
            tree=tuple(int(c) for c in p.get("tree", ())),
            impervious=tuple(int(c) for c in p["impervious"]),
            source=p["source"],
            unconfirmed=bool(p.get("unconfirmed", False)),
            notes=p.get("notes", ""),
        )
    return out


def default_name() -> str:
    """The product whose classes apply when a config names neither a product nor class lists (WorldCover)."""
    return str(_table()["default"])


def unknown_message(name: str) -> str:
    """'unknown land-cover product 'x' — did you mean 'clcd'? known: …' (for check-config)."""
    known = sorted(products())
    close = difflib.get_close_matches(str(name).lower(), known, n=1, cutoff=0.5)
    return (
        f"unknown land-cover product '{name}' (未知的地表覆盖产品)"
        + (f" — did you mean '{close[0]}'?" if close else "")
        + f" known: {', '.join(known)}"
    )


def product(name: str) -> LandcoverProduct:
    """The product named ``name`` (case-insensitive); KeyError with :func:`unknown_message` when unknown."""
    table = products()
    key = str(name).strip().lower()
    if key not in table:
        raise KeyError(unknown_message(name))
    return table[key]


def fitting(found: Iterable[float]) -> list[LandcoverProduct]:
    """The products whose legend holds every code ``found`` and which would count some of them.

    Best fit first (fewest legend codes left unused), so codes 1–9 name CLCD before Dynamic World.
    """
    codes = {int(c) for c in found if float(c).is_integer()}
    if not codes or len(codes) != len(set(found)):
        return []
    fits = [
        p
        for p in products().values()
        if codes <= set(p.classes) and codes & (set(p.vegetation) | set(p.impervious))
    ]
    return sorted(fits, key=lambda p: (len(set(p.classes) - codes), p.key))
