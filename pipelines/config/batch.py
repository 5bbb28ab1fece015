"""The batch config (`ditan run BATCH.yaml`): many study areas in one file, checked before any work.

A batch config names the study areas, each an ordinary ditan config, optionally renamed and with
overrides, so that one base config serves several areas::

    name: jiangsu_cities               # outputs go to out/<name>/
    title: 江苏 各市                     # optional
    areas:
      - nanjing.yaml                   # a config file, relative to this file's folder
      - config: nanjing.yaml           # or a mapping: the same config, renamed and changed
        name: nanjing_gulou
        overrides:
          inputs.units.path: gulou_units.gpkg     # dotted keys are short for nesting
          life_circle: {tiers_m: {15min: 800}}    # mappings are merged key by key

An optional ``area_timeout_s: 1800`` gives each area a time limit in seconds (default none): an area
still running then is stopped and listed failed ("timed out after 1800 s"), and the batch publishes the
areas that finished (see :mod:`ditan.pipelines.jobs.cluster` for what can and cannot be stopped).

Every area's config is validated up front (a typo stops the batch before any work and names the
area). Relative paths in ``overrides`` are read from the batch file's folder. The job that runs the
areas is :mod:`ditan.pipelines.jobs.batch`.
"""

from __future__ import annotations

import copy
import logging
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from ditan.pipelines.config.schema import Config, format_errors, parse_config
from ditan.spatial.errors import ConfigError, DitanError

NAME_PATTERN = r"^[A-Za-z0-9_\-]+$"


class AreaSpec(BaseModel):
    """One study area of a batch: a ditan config, optionally renamed and changed by overrides."""

    model_config = ConfigDict(extra="forbid")

    config: Path = Field(
        description="An ordinary ditan config (YAML), relative to the batch file's folder"
    )
    name: str | None = Field(
        None,
        pattern=NAME_PATTERN,
        description="Area name (folder areas/<name>/); default: the config's name",
    )
    overrides: dict[str, Any] = Field(
        {}, description="Config keys replaced for this area: dotted (inputs.units.path) or nested"
    )

    @model_validator(mode="before")
    @classmethod
    def _from_path(cls, v: Any) -> Any:
        if isinstance(v, str | Path):
            return {"config": v}
        if not isinstance(v, dict):
            raise ValueError(
                "an area is a config path or a mapping {config: PATH, name: NAME, overrides: {...}}"
            )
        return v

    @field_validator("config", mode="before")
    @classmethod
    def _existing(cls, v: Any, info: ValidationInfo) -> Path:
        p = Path(str(v)).expanduser()
        p = (
            p
            if p.is_absolute()
            else ((info.context or {}).get("base_dir", Path.cwd()) / p).resolve()
        )
        if not p.is_file():
            raise ValueError(
                f"config file not found: {p} (relative paths are read from the batch file's folder)"
            )
        return p


class BatchSpec(BaseModel):
    """The batch config file: a name and the list of study areas."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME_PATTERN, description="Batch name; outputs go to out/<name>/")
    title: str | None = Field(None, description="Title shown in tables")
    areas: list[AreaSpec] = Field(
        min_length=1, description="The study areas: config paths or {config, name, overrides}"
    )
    area_timeout_s: float | None = Field(
        None,
        gt=0,
        allow_inf_nan=False,
        description="Time limit of each area in seconds (default: none); an area still running then is "
        "listed failed ('timed out') and the batch publishes the others",
    )


@dataclass
class Area:
    """A validated study area: its merged config data (what a task receives) and the config it gives."""

    name: str
    config_file: Path
    data: dict
    base_dir: Path
    cfg: Config = field(repr=False)

    def task(self, log_level: int = logging.INFO, timeout_s: float | None = None) -> dict:
        """The plain data a task needs (picklable, no file but the inputs needed on the worker)."""
        return {
            "area": self.name,
            "data": self.data,
            "base_dir": str(self.base_dir),
            "source": str(self.config_file),
            "log_level": log_level,
            "timeout_s": timeout_s,
        }


@dataclass
class Batch:
    """A validated batch config: its name and title, the file it was read from, and its areas in order."""

    name: str
    title: str | None
    source_path: Path
    areas: list[Area]
    area_timeout_s: float | None = None  # seconds; None: no limit


def _read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(Path(path).read_text(encoding="utf-8-sig"))
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not UTF-8 text; save the config as UTF-8") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from None


def is_batch_file(path: str | Path) -> bool:
    """Whether ``path`` is a readable YAML mapping with an ``areas`` key (a batch config)."""
    try:
        data = _read_yaml(Path(path)) if Path(path).is_file() else None
    except DitanError:
        return False  # the single-config loader reports it
    return isinstance(data, dict) and "areas" in data


def _path_key(keys: list[str]) -> bool:
    """Whether a dotted key names a file path of the config (inputs.units.path, life_circle.catalogue, …)."""
    model: type[BaseModel] = Config
    for i, k in enumerate(keys):
        fld = model.model_fields.get(k)
        if fld is None:
            return False
        args = getattr(fld.annotation, "__args__", (fld.annotation,))
        if i == len(keys) - 1:
            return Path in args or k == "profile"
        inner = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
        if not inner:
            return False
        model = inner[0]
    return False


def _absolute(value: Any, keys: list[str], base: Path) -> Any:
    """Relative file paths in an override made absolute from the batch file's folder (profile ids stay)."""
    if isinstance(value, dict):
        return {k: _absolute(v, [*keys, str(k)], base) for k, v in value.items()}
    if (
        isinstance(value, str)
        and _path_key(keys)
        and (keys[-1] != "profile" or value.lower().endswith((".yaml", ".yml")))
    ):
        p = Path(value).expanduser()
        return str(p if p.is_absolute() else (base / p).resolve())
    return value


def apply_overrides(data: dict, overrides: dict, base_dir: Path) -> dict:
    """A copy of ``data`` with ``overrides`` merged in: mappings key by key, other values replaced.

    A dotted key ``a.b: v`` is short for ``a: {b: v}``; relative paths are read from ``base_dir``.
    """
    out = copy.deepcopy(data)
    for key, value in overrides.items():
        keys = str(key).split(".")
        nested: Any = _absolute(value, keys, base_dir)
        for k in reversed(keys):
            nested = {k: nested}
        _merge(out, nested)
    return out


def _merge(into: dict, new: dict) -> None:
    for k, v in new.items():
        if isinstance(v, dict) and isinstance(into.get(k), dict):
            _merge(into[k], v)
        else:
            into[k] = copy.deepcopy(v)


def load_batch(path: str | Path) -> Batch:
    """Read a batch config and validate it and every area's config; raise ConfigError listing every problem."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(
            f"batch config {'is a folder, not a file' if path.is_dir() else 'not found'}: {path}"
        )
    data = _read_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path} must hold a mapping of keys (name, areas, …), not {type(data).__name__}"
        )
    base = path.parent.resolve()
    try:
        spec = BatchSpec.model_validate(data, context={"base_dir": base})
    except ValidationError as exc:
        raise ConfigError(format_errors(exc, f"batch config {path}", root=BatchSpec)) from None
    problems: list[str] = []
    areas: list[Area] = []
    for i, a in enumerate(spec.areas):
        note = (
            " with overrides; override paths are read from the batch file's folder"
            if a.overrides
            else ""
        )
        label = f"{path} areas.{i} ({a.config.name}{note})"
        try:
            raw = _read_yaml(a.config)
            if not isinstance(raw, dict):
                raise ConfigError(f"{a.config} must hold a mapping of keys (name, inputs, …)")
            merged = apply_overrides(
                raw, {**a.overrides, **({"name": a.name} if a.name else {})}, base
            )
            cfg = parse_config(merged, base_dir=a.config.parent, source=label)
        except ConfigError as exc:
            problems.append(str(exc))
            continue
        cfg.source_path = a.config
        areas.append(
            Area(
                name=cfg.name, config_file=a.config, data=merged, base_dir=a.config.parent, cfg=cfg
            )
        )
    seen: dict[str, int] = {}
    for a in areas:
        seen[a.name] = seen.get(a.name, 0) + 1
    dupes = [n for n, c in seen.items() if c > 1]
    if dupes:
        problems.append(
            f"areas: area names must be unique (区域名称重复), but more than one area is named {', '.join(repr(n) for n in dupes)}; "
            "give each area its own `name:`"
        )
    if problems:
        listing = "\n".join(textwrap.indent(p, "    ").replace("    ", "  - ", 1) for p in problems)
        raise ConfigError(
            f"batch config {path}: {len(problems)} problem(s) with its areas (nothing was run):\n{listing}"
        )
    return Batch(
        name=spec.name,
        title=spec.title,
        source_path=path,
        areas=areas,
        area_timeout_s=spec.area_timeout_s,
    )
