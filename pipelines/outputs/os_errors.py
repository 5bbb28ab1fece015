"""Errors of writing outputs, each one line: a full disk, a parent that is a file, no permission, a folder in use.

:class:`OutputError` (a :class:`~ditan.spatial.errors.DitanError`, exit 2) names the path, the cause in English and
Chinese, and the fix; :class:`OutputBusy` (exit 75, "try again later") is another run writing the same folder.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ditan.spatial.errors import DitanError

__all__ = ["OutputBusy", "OutputError", "describe_os_error", "writing"]


class OutputError(DitanError):
    """The outputs cannot be written where asked (disk full, a parent that is a file, no permission …)."""

    exit_code = 2


class OutputBusy(OutputError):
    """Another ditan run is writing the same output folder, and this run was told not to wait (``--no-wait``)."""

    #: EX_TEMPFAIL: try again later
    exit_code = 75


# --- one line for an OSError ----------------------------------------------------------------------------

_ERRNO_TEXT = {
    errno.ENOSPC: ("no space left on device", "磁盘已满", "free space or choose another --out"),
    errno.EDQUOT: ("disk quota exceeded", "超出磁盘配额", "free space or choose another --out"),
    errno.EACCES: (
        "permission denied",
        "没有写入权限",
        "choose a folder you may write to with --out",
    ),
    errno.EPERM: (
        "operation not permitted",
        "没有写入权限",
        "choose a folder you may write to with --out",
    ),
    errno.EROFS: ("read-only file system", "只读文件系统", "choose another --out"),
    errno.ENAMETOOLONG: ("a file name is too long", "文件名过长", "choose a shorter --out"),
    errno.EINVAL: (
        "the file system refuses a file name",
        "文件名含非法字符",
        "choose a folder on a local file system with --out",
    ),
    errno.EILSEQ: (
        "the file system refuses a character of a file name",
        "文件名含非法字符",
        "choose a folder on a local file system with --out",
    ),
    errno.ENOENT: ("no such file or folder", "路径不存在", "choose another --out"),
    errno.ELOOP: ("symbolic links loop", "符号链接循环", "fix the link or choose another --out"),
    errno.EBUSY: (
        "the folder is busy (a mount point?)",
        "目录被占用",
        "choose a folder inside it with --out",
    ),
    errno.EXDEV: (
        "the folder cannot be replaced across file systems",
        "跨文件系统",
        "choose another --out",
    ),
}


def _file_in_the_way(path: Path) -> Path | None:
    """The first of ``path`` and its parents, from the root down, that exists but is not a folder."""
    for p in reversed([path, *path.parents]):
        if os.path.lexists(p) and not p.is_dir():
            return p
    return None


def describe_os_error(exc: OSError, target: Path | str, *, fix: bool = True) -> str:
    """One line for an OSError met while writing ``target``: what happened (English, 中文) and the fix.

    ``fix=False``: the file may have been read or written (the CLI's last resort): no ``--out`` advice.
    """
    target = Path(target)
    where = Path(exc.filename) if isinstance(exc.filename, str) else None
    verb = "cannot write" if fix else "cannot use"
    if exc.errno in (errno.EEXIST, errno.ENOTDIR) or isinstance(
        exc, FileExistsError | NotADirectoryError
    ):
        blocker = _file_in_the_way(where or target) or _file_in_the_way(target)
        if blocker is not None:
            return f"{verb} {target}: {blocker} is a file, not a folder (路径中有同名文件); " + (
                "choose another --out, or move the file" if fix else "move the file"
            )
    text = _ERRNO_TEXT.get(exc.errno or -1)
    if text is None:
        what, zh, advice = (exc.strerror or type(exc).__name__), "", "choose another --out"
    else:
        what, zh, advice = text[0], f" ({text[1]})", text[2]
    if not fix:
        advice = "free space" if exc.errno in (errno.ENOSPC, errno.EDQUOT) else ""
    at = f" (at {where})" if where is not None and where != target else ""
    return f"{verb} {target}: {what}{zh}{at}" + (f"; {advice}" if advice else "")


@contextmanager
def writing(target: Path | str) -> Iterator[None]:
    """Turn an OSError of the block into an :class:`OutputError` about ``target`` (one line, the OSError kept as cause)."""
    try:
        yield
    except OSError as exc:
        raise OutputError(describe_os_error(exc, target)) from exc
