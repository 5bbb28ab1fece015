"""The wall time of each stage of a job (the manifest's timings_s); ``on_stage`` lets the CLI show progress."""

from __future__ import annotations

import ctypes
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

__all__ = ["Timer", "release_freed_memory"]


def _malloc_trim() -> Callable[[int], int] | None:
    if os.environ.get("DITAN_NO_TRIM"):
        return None
    try:
        return ctypes.CDLL(None).malloc_trim  # glibc
    except (
        OSError,
        AttributeError,
    ):  # not glibc (macOS, Windows, musl): nothing to give back this way
        return None


_TRIM = _malloc_trim()


def release_freed_memory() -> None:
    """Give the heap memory freed by a stage back to the system (glibc keeps it otherwise).

    A stage frees millions of small allocations (GEOS geometries, Python objects) when its
    intermediate results go; glibc keeps those pages mapped, so without this the resident memory
    of a whole-city run only grows from stage to stage.
    """
    if _TRIM is not None:
        _TRIM(0)


@dataclass
class Timer:
    """Wall time of each stage; ``on_stage`` lets the CLI show progress."""

    seconds: dict[str, float] = field(default_factory=dict)
    on_stage: Callable[[str], None] | None = None

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        if self.on_stage:
            self.on_stage(name)
        t0 = time.perf_counter()
        yield
        release_freed_memory()
        self.seconds[name] = round(time.perf_counter() - t0, 3)
