"""The facility and station catalogue: tag rules as data, matched vectorially.

A rule is a mapping of tag key -> value or list of values (all must hold), plus optional
``name_regex`` (tested against the ``name`` column) and ``min_area_m2`` (tested against the
``area_m2`` column; features without an area, i.e. points, do not pass a min-area rule).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

__all__ = ["Tier", "Category", "Catalogue", "load_catalogue", "value_lookup", "rule_mask", "match"]

SPECIAL = ("name_regex", "min_area_m2")


@dataclass(frozen=True)
class Tier:
    id: str
    distance_m: float
    zh: str
    en: str


@dataclass(frozen=True)
class Category:
    id: str
    tier: str
    zh: str
    en: str
    match: tuple  # OSM tag rules
    source: str = ""  # the clause of the standard the category rests on
    unconfirmed: bool = False  # tier or entry not checked against the printed standard
    aliases: tuple[str, ...] = ()  # values accepted in a planner's category column
    overture: tuple[str, ...] = ()  # Overture places categories.primary values


@dataclass(frozen=True)
class Catalogue:
    tiers: dict[str, Tier]
    categories: dict[str, Category]
    stations: dict[str, Category]
    amenities: dict[str, Category] = field(
        default_factory=dict
    )  # counted inside each unit (canteens, recycling)

    def tier_distance_m(self, category_id: str) -> float:
        return self.tiers[self.categories[category_id].tier].distance_m


def load_catalogue(
    path: str | os.PathLike | None = None,
    *,
    tier_distances_m: dict[str, float] | None = None,
    extra_categories: list[dict] | None = None,
    extend_categories: list[dict] | None = None,
) -> Catalogue:
    """Load the catalogue (the packaged GB 50180 one by default).

    Tier distances may be overridden. ``extra_categories`` (same schema as the file's entries) are
    added after the file's; an id the catalogue already has (a category, community amenity or
    station kind) is refused, never replaced. ``extend_categories`` ({id, aliases, match, overture})
    adds values and OSM rules to an existing entry of any of the three.
    """
    if path is None:
        text = (
            resources.files("ditan.spatial.standards")
            .joinpath("life_circle.yaml")
            .read_text(encoding="utf-8")
        )
    else:
        text = Path(path).read_text(encoding="utf-8")
    extra = yaml.safe_dump(list(extra_categories or []), allow_unicode=True, sort_keys=True)
    extend = yaml.safe_dump(list(extend_categories or []), allow_unicode=True, sort_keys=True)
    return _parse(text, tuple(sorted((tier_distances_m or {}).items())), extra, extend)


def _category(c: dict, tier: str) -> Category:
    missing = [k for k in ("id", "zh", "en") if not c.get(k)]
    if missing:
        raise ValueError(f"life-circle category {c.get('id', c)!r} lacks {', '.join(missing)}")
    return Category(
        id=str(c["id"]),
        tier=tier,
        zh=str(c["zh"]),
        en=str(c["en"]),
        match=tuple(c.get("match") or ()),
        source=str(c.get("source", "")),
        unconfirmed=bool(c.get("unconfirmed", False)),
        aliases=tuple(str(a) for a in c.get("aliases") or ()),
        overture=tuple(str(a) for a in c.get("overture") or ()),
    )


#: the entries of a catalogue file extend_categories may extend: (section, how they are named in messages)
SECTIONS = (
    ("categories", "category"),
    ("amenities", "community amenity"),
    ("stations", "station kind"),
)


def _ids(raw: dict) -> dict[str, str]:
    """Every id of a raw catalogue → what it is (category, community amenity, station kind)."""
    out = {str(c["id"]): "category" for c in raw["categories"]}
    for key, what in SECTIONS[1:]:
        out.update({str(k): what for k in raw.get(key) or {}})
    return out


def _extend(raw: dict, ext: dict) -> None:
    """Add the aliases, OSM rules and Overture values of ``ext`` to the entry ``ext['id']`` of ``raw``."""
    cid = str(ext.get("id"))
    known = _ids(raw)
    if cid not in known:
        raise ValueError(
            f"extend_categories: '{cid}' is not in the catalogue (ids: {', '.join(known)}); "
            "a new category goes in extra_categories"
        )
    entry = next((c for c in raw["categories"] if str(c["id"]) == cid), None)
    if entry is None:
        section = next(k for k, what in SECTIONS if what == known[cid])
        entry = raw[section][cid]
    for key in ("aliases", "match", "overture"):
        add = [v for v in ext.get(key) or () if v not in (entry.get(key) or [])]
        entry[key] = [*(entry.get(key) or []), *add]


@lru_cache(maxsize=8)
def _parse(text: str, overrides: tuple, extra: str = "[]", extend: str = "[]") -> Catalogue:
    raw = yaml.safe_load(text)
    raw["categories"] = [dict(c) for c in raw["categories"]]
    for ext in yaml.safe_load(extend) or []:
        _extend(raw, ext)
    for c in yaml.safe_load(extra) or []:
        c = {"source": "added in the run configuration", **c}
        if (what := _ids(raw).get(str(c.get("id")))) is not None:
            raise ValueError(
                f"extra_categories: '{c.get('id')}' is already a {what} of the catalogue; it is not replaced. "
                f"To add aliases, OSM rules or Overture values to it use extend_categories "
                f"([{{id: {c.get('id')}, aliases: [...]}}]); to change its tier or names copy the catalogue "
                "(life_circle.catalogue); a new category needs a new id"
            )
        raw["categories"].append(c)
    over = dict(overrides)
    tiers = {
        k: Tier(id=k, distance_m=float(over.get(k, v["distance_m"])), zh=v["zh"], en=v["en"])
        for k, v in raw["tiers"].items()
    }
    cats = {}
    for c in raw["categories"]:
        if c.get("tier") not in tiers:
            raise ValueError(
                f"life-circle category '{c.get('id')}' names tier '{c.get('tier')}', not one of {list(tiers)}"
            )
        cats[str(c["id"])] = _category(c, c["tier"])
    stations = {k: _category({"id": k, **v}, "") for k, v in raw.get("stations", {}).items()}
    amenities = {k: _category({"id": k, **v}, "") for k, v in raw.get("amenities", {}).items()}
    return Catalogue(tiers=tiers, categories=cats, stations=stations, amenities=amenities)


def value_lookup(entries: dict[str, Category], system: str) -> pd.DataFrame:
    """Long table (value, category) of the values that name each entry in a category column.

    ``system`` 'catalogue': the id, the Chinese name and the aliases; 'overture': the Overture
    places categories. One value may name several entries (a supermarket is a market and a store).
    """
    rows = []
    for c in entries.values():
        values = (c.id, c.zh, *c.aliases) if system == "catalogue" else c.overture
        rows += [(v, c.id) for v in values]
    return pd.DataFrame(rows, columns=["value", "category"]).drop_duplicates()


def rule_mask(tags: pd.DataFrame, rule: dict) -> np.ndarray:
    """Rows of ``tags`` that satisfy one rule."""
    mask = np.ones(len(tags), dtype=bool)
    for key, want in rule.items():
        if key == "name_regex":
            names = tags["name"] if "name" in tags.columns else pd.Series("", index=tags.index)
            mask &= names.fillna("").astype(str).str.contains(want, regex=True).to_numpy()
        elif key == "min_area_m2":
            areas = (
                tags["area_m2"]
                if "area_m2" in tags.columns
                else pd.Series(np.nan, index=tags.index)
            )
            mask &= (areas.fillna(-1.0) >= float(want)).to_numpy()
        else:
            if key not in tags.columns:
                return np.zeros(len(tags), dtype=bool)
            values = [str(v) for v in want] if isinstance(want, list) else [str(want)]
            mask &= tags[key].isin(values).to_numpy()
    return mask


def match(tags: pd.DataFrame, entries: dict[str, Category]) -> pd.DataFrame:
    """Long table (row position, category id) of every row that matches each entry.

    A feature may fall in several categories (a supermarket is both a market and a store).
    """
    parts = []
    for cat in entries.values():
        hit = np.zeros(len(tags), dtype=bool)
        for rule in cat.match:
            hit |= rule_mask(tags, rule)
        if hit.any():
            parts.append(pd.DataFrame({"row": np.flatnonzero(hit), "category": cat.id}))
    if not parts:
        return pd.DataFrame({"row": pd.Series(dtype=int), "category": pd.Series(dtype=str)})
    return pd.concat(parts, ignore_index=True)
