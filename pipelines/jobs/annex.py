"""`ditan annex`: the map annex (附图) of an implementation plan — six printed sheets per unit, up to nine.

The indicators are computed once for the whole study area (the walking network and the life
circles need every unit); then, per unit, ditan.maps.annex draws the sheets into ``<unit>.pdf`` (one
page each) and ``<unit>_<n>_<sheet>.png`` (300 dpi). The carbon sheets (7 屋顶光伏潜力图, 8 碳排放强度图) need
the carbon inventory and the buildings, the 指标达标图 (9) a compliance profile (:mod:`ditan.pipelines.jobs.annex_sheets`):
without them they are skipped, and the reason is logged, printed
and kept in annex.json (``skipped_sheets``). Everything is written into a staging folder that
replaces the output folder (default ``out/<name>_annex/``, beside the ``ditan run`` folder) whole.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ditan.maps.annex import draw_unit
from ditan.maps.annex_context import AnnexContext, TileCache
from ditan.maps.annex_page import PAPER_MM
from ditan.maps.annex_sheets import SHEETS, AnnexLayers, sheet_numbers
from ditan.maps.fonts import find_cjk_font
from ditan.pipelines.assemble.load import load_study_area
from ditan.pipelines.compute.indicators import (
    PROXIMITY,
    RunResult,
    Timer,
    compute,
    gap_free_categories,
)
from ditan.pipelines.config.params import params_from_config
from ditan.pipelines.config.schema import Config
from ditan.pipelines.jobs.annex_sheets import carbon_sheets, targets_checks
from ditan.pipelines.jobs.skeleton import Context, Job
from ditan.pipelines.outputs.manifest import attribution
from ditan.pipelines.outputs.names import file_stems, slug
from ditan.spatial.errors import ConfigError
from ditan.spatial.indicators.landuse import landuse_faces, with_unknown_parcels
from ditan.spatial.indicators.roads import classify_roads
from ditan.spatial.study_area.model import RasterInput, StudyArea

log = logging.getLogger(__name__)
MANIFEST = "annex.json"
DPI = 300
#: the names of the files an annex writes (any unit's): the folder may hold them from a previous annex
ANNEX_FILE = re.compile(
    rf"[\w.\-]+(\.pdf|_[1-{len(SHEETS)}]_({'|'.join(key for key, _ in SHEETS)})\.png)"
)


@dataclass
class AnnexOutput:
    out_dir: Path
    files: dict[str, list[Path]]  # unit id -> its PDF and PNGs
    seconds_per_unit: dict[str, float]
    font: str
    paper: str
    #: sheet key → why it was not drawn ('中文 / English'), e.g. the carbon sheets without a carbon inventory
    skipped: dict[str, str] = field(default_factory=dict)


def default_out(cfg: Config) -> Path:
    return Path("out") / f"{cfg.name}_annex"


def safe_name(uid: str) -> str:
    """A unit id usable as a file name (alone; the ids of one annex get unique stems from :func:`unit_stems`)."""
    return slug(uid, fallback="unit")


def unit_stems(uids: list[str]) -> dict[str, str]:
    """Each unit's file stem, unique among ``uids`` (ditan.pipelines.outputs.names.file_stems)."""
    return file_stems(uids, fallback="unit")


def file_names(uid: str, stem: str | None = None, numbers: list[int] | None = None) -> list[str]:
    """The PDF, then one PNG per sheet, of a unit (``stem``: its stem among the annex's units, from :func:`unit_stems`).

    ``numbers``: the sheets drawn (:func:`ditan.maps.annex_sheets.sheet_numbers`); default every sheet of SHEETS.
    """
    stem = stem or safe_name(uid)
    drawn = range(1, len(SHEETS) + 1) if numbers is None else numbers
    return [f"{stem}.pdf", *(f"{stem}_{n}_{SHEETS[n - 1][0]}.png" for n in drawn)]


def pick_units(sa: StudyArea, wanted: list[str] | None) -> list[str]:
    ids = [str(u) for u in sa.units.index]
    if not wanted:
        return ids
    missing = [u for u in wanted if u not in ids]
    if missing:
        raise ConfigError(
            f"--units names units not in the study area: {', '.join(missing)} (units: {', '.join(ids[:20])}"
            f"{' …' if len(ids) > 20 else ''})"
        )
    return list(dict.fromkeys(wanted))


def building_flags(
    sa: StudyArea, res: RunResult, tier: str, radius_m: float, *, per_building: bool = True
) -> gpd.GeoDataFrame:
    """Buildings with ``lc_ok`` (every category of ``tier`` within its distance) and ``transit`` (500 m reach).

    ``per_building``: the origins start with every building (not so for residents from a population raster).
    """
    b = sa.buildings[["residential", "geometry"]].copy()
    b["residential"] = b["residential"].fillna(False).astype(bool)
    n = len(b)
    d = res.origin_distances
    cats = [
        c for c in gap_free_categories(res, sa.catalogue) if sa.catalogue.categories[c].tier == tier
    ]
    lc = pd.Series(pd.NA, index=b.index, dtype=object)
    if (
        per_building and len(d) >= n and cats and sa.has_facility_source
    ):  # origins: every building first, then grid points
        ok = (d[cats].iloc[:n].to_numpy() <= sa.catalogue.tiers[tier].distance_m).all(axis=1)
        lc[:] = np.where(b["residential"].to_numpy(), ok, None)
    b["lc_ok"] = lc
    pts = shapely.point_on_surface(b.geometry.to_numpy())
    reach = {}
    for kinds in (("bus_stop", "metro"), ("bike_rental",)):
        st = sa.stations[sa.stations["kind"].isin(kinds)].geometry.to_numpy()
        hit = np.zeros(n, dtype=bool)
        if len(st):
            hit[
                np.unique(shapely.STRtree(st).query(pts, predicate="dwithin", distance=radius_m)[0])
            ] = True
        reach[kinds[0]] = hit
    transit = np.where(
        reach["bus_stop"], "bus_metro", np.where(reach["bike_rental"], "bike", "none")
    ).astype(object)
    b["transit"] = np.where(b["residential"].to_numpy() & sa.has_station_source, transit, None)
    return b


def raster_reader(lc: RasterInput, crs):
    """Vegetation pixels of the land-cover raster in a map extent: (0/1 array, (left, right, bottom, top)) in ``crs``."""
    import rasterio
    import rasterio.crs
    import rasterio.warp
    import rasterio.windows
    from rasterio.enums import Resampling

    def read(ext: tuple[float, float, float, float]):
        with rasterio.open(lc.path) as src:
            same = src.crs is not None and rasterio.crs.CRS.from_user_input(
                src.crs
            ) == rasterio.crs.CRS.from_user_input(crs)
            box = (
                ext if same else rasterio.warp.transform_bounds(crs, src.crs, *ext, densify_pts=21)
            )
            win = (
                rasterio.windows.from_bounds(*box, transform=src.transform)
                .round_offsets()
                .round_lengths()
            )
            win = win.intersection(rasterio.windows.Window(0, 0, src.width, src.height))
            data = src.read(1, window=win, masked=True)
            nodata = lc.nodata if lc.nodata is not None else src.nodata
            if lc.ndvi_threshold is not None:
                veg = np.asarray(data.filled(np.nan), dtype=float) >= lc.ndvi_threshold
            else:
                veg = np.isin(np.asarray(data.filled(0)), list(lc.vegetation_classes))
            valid = ~np.ma.getmaskarray(data) & (
                np.asarray(data.filled(0)) != nodata if nodata is not None else True
            )
            mask = np.where(valid, veg.astype(np.uint8), 255).astype(np.uint8)
            tr = src.window_transform(win)
            if not same:
                h, w = mask.shape
                b = rasterio.windows.bounds(rasterio.windows.Window(0, 0, w, h), tr)
                dtr, dw, dh = rasterio.warp.calculate_default_transform(src.crs, crs, w, h, *b)
                out = np.full((dh, dw), 255, dtype=np.uint8)
                rasterio.warp.reproject(
                    mask,
                    out,
                    src_transform=tr,
                    src_crs=src.crs,
                    src_nodata=255,
                    dst_transform=dtr,
                    dst_crs=crs,
                    dst_nodata=255,
                    resampling=Resampling.nearest,
                )
                mask, tr = out, dtr
        left, bottom, right, top = rasterio.windows.bounds(
            rasterio.windows.Window(0, 0, mask.shape[1], mask.shape[0]), tr
        )
        return (mask, (left, right, bottom, top)) if mask.size else None

    return read


def annex_layers(
    sa: StudyArea, res: RunResult, cfg: Config, date: str, units: list[str] | None = None
) -> AnnexLayers:
    """What the sheets draw, from the study area and the computed result (``units``: those drawn, default all)."""
    tiers = sa.catalogue.tiers
    tier = "15min" if "15min" in tiers else max(tiers, key=lambda t: tiers[t].distance_m)
    cats = {c.id: (c.zh, c.en) for c in sa.catalogue.categories.values() if c.tier == tier}
    roads = sa.roads[["geometry"]].assign(
        road_class=classify_roads(sa.roads, include=tuple(cfg.roads.include)).to_numpy()
    )
    areas = res.service_areas
    radius = cfg.transit.radius_m
    roofs, pv_method, skipped = carbon_sheets(sa, res)
    checks, rules, profile_name, why = targets_checks(sa, res, cfg, units)
    skipped |= why
    faces = landuse_faces(with_unknown_parcels(sa.landuse, sa.parcels))
    units = res.units[["name", "geometry"]]
    tiles = cfg.map.tile_cache
    context = AnnexContext.build(
        roads=roads,
        landuse=faces,
        buildings=sa.buildings[["geometry"]],
        units=units,
        crs=sa.crs,
        tiles=TileCache(tiles, cfg.map.tile_cache_scheme) if tiles is not None else None,
    )
    return AnnexLayers(
        units=units,
        indicators=res.indicators,
        roads=roads,
        landuse=faces,
        buildings=building_flags(
            sa,
            res,
            tier,
            radius,
            per_building=not (
                cfg.life_circle.weight_by == "population"
                and cfg.life_circle.population_raster is not None
            ),
        ),
        facilities=sa.facilities[sa.facilities["category"].isin(list(cats))],
        stations=sa.stations[sa.stations["kind"].isin(PROXIMITY)],
        service_areas=areas[areas["tier"] == tier],
        vegetation=sa.vegetation,
        categories=cats,
        tier_label=tiers[tier].zh,
        radius_m=radius,
        attribution=attribution(cfg),
        date=date,
        crs_name=f"{sa.crs.name}" + (f"（EPSG:{sa.crs.to_epsg()}）" if sa.crs.to_epsg() else ""),
        vegetation_raster=raster_reader(sa.landcover, sa.crs) if sa.landcover is not None else None,
        tier=tier,
        reasons=res.reasons,
        roofs=roofs,
        pv_method=pv_method,
        skipped=skipped,
        checks=checks,
        rules=rules,
        profile_name=profile_name,
        context=context,
    )


def basemap_entry(L: AnnexLayers) -> dict:
    """annex.json's basemap: the vector context always; with map.tile_cache, the sheets drawn on tiles and those missing them."""
    ctx = L.context
    tiles = ctx.tiles if ctx is not None else None  # the cache the sheets were drawn on
    drawn = ctx.basemap if ctx is not None else {}
    layers = ["roads", "water", "buildings", "neighbour_units"]
    return {
        "vector_context": layers if ctx is not None else [],
        "tile_cache": str(tiles.root) if tiles is not None else None,
        "tile_scheme": tiles.scheme if tiles is not None else None,
        "sheets_with_basemap": {u: [k for k, ok in d.items() if ok] for u, d in drawn.items()},
        "sheets_missing_tiles": {u: [k for k, ok in d.items() if not ok] for u, d in drawn.items()},
    }


@dataclass
class AnnexDrawing:
    sa: StudyArea
    chosen: list[str]
    layers: AnnexLayers
    #: unit id → file stem (unique among the chosen units; BJ/01 and BJ:01 do not share a file)
    stems: dict[str, str] = field(default_factory=dict)

    def files(self, uid: str) -> list[str]:
        """The PDF, then the PNGs of the sheets drawn, of unit ``uid``."""
        return file_names(uid, self.stems.get(uid), sheet_numbers(self.layers))


class AnnexJob(Job[StudyArea, AnnexDrawing]):
    """``ditan annex``: compute once, then draw the sheets of each unit (all, or ``units``); manifest annex.json.

    ``computed``: the study area and result of a run of the same config (``RunOutput.study``, ``.result``), to draw
    without loading and computing again.
    """

    manifest_name = MANIFEST

    def __init__(
        self,
        cfg: Config,
        *,
        units: list[str] | None = None,
        paper: str | None = None,
        computed: tuple[StudyArea, RunResult] | None = None,
    ) -> None:
        self.paper = paper or cfg.map.paper
        if self.paper not in PAPER_MM:
            raise ConfigError(f"paper must be one of {', '.join(PAPER_MM)}, not '{self.paper}'")
        self.font = find_cjk_font()  # before any work: no font, no annex
        logging.getLogger("fontTools").setLevel(
            logging.WARNING
        )  # the font subsetter logs every table at INFO
        self.cfg, self.units, self.computed = cfg, units, computed
        self.seconds: dict[str, float] = {}

    def allowed(self, name: str) -> bool:
        return name == MANIFEST or ANNEX_FILE.fullmatch(name) is not None

    def load(self, ctx: Context) -> StudyArea:
        return self.computed[0] if self.computed is not None else load_study_area(self.cfg)

    def compute(self, sa: StudyArea, ctx: Context) -> AnnexDrawing:
        chosen = pick_units(sa, self.units)
        res = (
            self.computed[1]
            if self.computed is not None
            else compute(sa, params_from_config(self.cfg), ctx.timer)
        )
        return AnnexDrawing(
            sa,
            chosen,
            annex_layers(
                sa, res, self.cfg, ctx.started.astimezone().date().isoformat(), units=chosen
            ),
            unit_stems(chosen),
        )

    def write(self, a: AnnexDrawing, stage: Path, ctx: Context) -> list[str]:
        """The drawing itself: each unit's PDF and PNGs, straight into the staging folder."""
        names: list[str] = []
        for key, why in a.layers.skipped.items():
            n = next(i for i, (k, _) in enumerate(SHEETS, start=1) if k == key)
            log.warning("annex: sheet %d %s (%s) not drawn: %s", n, SHEETS[n - 1][1], key, why)
        with ctx.timer.stage("annex"):
            for uid in a.chosen:
                t0 = time.perf_counter()
                mine = a.files(uid)
                draw_unit(
                    a.layers,
                    uid,
                    paper=self.paper,
                    font=self.font,
                    pdf_path=stage / mine[0],
                    png_paths=[stage / n for n in mine[1:]],
                    dpi=DPI,
                )
                self.seconds[uid] = round(time.perf_counter() - t0, 2)
                names += mine
                log.info("annex %s: %d sheets in %.1f s", uid, len(mine) - 1, self.seconds[uid])
        return names

    def manifest(self, a: AnnexDrawing, base: dict, ctx: Context) -> dict:
        font = self.font
        return {
            "ditan": base["ditan"],
            "run_started_utc": base["run_started_utc"],
            "config_file": str(self.cfg.source_path),
            "paper": self.paper,
            "dpi": DPI,
            "font": {"name": font.name, "file": font.path, "face": font.index},
            "attribution": a.layers.attribution,
            "crs": a.layers.crs_name,
            "units": {u: a.files(u) for u in a.chosen},
            # the sheets not drawn for any unit, with the reason (the carbon sheets without a carbon inventory)
            "skipped_sheets": {
                key: {"title": dict(SHEETS)[key], "reason": why}
                for key, why in a.layers.skipped.items()
            },
            # each file with the unit id it holds (names are made safe and unique: BJ/01 → BJ_01_acb1f774.pdf)
            "file_ids": {name: u for u in a.chosen for name in a.files(u)},
            "basemap": basemap_entry(a.layers),
            "seconds_per_unit": self.seconds,
            "timings_s": base["timings_s"],
            "output_sha256": base["output_sha256"],
        }


def run_annex(
    cfg: Config,
    out_dir: Path,
    *,
    units: list[str] | None = None,
    paper: str | None = None,
    timer: Timer | None = None,
    computed: tuple[StudyArea, RunResult] | None = None,
) -> AnnexOutput:
    """Compute once, then draw the sheets of each unit (all, or ``units``) into ``out_dir`` (replaced whole).

    ``computed``: the study area and result of a run of the same config (``RunOutput.study``, ``.result``), to draw without
    computing again.
    """
    job = AnnexJob(cfg, units=units, paper=paper, computed=computed)
    done = job.run(out_dir, timer=timer)
    files = {
        uid: [done.out_dir / n for n in done.computed.files(uid)] for uid in done.computed.chosen
    }
    return AnnexOutput(
        out_dir=done.out_dir,
        files=files,
        seconds_per_unit=job.seconds,
        font=job.font.name,
        paper=job.paper,
        skipped=dict(done.computed.layers.skipped),
    )
