"""Analysis units derived from the road network, and their names.

When no community boundaries are given, units are the blocks enclosed by roads of tertiary class
and above inside the study bounds.

Which faces are blocks. Polygonizing those roads together with the outline of the study bounds
(the *frame*) gives faces. A face is a block when roads close it:

* a face the frame does not touch is closed by roads all round;
* a face the frame touches that lies inside a loop of the roads as given (they run on past the
  frame) is an ordinary block the frame cuts at the edge of the study area;
* any other face is closed by the frame. It is an edge block (a block the frame cuts where the
  roads beyond the frame are not in the data) only when it has no hole and at most
  ``blocks.FRAME_SHARE_MAX`` (60 %) of its outline lies on the frame. A face that wraps around other
  blocks (it has an interior ring) or whose outline is mostly the frame is the *outer remainder* —
  the land between the outermost roads and the bounds. Its pieces that the next road tier or named
  paths close all round (a compound outside the tertiary network) are kept; the rest is dropped,
  counted in the report.

Holes. A block keeps a hole only where the hole holds another unit: a loop of tertiary roads,
joined to the roads around it by minor roads only, encloses a block of its own (a ring road round
a campus core or a stadium), and the land between the two loops is a block, closed by roads
inside and out. A hole that holds no unit (a small loop of road whose inside was dropped as a
sliver) is filled: its land belongs to the block around it.

Oversized blocks. A block over ``max_area_m2`` is subdivided in a cascade, each piece still over
the limit going on to the next step: ``next_tier`` — residential, unclassified and living streets
and named service roads; ``named_paths`` — those and named footways, paths, cycleways, pedestrian
streets and service roads; ``grid`` — the last resort: a grid aligned with the block's minimum
rotated rectangle cuts it into pieces of equal area, each at most ``max_area_m2`` (pieces under
``min_area_m2`` merged into their neighbour, so the grid loses no land). A block that is mostly
open land (at least ``OPEN_LAND_SHARE`` of it in ``open_land``: parks, green space, water) is not
cut by a grid — a grid would only cut a park or a lake into pieces nobody lives in — and stays
whole, listed with the reason in ``above_max_reason``. Each unit's ``split_by`` names the step
that made it (``SPLIT_STEPS``; "roads": the block as the tertiary+ roads enclose it).

Slivers. Blocks under ``min_area_m2`` and strips narrower than ``min_width_m`` (the medians
between divided carriageways, slip-road islands) are dropped, at every step but the grid.

Names. Each unit is named after the most specific (smallest) named area covering at least
``name_share`` of it (a residential compound, a campus), else after its two longest bounding
roads, else "街区 U0xx".
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ditan.spatial.crs.metric import ensure_projected
from ditan.spatial.engine.allocate import polygon_pieces
from ditan.spatial.study_area.blocks import (
    _TOUCH_M,
    _blocks,
    _faces,
    _fill_empty_holes,
    _grid_split,
    _not_sliver,
    _on_frame_m,
    _outer_remainder,
)

__all__ = ["UnitsReport", "derive_units", "derive_units_report", "name_units"]

BLOCK_HIGHWAYS = ("motorway", "motorway_link", "trunk", "trunk_link", "primary", "primary_link",
                  "secondary", "secondary_link", "tertiary", "tertiary_link")  # fmt: skip

#: the next road tier (with service roads that carry a name): step ``next_tier`` of the cascade
SUBDIVIDE_HIGHWAYS = ("residential", "unclassified", "living_street")
#: paths that split an oversized block when they carry a name (a campus avenue, a park promenade):
#: step ``named_paths`` of the cascade
NAMED_PATH_HIGHWAYS = ("footway", "path", "cycleway", "pedestrian", "service")

#: what made a unit (the ``split_by`` column), in cascade order, with the summary's words for it
SPLIT_STEPS: dict[str, str] = {
    "roads": "enclosed by tertiary+ roads 道路围合",
    "next_tier": "split by the next road tier (residential, unclassified, living streets, named "
    "service roads) 次级道路细分",
    "named_paths": "split by named paths (footway, path, cycleway, pedestrian, service) 有名称步道细分",
    "grid": "split by a regular grid, last resort 规则网格切分",
}

#: an oversized block at least this share open land (parks, green space, water) is not cut by a grid
OPEN_LAND_SHARE = 0.75
#: a unit is above max_area_m2 only by more than this (m²): grid pieces are max_area_m2 to within
#: floating-point noise
AREA_TOL_M2 = 1.0


@dataclass
class UnitsReport:
    """What :func:`derive_units_report` set aside, filled in and split, for the summary and the ledger."""

    remainders: int = 0  # faces of the outer remainder
    remainder_area_m2: float = 0.0  # of it dropped (not in a block that roads close all round)
    salvaged: int = 0  # blocks inside the remainder that roads close all round, kept
    holes_filled: int = 0  # holes that held no unit, filled
    blocks_split: Counter = field(default_factory=Counter)  # cascade step → blocks it split

    def lines(self, units: gpd.GeoDataFrame, max_area_m2: float) -> list[str]:
        """The summary, one line per fact (English with Chinese beside)."""
        out = []
        if self.remainders:
            kept = (
                f", {self.salvaged} block(s) in it closed by minor roads kept"
                if self.salvaged
                else ""
            )
            out.append(
                f"outer remainder dropped 外围剩余地块已舍弃: {self.remainders} face(s) between the "
                "outermost roads and the study bounds, closed by the bounds rather than by roads"
                f"{kept}; {self.remainder_area_m2 / 1e6:.2f} km² dropped (set the bounds to end on "
                "roads, or draw those units in inputs.units)"
            )
        if self.holes_filled:
            out.append(
                f"holes filled 内部空洞并入: {self.holes_filled} small loop(s) of road holding no "
                "unit, their land given to the block around them"
            )
        made = units["split_by"].value_counts() if len(units) else pd.Series(dtype=int)
        for step, words in SPLIT_STEPS.items():
            if step != "roads" and self.blocks_split[step]:
                out.append(
                    f"{words}: {self.blocks_split[step]} block(s) over {max_area_m2 / 1e6:g} km² "
                    f"→ {int(made.get(step, 0))} unit(s)"
                )
        above = units[units["above_max_reason"].notna()] if len(units) else units
        if len(above):
            out.append(
                f"units above max_area_m2 超过面积上限的单元 ({max_area_m2 / 1e6:g} km²): {len(above)}"
            )
            ids = above["unit_id"] if "unit_id" in above else above.index.to_series()
            for uid, g, why in zip(ids, above.geometry, above["above_max_reason"], strict=True):
                out.append(f"  {uid}  {g.area / 1e6:.3f} km²: {why}")
        return out


def derive_units(
    roads: gpd.GeoDataFrame, bounds: shapely.Polygon, **options: Any
) -> gpd.GeoDataFrame:
    """Blocks enclosed by the given road classes inside ``bounds`` (metric CRS), largest first.

    Columns unit_id, split_by (``SPLIT_STEPS``), above_max_reason (None unless the unit is over
    ``max_area_m2``); ``options`` and the rules as :func:`derive_units_report`, which also reports what was dropped,
    filled in and split (see the module docstring).
    """
    return derive_units_report(roads, bounds, **options)[0]


def derive_units_report(
    roads: gpd.GeoDataFrame,
    bounds: shapely.Polygon,
    *,
    highways: tuple[str, ...] = BLOCK_HIGHWAYS,
    min_area_m2: float = 20_000.0,
    min_width_m: float = 30.0,
    max_area_m2: float = 1_000_000.0,
    subdivide_highways: tuple[str, ...] = SUBDIVIDE_HIGHWAYS,
    path_highways: tuple[str, ...] = NAMED_PATH_HIGHWAYS,
    open_land: np.ndarray | None = None,
    open_land_share: float = OPEN_LAND_SHARE,
) -> tuple[gpd.GeoDataFrame, UnitsReport]:
    """:func:`derive_units`, and the report of what was dropped, filled in and split.

    ``open_land``: polygons (metric CRS) of parks, green space and water; an oversized block at
    least ``open_land_share`` covered by them is kept whole rather than cut by a grid.
    """
    ensure_projected(roads, "roads")
    report = UnitsReport()
    geoms = roads.geometry.to_numpy()
    hw = roads["highway"].to_numpy(dtype=object)
    named = roads["name"].notna().to_numpy() if "name" in roads else np.zeros(len(roads), bool)
    major = geoms[np.isin(hw, highways)]
    faces = _faces(major, bounds)
    faces = faces[_not_sliver(faces, min_area_m2, min_width_m)]
    remainder = _outer_remainder(faces, major, bounds)
    kept, report.holes_filled = _fill_empty_holes(faces[~remainder], bounds)

    next_tier = geoms[np.isin(hw, subdivide_highways) | ((hw == "service") & named)]
    steps = {
        "next_tier": next_tier,
        "named_paths": np.concatenate([next_tier, geoms[np.isin(hw, path_highways) & named]]),
    }
    pool = [(g, "roads") for g in kept]
    for face in faces[remainder]:  # the few faces of the outer remainder: keep what roads close
        pool.extend(_salvage(face, steps, bounds, min_area_m2, min_width_m, report))
    open_geoms = np.asarray(open_land if open_land is not None else [], dtype=object)
    out: list[tuple[shapely.Geometry, str, str | None]] = []
    for g, by in pool:
        if shapely.area(g) <= max_area_m2:
            out.append((g, by, None))
            continue
        pieces = [(g, by)]  # only the few oversized blocks go down the cascade
        for step, lines in steps.items():
            pieces = _split_step(pieces, step, lines, max_area_m2, min_area_m2, min_width_m, report)
        for piece, piece_by in pieces:
            if shapely.area(piece) <= max_area_m2:
                out.append((piece, piece_by, None))
                continue
            share = _covered_share(piece, open_geoms)
            if share >= open_land_share:
                out.append((piece, piece_by, _open_land_reason(share)))
                continue
            report.blocks_split["grid"] += 1
            out.extend((p, "grid", None) for p in _grid_split(piece, max_area_m2, min_area_m2))
    geo = np.array([o[0] for o in out], dtype=object)
    order = np.argsort(-shapely.area(geo), kind="stable") if len(geo) else np.array([], int)
    reason = np.array([o[2] for o in out], dtype=object)[order]
    geo = geo[order]
    # nothing over the limit leaves unlisted (a grid piece grown by merged slivers, in theory)
    stray = (shapely.area(geo) > max_area_m2 + AREA_TOL_M2) & pd.isna(reason)
    reason[stray] = "still above max_area_m2 after every split step 逐级细分后仍超限"
    units = gpd.GeoDataFrame(
        {
            "unit_id": [f"U{i + 1:03d}" for i in range(len(geo))],
            "split_by": np.array([o[1] for o in out], dtype=object)[order],
            "above_max_reason": reason,
        },
        geometry=geo,
        crs=roads.crs,
    )
    return units, report


def _salvage(
    face: shapely.Polygon,
    steps: dict[str, np.ndarray],
    bounds: shapely.Polygon,
    min_area_m2: float,
    min_width_m: float,
    report: UnitsReport,
) -> list:
    """The blocks inside a face of the outer remainder that roads close all round; the rest is dropped.

    The face is split by each cascade step's lines in turn; pieces that do not touch the bounds
    (a compound closed by minor roads and the outermost tertiary roads) are kept with that step's
    name, pieces that touch them go on to the next step, and what is left after the last step is
    dropped and counted in ``report``.
    """
    report.remainders += 1
    out: list = []
    rest = [face]
    for step, lines in steps.items():
        tree = shapely.STRtree(lines)
        nxt: list = []
        for g in rest:
            sub, filled = _blocks(lines[tree.query(g, predicate="intersects")], g, 0.0, 0.0)
            report.holes_filled += filled
            closed = (_on_frame_m(sub, bounds) <= _TOUCH_M) & _not_sliver(
                sub, min_area_m2, min_width_m
            )
            out.extend((p, step) for p in sub[closed])
            nxt.extend(sub[~closed])
        rest = nxt
    report.salvaged += len(out)
    report.remainder_area_m2 += float(shapely.area(face) - sum(shapely.area(p) for p, _ in out))
    return out


def _split_step(
    pieces: list,
    step: str,
    lines: np.ndarray,
    max_area_m2: float,
    min_area_m2: float,
    min_width_m: float,
    report: UnitsReport,
) -> list:
    """Each piece over ``max_area_m2`` split by ``lines`` where they make two blocks or more."""
    tree = shapely.STRtree(lines)
    out: list = []
    for g, by in pieces:
        if shapely.area(g) > max_area_m2:
            parts, filled = _blocks(
                lines[tree.query(g, predicate="intersects")], g, min_area_m2, min_width_m
            )
            if len(parts) >= 2:
                report.holes_filled += filled
                report.blocks_split[step] += 1
                out.extend((p, step) for p in parts)
                continue
        out.append((g, by))
    return out


def _covered_share(g: shapely.Geometry, polys: np.ndarray) -> float:
    """Share of ``g``'s area that ``polys`` cover (overlaps counted once)."""
    if not len(polys):
        return 0.0
    near = polys[shapely.STRtree(polys).query(g, predicate="intersects")]
    if not len(near):
        return 0.0
    return float(shapely.area(shapely.intersection(g, shapely.union_all(near))) / shapely.area(g))


def _open_land_reason(share: float) -> str:
    return (
        f"mostly open land ({share:.0%} parks, green space or water), not cut by a grid "
        "主要为公园绿地与水域，不按网格切分; draw its units in inputs.units to divide it"
    )


def name_units(
    units: gpd.GeoDataFrame,
    named_areas: gpd.GeoDataFrame,
    roads: gpd.GeoDataFrame,
    *,
    name_share: float = 0.3,
) -> pd.Series:
    """A unique name per unit taken from the data where one exists, else generated.

    The most specific (smallest) named area covering at least ``name_share`` of the unit gives
    the name; else the two longest named roads along its edge ("成府路、荷清路围合街区"); else
    "街区 U001". Units that would share a name get their bounding roads, then their id, added.
    """
    ensure_projected(units, "units")
    ugeoms = units.geometry.to_numpy()
    ids = units["unit_id"].to_numpy() if "unit_id" in units else units.index.to_numpy()
    area_name = _area_names(ugeoms, named_areas, name_share)
    road_name = _road_names(ugeoms, roads)
    names = area_name.copy()
    no_area = names.isna()
    names[no_area] = road_name[no_area] + "围合街区"
    names[names.isna()] = ["街区 " + str(u) for u in ids[names.isna().to_numpy()]]
    dup = names.duplicated(keep=False) & area_name.notna() & road_name.notna()
    names[dup] = area_name[dup] + "（" + road_name[dup] + "）"
    dup = names.duplicated(keep=False).to_numpy()
    names[dup] = [f"{nm}（{u}）" for nm, u in zip(names[dup], ids[dup], strict=True)]
    names.index = units.index
    return names


def _area_names(ugeoms: np.ndarray, named_areas: gpd.GeoDataFrame, name_share: float) -> pd.Series:
    names = pd.Series([None] * len(ugeoms), dtype=object)
    if len(named_areas):
        p = polygon_pieces(ugeoms, named_areas.geometry.to_numpy())
        p["share"] = p["area_m2"] / shapely.area(ugeoms)[p["unit"].to_numpy()]
        p["own"] = shapely.area(named_areas.geometry.to_numpy())[p["poly"].to_numpy()]
        p = p[p["share"] >= name_share].sort_values(["unit", "own", "poly"]).drop_duplicates("unit")
        names.iloc[p["unit"].to_numpy()] = named_areas["name"].to_numpy()[p["poly"].to_numpy()]
    return names


def _road_names(ugeoms: np.ndarray, roads: gpd.GeoDataFrame, *, reach_m: float = 15.0) -> pd.Series:
    names = pd.Series([None] * len(ugeoms), dtype=object)
    named = roads[roads["name"].notna()] if "name" in roads else roads.iloc[:0]
    if not len(named):
        return names
    rings = shapely.buffer(shapely.boundary(ugeoms), reach_m)
    ri, ui = shapely.STRtree(rings).query(named.geometry.to_numpy(), predicate="intersects")
    length = shapely.length(shapely.intersection(named.geometry.to_numpy()[ri], rings[ui]))
    df = pd.DataFrame({"unit": ui, "road": named["name"].to_numpy()[ri], "len": length})
    df = df.groupby(["unit", "road"], as_index=False)["len"].sum()
    df = df[df["len"] >= 2 * reach_m].sort_values(
        ["unit", "len", "road"], ascending=[True, False, True]
    )
    top = df.groupby("unit").head(2).groupby("unit")["road"].agg(lambda r: "、".join(sorted(r)))
    names.iloc[top.index.to_numpy()] = top.to_numpy()
    return names
