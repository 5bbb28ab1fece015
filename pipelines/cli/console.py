"""What every command's console output shares: text shown as it is (no rich markup)."""

from __future__ import annotations


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)
