"""Indicator registry (names, units, methods) and, later, programme profiles as data."""

from functools import cache
from importlib import resources
from typing import Any

import yaml


@cache
def packaged_yaml(name: str) -> Any:
    """The YAML table ``name`` packaged with ditan.spatial.standards, read once (shared: do not change it)."""
    text = resources.files("ditan.spatial.standards").joinpath(name).read_text(encoding="utf-8")
    return yaml.safe_load(text)


# after packaged_yaml: the registry reads its tables with it
from ditan.spatial.standards.registry import Indicator, indicator, registry  # noqa: E402, F401
