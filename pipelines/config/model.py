"""The base of every config model (unknown keys refused) and config-relative file paths."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationInfo


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False)


def _resolve(v: Any, info: ValidationInfo) -> Path:
    base = (info.context or {}).get("base_dir", Path.cwd())
    p = Path(v).expanduser()
    return p if p.is_absolute() else (Path(base) / p).resolve()


def _existing(v: Any, info: ValidationInfo) -> Path:
    p = _resolve(v, info)
    if not p.exists():
        raise ValueError(
            f"file not found: {p} (relative paths are read from the config file's folder)"
        )
    return p
