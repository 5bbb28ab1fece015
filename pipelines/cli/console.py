"""What every command's console output shares: text shown as it is (no rich markup, no control characters).

Text from data (unit names, ids, error messages quoting a feature) reaches the terminal through :func:`_escape`
(console lines) or a log record (:class:`InertLog` on the log handler): rich markup such as ``[bold]`` is shown
literally, and a control character (an ANSI escape sequence, a BEL) is shown as ``\\xNN`` instead of acting on
the terminal (ditan.spatial.io.inert.terminal_text). An unexpected error's traceback is shown the same way
(:func:`inert_excepthook`).
"""

from __future__ import annotations

import logging
import sys
import traceback

from ditan.spatial.io.inert import terminal_text


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(terminal_text(str(text)))


class InertLog(logging.Filter):
    """A log filter that shows each control character of a message as ``\\xNN`` (the message is formatted first)."""

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        shown = terminal_text(msg)
        if shown != msg:
            record.msg, record.args = shown, None
        return True


def inert_excepthook(kind, value, tb) -> None:
    """sys.excepthook: the traceback with its control characters shown as ``\\xNN`` (nothing acts on the terminal)."""
    sys.stderr.write(terminal_text("".join(traceback.format_exception(kind, value, tb))))
