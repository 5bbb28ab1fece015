"""`ditan screen`: pilot screening (试点遴选) of every candidate unit against a programme profile.

The job: load the study area, compute the indicators, score, rank and shortlist the candidates
(ditan.pipelines.jobs.screen_scoring, where the methods are described) and write screening.csv,
screening.xlsx, screening_map.html and compliance.csv.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from openpyxl import Workbook
from openpyxl.styles import Font

from ditan.pipelines.assemble.load import load_study_area
from ditan.pipelines.compute.indicators import Timer, compute
from ditan.pipelines.config.params import params_from_config
from ditan.pipelines.config.schema import Config
from ditan.pipelines.jobs.screen_scoring import HEADERS, NO_RESIDENTS, Screening, screen
from ditan.pipelines.jobs.skeleton import Context, Job
from ditan.pipelines.outputs import files as write
from ditan.pipelines.outputs import staging
from ditan.pipelines.outputs.manifest import attribution
from ditan.spatial.errors import ConfigError
from ditan.spatial.standards.profiles import list_profiles, load_profile
from ditan.spatial.study_area.model import StudyArea

DEFAULT_PROFILE = "lowcarbon_pilot_2015"


DEFAULT_KIND = "existing"


OUTPUTS = (
    "screening.csv",
    "screening.xlsx",
    "screening_map.html",
    "compliance.csv",
    "screening_chart.png",
    "screening_chart.svg",
)


def method_text(scr: Screening, weights: dict[str, float] | None = None) -> list[tuple[str, str]]:
    """(key, value) lines describing the screening, for the xlsx sheet 说明."""
    formula = {
        "rules": "score = 100 × (2 × binding met + guiding met) / (2 × binding assessable + guiding assessable)",
        "points": "score = 100 × points / points possible; points = Σ over scoring items of the max points among the item's "
        "passing rules, points possible = Σ over the items of the max points among the item's assessable rules",
        "weights": "score = 100 × Σ w·s / Σ w over the weighted indicators with a value; s = 1 if the rule is met, else "
        "1 − shortfall / largest shortfall among the candidates; indicators without a rule min–max scaled; a missing value "
        "adds neither score nor weight",
    }[scr.method]
    apart = (
        ""
        if scr.apart is None or scr.apart.empty
        else f"{len(scr.apart)}: {', '.join(map(str, scr.apart['unit_id']))}"
    )
    lines = [
        ("profile", f"{scr.profile.id} {scr.profile.zh}"),
        ("source", scr.profile.source),
        ("method", scr.method),
        ("formula", formula),
        (
            "assessable",
            "scores rest on the assessable rules only (rules assessed n/N 规则可评估); a "
            "NaN indicator is not assessable, never a fail",
        ),
        (
            "ranking",
            "score (highest first), then fewer binding rules failed, then more rules assessed, then unit id",
        ),
        (
            "not ranked 未参与排序",
            f"{NO_RESIDENTS} (the profile needs residents; indicator has_residents): {apart or 'none'}"
            if scr.profile.needs_residents
            else "every unit is a candidate (the profile does not need residents)",
        ),
        ("top", str(scr.top)),
        ("min_binding_pct", "" if scr.min_binding_pct is None else f"{scr.min_binding_pct:g}"),
    ]
    lines += [(f"weight {k}", f"{v:g}") for k, v in (weights or {}).items()]
    return lines


def _sheet(ws, table: pd.DataFrame) -> None:
    ws.append([HEADERS[c][0] for c in table.columns])
    ws.append([HEADERS[c][1] for c in table.columns])
    for cell in (*ws[1], *ws[2]):
        cell.font = Font(bold=True)
    for row in table.round(write.CSV_DECIMALS).itertuples(index=False):
        ws.append(write.xlsx_row(ws, row))
    ws.freeze_panes = "C3"


def write_xlsx(path: Path, scr: Screening, notes: list[tuple[str, str]]) -> None:
    """Sheet 遴选 with Chinese and English header rows, sheet 未参与排序 (units listed apart, if any), 合规 and 说明."""
    wb = Workbook()
    ws = wb.active
    ws.title = "遴选 screening"
    _sheet(ws, scr.table)
    if scr.apart is not None and not scr.apart.empty:
        _sheet(wb.create_sheet("未参与排序 not ranked"), scr.apart)
    c = wb.create_sheet("合规 compliance")
    c.append(list(scr.long.columns))
    for row in scr.long.round(write.CSV_DECIMALS).itertuples(index=False):
        c.append(write.xlsx_row(c, row))
    doc = wb.create_sheet("说明 method")
    for line in notes:
        doc.append(write.xlsx_row(doc, line))
    wb.properties.created = wb.properties.modified = write.FIXED_TIME
    with staging.atomic_path(path) as tmp:
        wb.save(tmp)
        write.fix_zip_times(tmp)


@dataclass
class ScreeningOutput:
    out_dir: Path
    screening: Screening
    files: dict[str, Path]
    kind: str | None


def profile_ref(value: str, base_dir: Path | None) -> str | Path:
    """A packaged profile id as is; a path resolved against ``base_dir`` when relative."""
    if value in list_profiles():
        return value
    p = Path(value).expanduser()
    return p if p.is_absolute() or base_dir is None else (base_dir / p).resolve()


@dataclass
class Screened:
    screening: Screening
    kind: str | pd.Series | None
    page: str


class ScreenJob(Job[StudyArea, Screened]):
    """``ditan screen``: the indicators of every candidate unit, scored, ranked and shortlisted; no manifest.

    ``profile`` (CLI, relative to the working folder), ``kind`` and ``top`` override ``cfg.screening``.
    Kind: ``kind``, else the units' kind column (inputs.units.kind_column), else screening.kind, else
    compliance.kind, else 'existing' when the profile has that kind; none for a profile without kinds.
    """

    manifest_name = None

    def __init__(
        self,
        cfg: Config,
        *,
        profile: str | None = None,
        kind: str | None = None,
        top: int | None = None,
    ) -> None:
        opts, comp = cfg.screening, getattr(cfg, "compliance", None)
        if top is not None and top < 1:
            raise ConfigError(f"--top must be at least 1, not {top}")
        base = cfg.source_path.resolve().parent if cfg.source_path else None
        if profile is not None:
            self.profile = load_profile(profile_ref(profile, Path.cwd()))
        else:
            self.profile = load_profile(
                profile_ref(opts.profile or getattr(comp, "profile", None) or DEFAULT_PROFILE, base)
            )
        self.cfg, self.kind, self.top = cfg, kind, top

    def allowed(self, name: str) -> bool:
        return name in OUTPUTS

    def load(self, ctx: Context) -> StudyArea:
        return load_study_area(self.cfg)

    def compute(self, sa: StudyArea, ctx: Context) -> Screened:
        cfg, prof, opts = self.cfg, self.profile, self.cfg.screening
        comp = getattr(cfg, "compliance", None)
        res = compute(sa, params_from_config(cfg), ctx.timer)
        unit_kind: str | pd.Series | None = self.kind
        if unit_kind is None and "kind" in sa.units.columns and sa.units["kind"].notna().any():
            unit_kind = sa.units["kind"].rename(index=str)
        if unit_kind is None:
            unit_kind = (
                opts.kind
                or getattr(comp, "kind", None)
                or (DEFAULT_KIND if DEFAULT_KIND in prof.kinds else None)
            )
        if (
            not prof.kinds
        ):  # a profile without kinds (lowcarbon_application) applies every rule to every unit
            unit_kind = None
        with ctx.timer.stage("screen"):
            scr = screen(
                res.indicators,
                prof,
                kind=unit_kind,
                method=opts.method,
                weights=opts.weights,
                direction=opts.direction,
                top=self.top or opts.top,
                min_binding_pct=opts.min_binding_pct,
                reasons=res.reasons,
            )
        with ctx.timer.stage("map"):
            from ditan.maps.pages import screening_map  # rendering stays out of the computation

            page = screening_map(
                res.units.rename(index=str),
                scr.all_rows(),
                method=scr.method,
                profile_zh=scr.profile.zh,
                attribution=attribution(cfg),
                tiles=cfg.map.tiles,
                tianditu_key=cfg.map.tianditu_key,
            )
        return Screened(scr, unit_kind, page)

    def write(self, s: Screened, stage: Path, ctx: Context) -> list[str]:
        scr, weights = s.screening, self.cfg.screening.weights
        with ctx.timer.stage("write"):
            write.write_csv(
                stage / "screening.csv", scr.all_rows().set_index("rank")
            )  # the units listed apart last, rank empty
            write_xlsx(
                stage / "screening.xlsx",
                scr,
                method_text(scr, weights if scr.method == "weights" else None),
            )
            write.write_text(stage / "screening_map.html", s.page)
            write.write_csv(stage / "compliance.csv", scr.long.set_index("unit_id"))
            _chart(scr, stage / "screening_chart")
        return list(OUTPUTS)


def _chart(scr: Screening, stem: Path) -> None:
    """The score distribution and the ranked candidates with the shortlist (PNG and SVG)."""
    from ditan.maps import charts
    from ditan.maps.fonts import FontMissingError, find_cjk_font

    try:
        font: str | None = find_cjk_font().path
    except FontMissingError:
        font = None  # the chart is drawn; its Chinese labels need the font
    t = scr.table
    fig = charts.screening_figure(
        t["name"].astype(str).tolist(),
        t["score"].to_numpy(dtype=float),
        (t["shortlisted"] == "yes").to_numpy(),
        title=f"试点遴选得分 Screening scores — {scr.profile.zh}",
        font_path=font,
    )
    charts.save_figure(fig, stem)


def run_screening(
    cfg: Config,
    out_dir: Path,
    *,
    profile: str | None = None,
    kind: str | None = None,
    top: int | None = None,
    timer: Timer | None = None,
) -> ScreeningOutput:
    """Compute the indicators of every unit of ``cfg``, screen them and write OUTPUTS into ``out_dir`` (staged, whole).

    See :class:`ScreenJob` for how ``profile``, ``kind`` and ``top`` are chosen.
    """
    done = ScreenJob(cfg, profile=profile, kind=kind, top=top).run(out_dir, timer=timer)
    unit_kind = done.computed.kind
    kind_text = None if isinstance(unit_kind, pd.Series) else unit_kind
    return ScreeningOutput(done.out_dir, done.computed.screening, done.files, kind_text)
