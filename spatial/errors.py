"""Errors raised by ditan. Each message names the layer, the features and the fix."""

from __future__ import annotations

import contextlib
import difflib
import importlib
import signal
import threading
import typing
from collections.abc import Iterator, Sequence
from types import ModuleType

__all__ = [
    "DitanError",
    "CRSError",
    "LayerError",
    "GeometryError",
    "ConfigError",
    "DependencyError",
    "did_you_mean",
    "feature_list",
    "require",
    "format_validation_errors",
    "Terminated",
    "terminate_as_interrupt",
]


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


class DependencyError(DitanError):
    """An optional part of ditan is used without its package (the message says what to install)."""


#: the optional packages: import name → (distribution, ditan extra that installs it, what needs it)
OPTIONAL = {
    "psycopg": (
        "psycopg[binary]",
        "postgis",
        "PostGIS input or output (database:, output.database)",
    ),
    "distributed": ("distributed", "cluster", "running a batch on dask (--workers, --scheduler)"),
    "networkx": ("networkx", "graph", "a networkx graph as the street network"),
    "osmnx": (
        "osmnx",
        "graph",
        "an osmnx graph as the street network, or OSM fetched by place name or bbox (inputs.osm)",
    ),
}


def require(module: str) -> ModuleType:
    """Import ``module`` of an optional package (a key of OPTIONAL, or one of its modules).

    Raises DependencyError, one line with the install hint, when the package is missing.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        dist, extra, purpose = OPTIONAL[module.split(".")[0]]
        raise DependencyError(
            f"{purpose} needs the Python package {dist}, which is not installed ({exc}): "
            f'pip install "ditan[{extra}]" (缺少可选依赖包)'
        ) from None


def feature_list(ids: Sequence[object], *, first: int = 5) -> str:
    """Format 'first few ids (and N in all)' for error messages."""
    ids = list(ids)
    shown = ", ".join(str(i) for i in ids[:first])
    if len(ids) > first:
        return f"{shown} … ({len(ids)} in all)"
    return f"{shown} ({len(ids)} in all)"


def did_you_mean(value: object, known: Sequence[str], what: str) -> str:
    """An unknown value's hint: "did you mean 'x'? <what>: a, b, c" (x: the closest known one)."""
    close = difflib.get_close_matches(str(value), list(known), n=1, cutoff=0.6)
    return (f"did you mean '{close[0]}'? " if close else "") + f"{what}: {', '.join(known)}"


#: parts of a pydantic error location that are no key of the file (validator and union-member names)
_NOT_KEYS = ("function-", "tuple[", "tagged-")


def format_validation_errors(
    exc, source: str, *, root: type[typing.Any] | None = None, renamed: dict[str, str] | None = None
) -> str:
    """Every problem of a pydantic ``ValidationError``, one line each with its key path and a hint.

    The one formatter of ditan's YAML files (run and batch configs, programme profiles)::

        2 problem(s) in beijing.yaml:
          - life_circle.snap_max: Extra inputs are not permitted — did you mean 'snap_max_m'?
          - transit.radius_m: Input should be greater than 0 — write a number of metres (default: 500)

    Hints: a missing key is required; an unknown key gets the nearest known key of ``root``'s model at that path
    (else the known keys); a number out of range gets its unit (from the key's suffix _m, _m2, _pct) and the
    field's default. ``renamed``: a key that was renamed → the key to use now.
    """
    lines = []
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith(_NOT_KEYS)))
        key = ".".join(str(p) for p in loc) or "(top level)"
        msg = err["msg"].removeprefix("Value error, ")
        lines.append(f"  - {key}: {msg}{_hint(loc, err['type'], root, renamed or {})}")
    return f"{len(lines)} problem(s) in {source}:\n" + "\n".join(lines)


def _hint(loc: tuple, kind: str, root: type[typing.Any] | None, renamed: dict[str, str]) -> str:
    if kind == "missing":
        return " — this key is required"
    if kind == "extra_forbidden":
        if loc and str(loc[-1]) in renamed:
            return f" — did you mean '{renamed[str(loc[-1])]}'?"
        model = _model_at(root, loc[:-1])
        if model is None or not loc:
            return " — unknown key"
        keys = [f.alias or name for name, f in model.model_fields.items()]
        close = difflib.get_close_matches(str(loc[-1]), keys, n=1)
        return (
            f" — did you mean '{close[0]}'?"
            if close
            else f" — unknown key; known keys: {', '.join(keys)}"
        )
    if kind in ("finite_number", "greater_than", "greater_than_equal"):
        keys = [str(p) for p in loc if isinstance(p, str)]
        unit = next(
            (
                u
                for k in reversed(keys)
                for suffix, u in (("_m2", " of m²"), ("_m", " of metres"), ("_pct", " (%)"))
                if k.endswith(suffix)
            ),
            "",
        )
        model = _model_at(root, loc[:-1]) if loc else None
        field = model.model_fields.get(str(loc[-1])) if model is not None else None
        default = (
            f" (default: {field.default:.10g})"
            if field is not None and isinstance(field.default, int | float)
            else ""
        )
        nan = "; .nan and .inf are not values" if kind == "finite_number" else ""
        return f" — write a number{unit}{default}{nan}"
    return ""


def _model_at(root: type[typing.Any] | None, loc: tuple) -> type[typing.Any] | None:
    """The pydantic model class at key path ``loc`` below ``root`` (list indices skipped), or None."""
    model = root
    for part in loc:
        if model is None:
            return None
        if isinstance(part, int):  # an item of a list of models
            continue
        field = next((f for name, f in model.model_fields.items() if part in (name, f.alias)), None)
        if field is None:
            return None
        model = next(
            (
                a
                for a in _types(field.annotation)
                if isinstance(a, type) and hasattr(a, "model_fields")
            ),
            None,
        )
    return model


def _types(annotation: object) -> list:
    """The types named in an annotation: ``A | list[B] | None`` → [A, list[B], B, NoneType]."""
    out = [annotation]
    for arg in typing.get_args(annotation):
        out += _types(arg)
    return out


class Terminated(KeyboardInterrupt):
    """SIGTERM (or SIGHUP) stopping ditan as Ctrl-C does.

    A KeyboardInterrupt, so every clean-up on the way out runs (staging folders removed, psycopg cancelling the
    running statement on the server).
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)  # "SIGTERM"
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum  # 143 for SIGTERM, as a shell reports a process it ended


@contextlib.contextmanager
def terminate_as_interrupt(names: tuple[str, ...] = ("SIGTERM",)) -> Iterator[None]:
    """While inside, the named signals raise :class:`Terminated`, as SIGINT raises KeyboardInterrupt.

    Only in the main thread (where Python runs signal handlers), and only for a signal with its default action: a
    handler the caller installed (an outer ``terminate_as_interrupt``, a service manager's) is left in place. A
    second signal does not break the clean-up the first started.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    wanted = [getattr(signal, n) for n in names if hasattr(signal, n)]
    mine = [s for s in wanted if signal.getsignal(s) is signal.SIG_DFL]

    def _raise(signum: int, frame: object) -> None:
        signal.signal(signum, signal.SIG_IGN)
        raise Terminated(signum)

    for s in mine:
        signal.signal(s, _raise)
    try:
        yield
    finally:
        for s in mine:
            signal.signal(s, signal.SIG_DFL)
