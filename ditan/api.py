"""The pipeline as functions: load a config, assemble the study area, compute, and run the jobs.

Each job function returns its tables in memory and writes files only when ``out`` is given (then
exactly the files of the command line: ``ditan.run(cfg, out=…)`` writes what ``ditan run`` writes).
A thin layer over :mod:`ditan.pipelines`: each job is a :class:`~ditan.pipelines.jobs.skeleton.Job`
whose ``load`` and ``compute`` steps run here without its ``write`` step when nothing is to be
written.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

# the heavy imports wait for the first call (``import ditan`` stays quick for the CLI)
if TYPE_CHECKING:
    import geopandas as gpd
    import pandas as pd

    from ditan.pipelines.compute.indicators import RunResult
    from ditan.pipelines.config.params import ComputeParams
    from ditan.pipelines.config.schema import Config
    from ditan.spatial.study_area.model import StudyArea

__all__ = ["load_config", "load_study_area", "compute", "run", "RunTables"]

#: a Config, a path to a YAML file, or a dict of its contents (relative paths from base_dir)
ConfigLike = Any


def load_config(config: ConfigLike, *, base_dir: str | os.PathLike | None = None) -> Config:
    """A checked configuration from a YAML file, a dict or a Config.

    Parameters
    ----------
    config : str, path, dict or Config
        A config file (``pipelines/configs/beijing_haidian.yaml``), its contents as a dict, or a
        :class:`~ditan.pipelines.config.schema.Config` (returned as it is).
    base_dir : str or path, optional
        Where the relative paths of a dict are read from (default: the working folder). A file's
        relative paths are read from the file's folder.

    Returns
    -------
    Config
        Every problem is reported at once, with its key path and a hint (ConfigError).

    Examples
    --------
    >>> import ditan
    >>> osm = {"path": "data/beijing_haidian_tsinghua/map.osm.pbf"}
    >>> cfg = ditan.load_config({"name": "demo", "inputs": {"osm": osm}})
    >>> cfg.transit.radius_m, cfg.life_circle.snap_max_m
    (500.0, 100.0)

    """
    from ditan.pipelines.config.schema import Config, parse_config
    from ditan.pipelines.config.schema import load_config as _load

    if isinstance(config, Config):
        return config
    if isinstance(config, dict):
        return parse_config(
            config, base_dir=Path(base_dir or Path.cwd()).resolve(), source="config"
        )
    return _load(Path(config))


def load_study_area(config: ConfigLike) -> StudyArea:
    """Read, check and project every input layer of a config: the StudyArea the indicators measure.

    Parameters
    ----------
    config : str, path, dict or Config
        As in :func:`load_config`.

    Returns
    -------
    StudyArea
        ``units``, ``roads``, ``buildings``, ``landuse``, ``vegetation``, ``facilities``,
        ``stations``
        (GeoDataFrames in one metric CRS, ``crs``), the facility ``catalogue`` and the data-quality
        ``ledger`` (``ledger.to_frame()`` is ``data_quality.csv`` before the computation's rows).

    """
    from ditan.pipelines.assemble.load import load_study_area as _load

    return _load(load_config(config))


def compute(
    study_area: StudyArea,
    params: ComputeParams | ConfigLike | None = None,
    *,
    extra_radii_m: tuple[float, ...] = (),
) -> RunResult:
    """Every indicator of every unit of a study area (``indicators.csv`` as a table).

    Parameters
    ----------
    study_area : StudyArea
        From :func:`load_study_area`; it is not changed.
    params : ComputeParams, Config, path or dict, optional
        The computation's parameters (:class:`~ditan.pipelines.config.params.ComputeParams`), or a
        config they are taken from; default: the config defaults.
    extra_radii_m : tuple of float
        Station radii measured besides ``transit.radius_m``.

    Returns
    -------
    RunResult
        ``indicators`` (index unit_id), ``units`` (with geometry), ``reasons`` (why each NaN is
        NaN), ``gaps`` (the data gaps), ``ledger`` (the computation's data-quality rows),
        ``service_areas``.

    """
    from ditan.pipelines.compute.indicators import compute as _compute
    from ditan.pipelines.config.params import ComputeParams, params_from_config

    if params is None:
        params = ComputeParams()
    elif not isinstance(params, ComputeParams):
        params = params_from_config(load_config(params))
    return _compute(study_area, params, extra_radii_m=tuple(extra_radii_m))


def _execute(job: Any, out: str | os.PathLike | None) -> tuple[Any, dict[str, Path], Path | None]:
    """A job's results, files (name → path) and folder: written only when ``out`` is given."""
    from ditan.pipelines.compute.timer import Timer
    from ditan.pipelines.jobs.skeleton import Context

    if out is not None:
        done = job.run(Path(out))
        return done.computed, dict(done.files), done.out_dir
    # no folder: load and compute never write
    ctx = Context(out_dir=Path(os.devnull), timer=Timer())
    with ctx.timer.stage("load"):
        loaded = job.load(ctx)
    return job.compute(loaded, ctx), {}, None


@dataclass
class RunTables:
    """What ``ditan run`` computes, as tables (and the files, when written).

    Attributes
    ----------
    indicators : DataFrame
        ``indicators.csv``: one row per unit (index unit_id), every indicator column.
    units : GeoDataFrame
        The units with their indicators and geometry (``communities.gpkg``, layer communities).
    data_quality : DataFrame
        ``data_quality.csv``: what was read, kept, repaired, dropped, and the data gaps.
    reasons : DataFrame
        Why each NaN is NaN: unit_id, column, reason, reason_en, reason_zh, data_gap.
    data_gaps : list of str
        The data gaps of the run, one line each.
    compliance, compliance_summary : DataFrame or None
        ``compliance.csv`` and ``compliance_summary.csv`` when the config names a profile.
    service_areas : GeoDataFrame
        The walking service areas of each category and station kind.
    scenario : DataFrame or None
        ``scenario_comparison.csv`` (base and scenario side by side) with a scenario.
    study_area : StudyArea
        The loaded inputs.
    columns : dict
        The registry entry (Chinese and English name, unit, method, source) of each indicator
        column.
    result : RunResult
        The computation's result (what :func:`compute` returns); :func:`annex` draws from it.
    files : dict
        Output file name → path; empty when nothing was written.
    out : Path or None
        The output folder, when written.

    """

    indicators: pd.DataFrame
    units: gpd.GeoDataFrame
    data_quality: pd.DataFrame
    reasons: pd.DataFrame
    data_gaps: list[str]
    compliance: pd.DataFrame | None
    compliance_summary: pd.DataFrame | None
    service_areas: gpd.GeoDataFrame
    scenario: pd.DataFrame | None
    study_area: StudyArea = field(repr=False)
    columns: dict = field(repr=False, default_factory=dict)
    result: RunResult | None = field(repr=False, default=None)
    files: dict[str, Path] = field(default_factory=dict)
    out: Path | None = None

    def __repr__(self) -> str:
        ind = self.indicators
        parts = [
            f"{len(ind)} units × {ind.shape[1]} indicator columns",
            f"{len(self.data_gaps)} data gaps",
            f"{len(self.reasons)} NaN values with their reasons",
        ]
        if self.compliance is not None:
            parts.append(f"compliance: {len(self.compliance)} checks")
        if self.scenario is not None:
            parts.append(f"scenario: {len(self.scenario)} rows")
        parts.append(f"written to {self.out}" if self.out else "nothing written")
        return f"RunTables({'; '.join(parts)})"


def run(
    config: ConfigLike,
    out: str | os.PathLike | None = None,
    *,
    scenario: str | os.PathLike | None = None,
) -> RunTables:
    """``ditan run``: every indicator, the compliance check and a scenario, as tables.

    Parameters
    ----------
    config : str, path, dict or Config
        As in :func:`load_config`.
    out : str or path, optional
        Output folder: the files of ``ditan run`` are written there (``indicators.csv``,
        ``indicators.xlsx``, ``communities.gpkg``, ``service_areas.gpkg``, ``map.html``, ``data_quality.csv``,
        ``manifest.json`` …), replacing the folder's previous run whole. Default: nothing is
        written.
    scenario : str or path, optional
        A scenario file (facilities, stations or parcels added or removed): computed beside the
        base.

    Returns
    -------
    RunTables

    """
    from ditan.pipelines.jobs.run import RunJob

    cfg = load_config(config)
    c, files, folder = _execute(
        RunJob(cfg, scenario=None if scenario is None else Path(scenario)), out
    )
    res, comp, what_if = c.res, c.compliance, c.what_if
    return RunTables(
        indicators=res.indicators,
        units=res.units,
        data_quality=c.quality,
        reasons=res.reasons,
        data_gaps=list(res.gaps),
        compliance=None if comp is None else comp.checks,
        compliance_summary=None if comp is None else comp.summary,
        service_areas=res.service_areas,
        scenario=None if what_if is None else what_if.comparison,
        study_area=c.sa,
        columns=res.columns,
        result=res,
        files=files,
        out=folder,
    )


def _written(out: Path | None) -> str:
    return f"written to {out}" if out else "nothing written"
