"""Indicator registry (names, units, methods) and, later, programme profiles as data."""

from ditan.spatial.standards.registry import Indicator, indicator, registry  # noqa: F401
