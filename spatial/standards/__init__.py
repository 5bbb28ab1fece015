"""Indicator registry (names, units, methods) and, later, programme profiles as data."""

from spatial.standards.registry import Indicator, indicator, registry  # noqa: F401
