"""The other jobs as functions: ``ditan screen``, ``ditan check-parcels`` and ``ditan annex``.

Private: import them from :mod:`ditan` (``ditan.screen`` …). Like :func:`ditan.run`, each returns
its tables and writes files only when ``out`` is given.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ditan.api import ConfigLike, RunTables, _execute, _written, load_config

if TYPE_CHECKING:
    import geopandas as gpd
    import pandas as pd

    from ditan.spatial.study_area.model import StudyArea

__all__ = [
    "screen",
    "check_parcels",
    "annex",
    "ScreeningTables",
    "ParcelCheckTables",
    "AnnexSheets",
]


@dataclass
class ScreeningTables:
    """What ``ditan screen`` computes: the candidates scored and ranked against a profile.

    Attributes
    ----------
    table : DataFrame
        ``screening.csv``: one row per candidate in rank order (score, rules met and missed, reasons
        …), then the units listed apart (no residents), rank empty.
    ranked : DataFrame
        The ranked candidates only; ``shortlisted`` says which made the shortlist.
    apart : DataFrame or None
        The units not ranked (无居住人口 no residents, under a profile about residents).
    compliance : DataFrame
        ``compliance.csv``: every rule for every unit (达标 / 未达标 / 无法评估, with the reasons).
    screening : Screening
        The whole result (profile, method, top …).
    files, out
        As in :class:`RunTables`.

    """

    table: pd.DataFrame
    ranked: pd.DataFrame
    apart: pd.DataFrame | None
    compliance: pd.DataFrame
    screening: Any = field(repr=False)
    files: dict[str, Path] = field(default_factory=dict)
    out: Path | None = None

    def __repr__(self) -> str:
        s = self.screening
        short = (
            int((self.ranked["shortlisted"] == "yes").sum()) if "shortlisted" in self.ranked else 0
        )
        return (
            f"ScreeningTables({s.profile.id}, method {s.method}: {len(self.ranked)} candidates "
            f"ranked, {short} shortlisted, {0 if self.apart is None else len(self.apart)} not "
            f"ranked; {_written(self.out)})"
        )


def screen(
    config: ConfigLike,
    out: str | os.PathLike | None = None,
    *,
    profile: str | None = None,
    kind: str | None = None,
    top: int | None = None,
) -> ScreeningTables:
    """``ditan screen``: score, rank and shortlist every unit against a programme profile (试点遴选).

    Parameters
    ----------
    config : str, path, dict or Config
        As in :func:`load_config`.
    out : str or path, optional
        Output folder for ``screening.csv``, ``screening.xlsx``, ``screening_map.html`` and
        ``compliance.csv``; default: nothing is written.
    profile : str, optional
        A packaged profile id (``lowcarbon_pilot_2015`` …) or a profile YAML; default the config's.
    kind : str, optional
        The kind of every unit (``existing``, ``new`` …); default the units' kind column, else the
        config's.
    top : int, optional
        Length of the shortlist.

    Returns
    -------
    ScreeningTables

    """
    from ditan.pipelines.jobs.screen import ScreenJob

    c, files, folder = _execute(
        ScreenJob(load_config(config), profile=profile, kind=kind, top=top), out
    )
    scr = c.screening
    return ScreeningTables(
        table=scr.all_rows(),
        ranked=scr.table,
        apart=scr.apart,
        compliance=scr.long,
        screening=scr,
        files=files,
        out=folder,
    )


@dataclass
class ParcelCheckTables:
    """What ``ditan check-parcels`` computes: each parcel for sale checked before sale (土地出让前指标核查).

    Attributes
    ----------
    checks : DataFrame
        ``parcel_check.csv``: one row per parcel and check (plan, location, the unit after), with
        the reasons.
    summary : DataFrame
        ``parcel_summary.csv``: one row per parcel, its verdict and main reasons.
    parcels : GeoDataFrame
        The parcels checked, in the study area's CRS.
    study_area : StudyArea
        The loaded inputs (not cropped to the units: parcels may lie beyond them).
    files, out
        As in :class:`RunTables`.

    """

    checks: pd.DataFrame
    summary: pd.DataFrame
    parcels: gpd.GeoDataFrame = field(repr=False)
    study_area: StudyArea = field(repr=False)
    files: dict[str, Path] = field(default_factory=dict)
    out: Path | None = None

    def __repr__(self) -> str:
        return (
            f"ParcelCheckTables({len(self.summary)} parcels, {len(self.checks)} checks; "
            f"{_written(self.out)})"
        )


def check_parcels(
    config: ConfigLike,
    out: str | os.PathLike | None = None,
    *,
    parcels: str | os.PathLike | None = None,
) -> ParcelCheckTables:
    """``ditan check-parcels``: the parcels for sale checked (plan, location, the unit after).

    Parameters
    ----------
    config : str, path, dict or Config
        A config with a ``land_sale`` section (``pipelines/configs/beijing_land_sale.yaml``).
    out : str or path, optional
        Output folder for ``parcel_check.csv``, ``parcel_summary.csv``, ``parcel_check.xlsx`` and
        one map per parcel in ``parcels/``; default: nothing is written.
    parcels : str or path, optional
        Another file of parcels than ``land_sale.parcels``.

    Returns
    -------
    ParcelCheckTables

    """
    from ditan.pipelines.jobs.land_sale import ParcelCheckJob

    job = ParcelCheckJob(load_config(config), parcels=None if parcels is None else Path(parcels))
    c, files, folder = _execute(job, out)
    return ParcelCheckTables(
        checks=c.checks,
        summary=c.summary,
        parcels=c.sale.parcels,
        study_area=c.sale.sa,
        files=files,
        out=folder,
    )


@dataclass
class AnnexSheets:
    """What ``ditan annex`` draws: six print sheets (附图) per unit, eight with the carbon inventory.

    Attributes
    ----------
    figures : dict
        Unit id → its sheets as matplotlib Figures, when nothing was written (``fig.savefig``
        saves one); empty when written.
    files : dict
        Unit id → its PDF and one PNG per sheet, when written.
    units : list of str
        The units drawn.
    out : Path or None
        The output folder, when written.

    """

    figures: dict[str, list] = field(repr=False)
    units: list[str]
    files: dict[str, list[Path]] = field(default_factory=dict)
    out: Path | None = None

    def __repr__(self) -> str:
        n = max((len(f) for f in self.figures.values()), default=0) or max(
            (len(f) - 1 for f in self.files.values()), default=0
        )
        return f"AnnexSheets({len(self.units)} units × {n} sheets; {_written(self.out)})"


def annex(
    config: ConfigLike,
    out: str | os.PathLike | None = None,
    *,
    units: list[str] | None = None,
    paper: str | None = None,
    run: RunTables | None = None,
) -> AnnexSheets:
    """``ditan annex``: the map annex (附图) of an implementation plan, six sheets per unit.

    Parameters
    ----------
    config : str, path, dict or Config
        As in :func:`load_config`.
    out : str or path, optional
        Output folder for each unit's PDF (six pages) and PNGs (300 dpi) and ``annex.json``;
        default: nothing is written and the sheets are returned as matplotlib Figures.
    units : list of str, optional
        The unit ids to draw; default every unit.
    paper : {'A4', 'A3'}, optional
        Paper size; default the config's ``map.paper``.
    run : RunTables, optional
        A :func:`run` of the same config, to draw without loading and computing again.

    Returns
    -------
    AnnexSheets

    """
    from ditan.pipelines.jobs.annex import AnnexJob
    from ditan.spatial.errors import ConfigError

    computed = None
    if run is not None:
        if run.result is None:
            raise ConfigError("annex(run=…) needs the RunTables of ditan.run() (with its result)")
        computed = (run.study_area, run.result)
    job = AnnexJob(load_config(config), units=units, paper=paper, computed=computed)
    a, files, folder = _execute(job, out)
    if folder is not None:
        return AnnexSheets(
            figures={},
            units=list(a.chosen),
            out=folder,
            files={u: [folder / n for n in a.files(u)] for u in a.chosen},
        )
    from matplotlib import rc_context

    from ditan.maps.annex import sheet_figure
    from ditan.maps.annex_sheets import sheet_numbers

    with rc_context(
        {"font.family": [job.font.name], "axes.unicode_minus": False, "hatch.linewidth": 0.4}
    ):
        figures = {
            u: [sheet_figure(a.layers, u, n, paper=job.paper) for n in sheet_numbers(a.layers)]
            for u in a.chosen
        }
    return AnnexSheets(figures=figures, units=list(a.chosen))
