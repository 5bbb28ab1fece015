"""``ditan export --shapefile``: a run's communities.gpkg as a Shapefile, with field names of ten characters at most.

A dBASE field name holds ten ASCII characters, so GDAL would cut ``road_density_expressway_km_per_km2`` to
``road_densi`` and number the clashes (``road_den_1``, ``road_den_2`` …). Here each name is shortened by its words
(:data:`WORDS`: ``road_density_km_per_km2`` → ``rddenkmk2``), clashes get a digit, and field_map.csv maps every short name
back to its column, Chinese name and unit. The text is UTF-8 (a ``.cpg`` says so), the CRS is in the ``.prj``.

A text longer than a dBASE field's 254 bytes is shortened (at a character) and counted; the GeoPackage keeps the whole.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio

from ditan.pipelines.outputs import files as write
from ditan.pipelines.outputs import xlsx_style
from ditan.pipelines.outputs.staging import staged_dir
from ditan.spatial.errors import ConfigError
from ditan.spatial.standards.registry import registry

MAX_NAME = 10  # characters of a dBASE field name
MAX_TEXT_BYTES = 254  # bytes of a dBASE character field
LAYER = "communities"
#: a word of a column name → its abbreviation ('' drops it); a word not here keeps its first three letters
WORDS = {
    "density": "den", "road": "rd", "intersection": "isc", "length": "len", "expressway": "exp", "arterial": "art",
    "collector": "col", "local": "loc", "count": "n", "footprint": "fp", "overlap": "ovl", "floor": "fl", "area": "a",
    "ratio": "r", "source": "src", "parcel": "pcl", "buildings": "bld", "building": "bld", "estimated": "est",
    "default": "df", "floors": "fl", "housing": "hs", "residential": "res", "community": "com", "service": "svc",
    "public": "pub", "commercial": "cmr", "industrial": "ind", "transport": "trn", "utilities": "utl", "green": "grn",
    "unknown": "unk", "data": "d", "system": "sys", "entropy": "ent", "index": "ix", "space": "sp", "greenway": "gw",
    "station": "st", "links": "lk", "coverage": "cov", "large": "lg", "small": "sm", "permeable": "prm", "raster": "ras",
    "nodata": "nd", "residents": "rsd", "middle": "mid", "school": "sch", "hospital": "hsp", "culture": "cul",
    "centre": "ctr", "sports": "spt", "elderly": "eld", "primary": "pri", "market": "mkt", "health": "hth",
    "kindergarten": "kg", "convenience": "cnv", "daycare": "dc", "playground": "pg", "score": "sc", "assessed": "as",
    "categories": "cat", "stop": "s", "metro": "mtr", "radius": "r", "network": "n", "bike": "bk", "rental": "",
    "charging": "chg", "canteen": "cnt", "recycling": "rcy", "population": "pop", "per": "", "person": "pp",
    "people": "pp", "carbon": "c", "covered": "cov", "energy": "en", "year": "", "capita": "pc", "sink": "snk",
    "rooftop": "rf", "renewable": "rnw", "substitution": "sub", "potential": "pot", "reduction": "red", "rate": "rt",
    "pct": "p", "km2": "k2", "high": "hi", "low": "lo", "5min": "5", "10min": "10", "15min": "15", "500m": "500",
    "basis": "bas", "raw": "raw", "naive": "nv",
}  # fmt: skip
OUTPUTS = (
    "communities.shp",
    "communities.shx",
    "communities.dbf",
    "communities.prj",
    "communities.cpg",
    "field_map.csv",
)


@dataclass
class Export:
    out: Path
    fields: pd.DataFrame  # short_name, column, name_zh, unit, name_en
    shortened: dict[str, int] = field(default_factory=dict)  # column → texts cut to 254 bytes


def _abbreviate(column: str) -> str:
    words = [w for w in re.split(r"[^0-9A-Za-z]+", column.lower()) if w]
    parts = [WORDS[w] if w in WORDS else w[:3] for w in words]
    parts = [p for p in parts if p] or ["f"]
    joined = "_".join(parts)
    name = joined if len(joined) <= MAX_NAME else "".join(parts)
    name = name[:MAX_NAME]
    return name if name[0].isalpha() else ("f" + name)[:MAX_NAME]


def short_names(columns: Sequence[str]) -> dict[str, str]:
    """A unique (case-insensitively) dBASE name of ≤ 10 ASCII characters per column, in order.

    A column of ten ASCII letters, digits or ``_`` keeps its name (these are reserved first); the others are shortened
    by their words (:data:`WORDS`), and a clash ends in 1, 2 … instead of its last characters.
    """
    out: dict[str, str] = {}
    taken: set[str] = set()
    fits = [c for c in columns if len(c) <= MAX_NAME and re.fullmatch(r"[A-Za-z][0-9A-Za-z_]*", c)]
    for c in fits:
        if c.lower() not in taken:
            out[c] = c
            taken.add(c.lower())
    for c in columns:
        if c in out:
            continue
        base = _abbreviate(c)
        name, k = base, 1
        while name.lower() in taken:
            digits = str(k)
            name = base[: MAX_NAME - len(digits)] + digits
            k += 1
        out[c] = name
        taken.add(name.lower())
    return out


def _source(path: Path) -> Path:
    """The GeoPackage: ``path`` itself, or a run folder's communities.gpkg."""
    if path.is_dir():
        gpkg = path / "communities.gpkg"
        if not gpkg.is_file():
            raise ConfigError(
                f"{path} holds no communities.gpkg: name a run's output folder (out/<name>/) or a .gpkg"
            )
        return gpkg
    if not path.is_file():
        raise ConfigError(
            f"{path} not found: name a run's output folder (out/<name>/) or its communities.gpkg"
        )
    if path.suffix.lower() != ".gpkg":
        raise ConfigError(
            f"{path} is not a GeoPackage (.gpkg): name a run's output folder or its communities.gpkg"
        )
    return path


def _layer(gpkg: Path) -> str:
    names = [str(n) for n, g in pyogrio.list_layers(gpkg) if g is not None]
    if LAYER in names:
        return LAYER
    if len(names) == 1:
        return names[0]
    raise ConfigError(
        f"{gpkg} has no layer '{LAYER}' and {len(names)} layers with geometry ({', '.join(names) or 'none'}): "
        "name the communities.gpkg of a ditan run"
    )


def _names_zh(gpkg: Path, layer: str) -> dict[str, str]:
    """The Chinese name of each field from gpkg_data_columns (title), when the file has them."""
    con = sqlite3.connect(f"file:{gpkg}?mode=ro", uri=True)
    try:
        if not con.execute(
            "SELECT 1 FROM sqlite_master WHERE name = 'gpkg_data_columns'"
        ).fetchone():
            return {}
        rows = con.execute(
            "SELECT column_name, title FROM gpkg_data_columns WHERE table_name = ?", (layer,)
        )
        return {c: t for c, t in rows if isinstance(t, str) and t}
    finally:
        con.close()


def _fit_text(values: pd.Series) -> tuple[pd.Series, int]:
    """Texts cut to MAX_TEXT_BYTES of UTF-8 at a character boundary, and how many were cut."""

    def cut(v: object) -> object:
        if not isinstance(v, str):
            return v
        b = v.encode("utf-8")
        return (
            v if len(b) <= MAX_TEXT_BYTES else b[:MAX_TEXT_BYTES].decode("utf-8", errors="ignore")
        )

    fitted = values.map(cut)
    return fitted, int((fitted.fillna("") != values.fillna("")).sum())


def export_shapefile(source: Path, out: Path | None = None) -> Export:
    """Write communities.shp (+ .shx .dbf .prj .cpg) and field_map.csv into ``out``, swapped in whole.

    ``out`` defaults to ``<run>_shapefile/`` beside the run folder (a run replaces its own folder whole).
    """
    gpkg = _source(Path(source))
    layer = _layer(gpkg)
    if out is None:
        run = gpkg.parent if gpkg.name == "communities.gpkg" else None
        out = (
            (run.parent / f"{run.name}_shapefile")
            if run is not None
            else gpkg.with_name(f"{gpkg.stem}_shapefile")
        )
    frame = gpd.read_file(gpkg, layer=layer, engine="pyogrio")
    geometry = frame.geometry.name
    cols = [str(c) for c in frame.columns if c != geometry]
    names = short_names(cols)
    reg, zh = registry(), _names_zh(gpkg, layer)
    table = pd.DataFrame(
        {
            "short_name": [names[c] for c in cols],
            "column": cols,
            "name_zh": [zh.get(c) or xlsx_style.zh_name(c, reg) for c in cols],
            "unit": [xlsx_style.unit_of(c, reg) for c in cols],
            "name_en": [reg[c].en if c in reg else "" for c in cols],
        }
    )
    shortened = {}
    for c in cols:
        if frame[c].dtype == object or pd.api.types.is_string_dtype(frame[c].dtype):
            frame[c], n = _fit_text(frame[c])
            if n:
                shortened[c] = n
        elif pd.api.types.is_bool_dtype(frame[c].dtype):
            frame[c] = frame[c].astype(
                "int32"
            )  # dBASE has no reliable logical type across readers: 1 / 0
    shp = frame.rename(columns=names)
    with staged_dir(out, allowed=set(OUTPUTS)) as stage:
        pyogrio.write_dataframe(
            shp, stage / "communities.shp", driver="ESRI Shapefile", encoding="UTF-8"
        )
        write.write_csv(stage / "field_map.csv", table.set_index("short_name"))
    return Export(Path(out), table, shortened)
