"""Errors raised by ditan. Each message names the layer, the features and the fix."""

from __future__ import annotations

from collections.abc import Sequence


class DitanError(ValueError):
    """Base class for every error ditan raises on bad input."""


class CRSError(DitanError):
    """A layer has no coordinate system, or a geographic one where metres are needed."""


class LayerError(DitanError):
    """A layer is missing, empty, unreadable or lacks a required column."""


class GeometryError(DitanError):
    """Features whose geometry cannot be used or repaired."""


class ConfigError(DitanError):
    """The configuration file has problems; all of them are listed at once."""


def feature_list(ids: Sequence[object], *, first: int = 5) -> str:
    """Format 'first few ids (and N in all)' for error messages."""
    ids = list(ids)
    shown = ", ".join(str(i) for i in ids[:first])
    if len(ids) > first:
        return f"{shown} … ({len(ids)} in all)"
    return f"{shown} ({len(ids)} in all)"
