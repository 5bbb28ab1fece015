"""ditan 低碳 — spatial indicators of low-carbon and green communities for Chinese urban planning.

The Python API (the README's section "Python API" shows it on the Beijing sample):

- the jobs, each returning its tables and writing files only when ``out`` is given:
  :func:`run` (``ditan run``), :func:`screen`, :func:`check_parcels`, :func:`annex`;
- the steps of a run: :func:`load_config` → :func:`load_study_area` → :func:`compute`;
- :mod:`ditan.indicators`: each indicator family as a function on GeoDataFrames, taking a
  networkx / osmnx graph wherever a street network is needed.

Examples
--------
A networkx graph of four 100 m streets (a square, in metres), a kindergarten at one corner and
homes at the other three (weights 1, 2 and 3). The far corner is 200 m away by the streets, within
the 300 m of the 5-minute tier; raised to 150 m, only the two near corners are:

>>> import geopandas as gpd, networkx as nx, shapely
>>> from ditan import indicators
>>> G = nx.MultiDiGraph(crs="EPSG:4548")
>>> G.add_nodes_from([(1, {"x": 0, "y": 0}), (2, {"x": 100, "y": 0}),
...                   (3, {"x": 100, "y": 100}), (4, {"x": 0, "y": 100})])
>>> keys = G.add_edges_from([(1, 2), (2, 3), (3, 4), (4, 1)], highway="residential")
>>> unit = gpd.GeoDataFrame(geometry=[shapely.box(-10, -10, 110, 110)], crs="EPSG:4548")
>>> kindergarten = gpd.GeoDataFrame({"category": ["幼儿园"]}, geometry=[shapely.Point(0, 0)],
...                                 crs="EPSG:4548")
>>> corners = [shapely.Point(100, 0), shapely.Point(0, 100), shapely.Point(100, 100)]
>>> homes = gpd.GeoDataFrame({"w": [1, 2, 3]}, geometry=corners, crs="EPSG:4548")
>>> lc = indicators.life_circle(unit, G, kindergarten, homes=homes, weight_column="w")
>>> float(lc.loc[0, "lc_kindergarten_pct"])
100.0
>>> lc = indicators.life_circle(unit, G, kindergarten, homes=homes, weight_column="w",
...                             tiers={"5min": 150})
>>> float(lc.loc[0, "lc_kindergarten_pct"])  # (1 + 2) / (1 + 2 + 3)
50.0

The repository keeps the design's folders at its top (``spatial/``, ``maps/``, ``pipelines/``); the
distribution installs them under this package, as ``ditan.spatial``, ``ditan.maps`` and
``ditan.pipelines``, so that nothing generic lands at the top of site-packages. In a source checkout
the same names resolve to the folders beside this one.

"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # for type checkers and editors; at run time the names are imported on first use
    from ditan import indicators
    from ditan._jobs import (
        AnnexSheets,
        ParcelCheckTables,
        ScreeningTables,
        annex,
        check_parcels,
        screen,
    )
    from ditan.api import RunTables, compute, load_config, load_study_area, run

__version__ = "0.1.0"

__all__ = [
    "run",
    "screen",
    "check_parcels",
    "annex",
    "load_config",
    "load_study_area",
    "compute",
    "indicators",
    "RunTables",
    "ScreeningTables",
    "ParcelCheckTables",
    "AnnexSheets",
    "__version__",
]

_checkout = Path(__file__).resolve().parent.parent
if (
    not (Path(__file__).resolve().parent / "spatial").is_dir()
    and (_checkout / "spatial" / "__init__.py").is_file()
):
    __path__.append(str(_checkout))  # a source checkout: ditan.spatial is ../spatial

#: public name → the module that defines it (imported on first use: ``import ditan`` stays quick for
#: the CLI)
_LAZY = {
    **dict.fromkeys(("run", "load_config", "load_study_area", "compute", "RunTables"), "ditan.api"),
    **dict.fromkeys(
        ("screen", "check_parcels", "annex", "ScreeningTables", "ParcelCheckTables", "AnnexSheets"),
        "ditan._jobs",
    ),
}


def __getattr__(name: str) -> Any:
    if name == "indicators":
        return importlib.import_module("ditan.indicators")
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'ditan' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
