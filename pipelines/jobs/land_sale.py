"""`ditan check-parcels`: check parcels about to be sold against a programme profile (土地出让前指标核查).

Each parcel (config ``land_sale``) is checked in three groups, each parcel on its own (not cumulatively):

- **规划指标 plan** (ditan.pipelines.jobs.land_sale_plan): the profile's rules on the planned FAR, green
  ratio and floors, and whether the plan is complete;
- **区位 location** (ditan.pipelines.jobs.land_sale_location): stations within the transit radius and
  life-circle categories reached, by straight line and walking;
- **所在单元 unit after** (ditan.pipelines.jobs.land_sale_unit): the unit(s) the parcel covers recomputed
  with the parcel built as planned, before and after.

The verdict (ditan.pipelines.jobs.parcel_verdict) is decided by the binding checks that count: fail when one fails, not
assessable when one cannot be assessed, else pass; the verdict row says so and counts the other checks apart.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
from openpyxl import Workbook
from openpyxl.styles import Font

from ditan.pipelines.assemble.load import load_study_area
from ditan.pipelines.assemble.parcels import read_parcels
from ditan.pipelines.config.params import params_from_config
from ditan.pipelines.config.schema import Config
from ditan.pipelines.jobs.land_sale_location import location_checks, nearest, reach
from ditan.pipelines.jobs.land_sale_plan import plan_checks
from ditan.pipelines.jobs.land_sale_unit import unit_checks
from ditan.pipelines.jobs.parcel_rows import (
    COLUMNS,
    KINDS,
    num,
)
from ditan.pipelines.jobs.parcel_verdict import summarize
from ditan.pipelines.jobs.skeleton import Context, Job
from ditan.pipelines.outputs import files as write
from ditan.pipelines.outputs import staging
from ditan.pipelines.outputs.names import file_stems
from ditan.spatial.errors import ConfigError
from ditan.spatial.indicators.parcels import parcel_floor_area_m2
from ditan.spatial.io.inert import clean_text_columns
from ditan.spatial.io.validate import Ledger, require_unique_ids
from ditan.spatial.standards.profiles import load_profile
from ditan.spatial.study_area.model import StudyArea

log = logging.getLogger(__name__)
OUTPUTS = ("parcel_check.csv", "parcel_summary.csv", "parcel_check.xlsx", "parcels")


def read_sale_parcels(cfg: Config, sa: StudyArea, path: Path | None = None) -> gpd.GeoDataFrame:
    """The parcels to check (land_sale.parcels, or ``path`` read with its columns), in the study CRS."""
    src = cfg.land_sale.parcels
    if path is not None:
        if not Path(path).is_file():
            raise ConfigError(f"--parcels: file not found: {path}")
        src = src.model_copy(update={"path": Path(path).resolve()})
    p = read_parcels(src, sa.crs, Ledger())
    if p.empty:
        raise ConfigError(f"{src.label}: no parcel to check")
    p["parcel_id"] = p["parcel_id"].astype(str)
    p = inert_parcel_text(p)
    require_unique_ids(p["parcel_id"], layer="parcels for sale")
    p["name"] = p["name"].where(p["name"].notna(), p["parcel_id"]).astype(str)
    p["area_m2"] = p.geometry.area
    p["floor_area_plan_m2"] = parcel_floor_area_m2(p)
    p["far_plan"] = p["floor_area_plan_m2"] / p["area_m2"]
    p["floors_plan"] = p["height_limit_m"] / cfg.land_sale.storey_height_m
    return p


def inert_parcel_text(p: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Parcel ids and names without control characters (ditan.spatial.io.inert); what changed is logged.

    The precheck writes no data-quality table: the counts are warnings in the log instead.
    """
    ledger = Ledger()
    p = clean_text_columns(p, ["parcel_id", "name"], ledger, "parcels for sale")
    for why, n in ledger.layer("parcels for sale").flagged.items():
        log.warning("parcels for sale 出让地块: %s: %d", why, n)
    return p


def _xlsx(path: Path, checks: pd.DataFrame, summary: pd.DataFrame) -> None:
    wb = Workbook()
    for i, (title, df) in enumerate((("汇总 summary", summary), ("核查 checks", checks))):
        ws = wb.active if i == 0 else wb.create_sheet()
        ws.title = title
        ws.append(list(df.columns))
        for cell in ws[1]:
            cell.font = Font(bold=True)
        for row in df.round(write.CSV_DECIMALS).itertuples(index=False):
            ws.append(write.xlsx_row(ws, row))
        ws.freeze_panes = "B2"
    wb.properties.created = wb.properties.modified = write.FIXED_TIME
    with staging.atomic_path(path) as tmp:
        wb.save(tmp)
        write.fix_zip_times(tmp)


def page_names(parcel_ids) -> dict[str, str]:
    """Each parcel's page, ``parcels/<stem>.html``: stems safe and unique among the parcels (BJ/01, BJ:01, BJ 01 → three)."""
    return {
        pid: f"parcels/{stem}.html"
        for pid, stem in file_stems(parcel_ids, fallback="parcel").items()
    }


def parcel_map(
    r: pd.Series,
    info: dict,
    summary: pd.Series,
    sa: StudyArea,
    *,
    radius_m: float,
    tiles: bool | str,
    tianditu_key: str | None = None,
) -> str:
    """A one-page map of one parcel: what to show (units, nearest stations, reached and missing facilities, reasons)."""
    from ditan.maps.pages import parcel_page  # rendering stays out of the computation

    f, cat = info["features"], sa.catalogue
    marks = [
        (nearest(f, k, "straight_m"), "#1565c0", f"{zh} {en}") for k, (zh, en) in KINDS.items()
    ]
    for cid, cc in cat.categories.items():
        walk = nearest(f, cid, "walk_m")
        if walk is not None and walk["walk_m"] <= cat.tiers[cc.tier].distance_m:
            marks.append((walk, "#2e7d32", f"已达 reached: {cc.zh} {cc.en}"))
        else:
            marks.append(
                (
                    nearest(f, cid, "straight_m"),
                    "#ef6c00",
                    f"缺 missing (> {cat.tiers[cc.tier].distance_m:g} m): {cc.zh} {cc.en}",
                )
            )
    points = []
    for near, col, label in marks:
        if near is None:
            continue
        walk = "—" if not np.isfinite(near["walk_m"]) else f"{near['walk_m']:,.0f}"
        text = f"{label} {'' if pd.isna(near['name']) else near['name']}: 直线 straight {near['straight_m']:,.0f} m, 步行 walking {walk} m"
        points.append((near.geometry, col, text))
    headline = f"{summary['verdict']} · {r['tag']} · FAR {num(r['far_plan'])}"
    return parcel_page(
        r.geometry,
        crs=sa.crs,
        units=sa.units[sa.units.intersects(r.geometry)],
        radius_m=radius_m,
        marks=points,
        ok=summary["status"] == "pass",
        title=f"地块出让前指标核查 {r['parcel_id']} {r['name']}",
        headline=headline,
        reasons=str(summary["main_reasons"]).split(" | "),
        parcel_label=f"地块 parcel {r['parcel_id']} {r['name']} ({r['tag']})",
        tiles=tiles,
        tianditu_key=tianditu_key,
    )


@dataclass
class SaleInputs:
    sa: StudyArea
    parcels: gpd.GeoDataFrame


@dataclass
class ParcelChecks:
    sale: SaleInputs
    reached: list[dict]
    checks: pd.DataFrame
    summary: pd.DataFrame
    #: parcel id → its page (parcels/<stem>.html), listed in the manifest as page → id
    pages: dict[str, str] = field(default_factory=dict)


class ParcelCheckJob(Job[SaleInputs, ParcelChecks]):
    """``ditan check-parcels``: every parcel for sale checked (plan, location, unit after).

    manifest.json lists each page (parcels/<stem>.html) with the parcel id it shows.
    """

    def __init__(self, cfg: Config, *, parcels: Path | None = None) -> None:
        if cfg.land_sale is None:
            raise ConfigError(
                f"{cfg.source_path}: no land_sale section; add land_sale: {{parcels: {{path, code_column, far_column …}}}}"
            )
        self.cfg, self.parcels, self.params = cfg, parcels, params_from_config(cfg)
        self.profile = load_profile(cfg.land_sale.profile)
        kind = (
            self.profile.kind_id(cfg.land_sale.kind) if self.profile.kinds else cfg.land_sale.kind
        )
        if kind is None:
            raise ConfigError(
                f"land_sale.kind '{cfg.land_sale.kind}' is not a kind of profile '{self.profile.id}' "
                f"({', '.join(self.profile.kinds)})"
            )
        self.kind = kind

    def allowed(self, name: str) -> bool:
        return name in OUTPUTS or name == self.manifest_name

    def load(self, ctx: Context) -> SaleInputs:
        sa = load_study_area(
            self.cfg, crop_to_units=False
        )  # parcels for sale may lie beyond the units
        return SaleInputs(sa, read_sale_parcels(self.cfg, sa, self.parcels))

    def compute(self, sale: SaleInputs, ctx: Context) -> ParcelChecks:
        sa, p, prm, profile, kind = sale.sa, sale.parcels, self.params, self.profile, self.kind
        reached = reach(
            sa,
            p,
            snap_max_m=prm.life_circle.snap_max_m,
            walk_exclude=prm.life_circle.walk_exclude,
            radius_m=prm.transit.radius_m,
        )
        rows = plan_checks(p, profile, kind, self.cfg.land_sale.parcels.code_system)
        rows += location_checks(p, reached, sa, prm, profile, kind) + unit_checks(
            p, sa, prm, profile, kind
        )
        checks = pd.DataFrame(rows).reindex(columns=COLUMNS)
        order = {pid: i for i, pid in enumerate(p["parcel_id"])}
        checks = checks.sort_values(
            "parcel_id", key=lambda s: s.map(order), kind="stable"
        ).reset_index(drop=True)
        return ParcelChecks(sale, reached, checks, summarize(checks, p), page_names(p["parcel_id"]))

    def write(self, c: ParcelChecks, stage: Path, ctx: Context) -> list[str]:
        sa, p = c.sale.sa, c.sale.parcels
        write.write_csv(stage / "parcel_check.csv", c.checks.set_index("parcel_id"))
        write.write_csv(stage / "parcel_summary.csv", c.summary.set_index("parcel_id"))
        _xlsx(stage / "parcel_check.xlsx", c.checks, c.summary)
        (stage / "parcels").mkdir()
        for (_, r), info, (_, s) in zip(p.iterrows(), c.reached, c.summary.iterrows(), strict=True):
            page = parcel_map(
                r,
                info,
                s,
                sa,
                radius_m=self.params.transit.radius_m,
                tiles=self.cfg.map.tiles,
                tianditu_key=self.cfg.map.tianditu_key,
            )
            write.write_text(stage / c.pages[r["parcel_id"]], page)
        return list(OUTPUTS)

    def manifest(self, c: ParcelChecks, base: dict, ctx: Context) -> dict:
        return {
            **base,
            "config_file": str(self.cfg.source_path),
            "profile": self.profile.id,
            # each page with the parcel id it shows (ids are made safe and unique as file names)
            "parcel_pages": {page: pid for pid, page in c.pages.items()},
        }


def check_parcels(
    cfg: Config, out_dir: Path, *, parcels: Path | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Check every parcel, write the outputs into ``out_dir`` (replaced whole) and return (checks, summary)."""
    done = ParcelCheckJob(cfg, parcels=parcels).run(out_dir)
    return done.computed.checks, done.computed.summary
