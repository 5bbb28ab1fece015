"""File names from ids (a unit's annex sheets, a parcel's page): safe, unique and traceable to their id.

:func:`file_stems` gives each id a stem:

- the id itself where it is already a safe name (``U001``, ``海淀01``, ``S-1.2``);
- else a *slug*: letters and digits of any script (汉字 kept), ``-``, ``_`` and ``.`` kept, every other run of
  characters (``/ : \\ * ? " < > |``, spaces, control characters) replaced by ``_``; no leading dot (a hidden file),
  no trailing dot or space, at most :data:`MAX_BYTES` bytes of UTF-8, and Windows' reserved device names
  (``CON``, ``NUL``, ``COM1`` …) prefixed with ``_``;
- where two ids would get the same stem — compared without case, as on Windows and macOS — each id whose stem is
  not the id itself gets ``_`` and the first 8 hex digits of the SHA-1 of its id appended (``BJ/01`` →
  ``BJ_01_acb1f774``), longer while any two stems still meet.

A stem depends only on the ids of the same run; a job lists each file with the id it holds in its manifest.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable

__all__ = ["MAX_BYTES", "file_stems", "slug"]

#: the longest stem in bytes of UTF-8 before any hash (file systems allow 255 bytes per name; suffixes follow)
MAX_BYTES = 120
_UNSAFE = re.compile(r"[^\w.\-]+")  # \w: letters, digits and _ of any script
_RESERVED = {
    "CON",
    "PRN",
    "AUX",
    "NUL",
    *(f"COM{i}" for i in range(1, 10)),
    *(f"LPT{i}" for i in range(1, 10)),
}


def slug(value: object, *, fallback: str = "id", max_bytes: int = MAX_BYTES) -> str:
    """A safe file-name stem for ``value`` (not unique by itself: see :func:`file_stems`)."""
    text = unicodedata.normalize("NFC", str(value))
    s = _UNSAFE.sub("_", text).lstrip(".").rstrip(". ")
    raw = s.encode("utf-8")
    if len(raw) > max_bytes:  # cut on a character boundary
        s = raw[:max_bytes].decode("utf-8", errors="ignore").rstrip(". ")
    if not s:
        s = fallback
    if s.split(".")[0].upper() in _RESERVED:
        s = f"_{s}"
    return s


def _digest(value: str, width: int) -> str:
    return hashlib.sha1(value.encode("utf-8")).hexdigest()[:width]


def file_stems(
    ids: Iterable[object], *, fallback: str = "id", max_bytes: int = MAX_BYTES
) -> dict[str, str]:
    """A file-name stem for each id (as text), unique among them without regard to case; see the module's rules."""
    keys = list(dict.fromkeys(str(i) for i in ids))
    base = {k: slug(k, fallback=fallback, max_bytes=max_bytes) for k in keys}
    stems = dict(base)
    hashed: set[str] = set()
    for width in (8, 12, 16, 40):
        groups: dict[str, list[str]] = defaultdict(list)
        for k, s in stems.items():
            groups[s.casefold()].append(k)
        clashes = [members for members in groups.values() if len(members) > 1]
        if not clashes:
            return stems
        for members in clashes:
            # an id that is its own safe name keeps it when it is the only such one in the group
            exact = [k for k in members if base[k] == k and k not in hashed]
            keep = exact[0] if len(exact) == 1 else None
            for k in members:
                if k != keep:
                    stems[k] = f"{base[k]}_{_digest(k, width)}"
                    hashed.add(k)
    raise AssertionError("file stems still clash after the full SHA-1")  # distinct ids, equal SHA-1
