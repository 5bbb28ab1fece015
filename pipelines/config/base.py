"""The building blocks of the config models: finite-number sections, refusals with key paths, did-you-mean, profiles."""

from __future__ import annotations

from typing import Annotated

from pydantic import ConfigDict, Field, ValidationError, ValidationInfo
from pydantic_core import PydanticCustomError

from ditan.pipelines.config.model import _existing, _Model
from ditan.spatial.errors import did_you_mean as _did_you_mean  # noqa: F401 (the config models')


class _Options(_Model):
    """A section of settings: every number must be finite (YAML .nan and .inf are refused, with the key path)."""

    model_config = ConfigDict(extra="forbid", frozen=False, allow_inf_nan=False)


#: a distance, area or size that must be more than 0 (and finite, inside an _Options section)
Positive = Annotated[float, Field(gt=0)]


def _refuse(problems: list[tuple[tuple, str]], title: str = "Config") -> None:
    """Raise every problem a validator found, each at its own key path (format_errors lists them all)."""
    if problems:
        raise ValidationError.from_exception_data(
            title,
            [
                {
                    "type": PydanticCustomError("config_value", "{why}", {"why": why}),
                    "loc": loc,
                    "input": None,
                }
                for loc, why in problems
            ],
        )


def _profile_ref(v: str | None, info: ValidationInfo) -> str | None:
    """A profile id stays as it is; a profile YAML path is read from the config file's folder and must exist."""
    if v is None or not v.lower().endswith((".yaml", ".yml")):
        return v
    return str(_existing(v, info))
