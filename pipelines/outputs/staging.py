"""The output folder of a run: one writer at a time, a staging folder swapped in whole, errors in one line.

- **One writer per folder.** A run holds an OS file lock (``fcntl.flock``) on ``.<name>.lock`` beside its
  output folder from before it looks at the folder until its outputs are in place. A second run of the same
  folder waits for it (saying so, with the pid of the run it waits for) or, with ``wait=False`` (``--no-wait``),
  stops at once with :class:`OutputBusy`. The kernel releases the lock when its process ends, however it ends:
  a lock is never stale.
- **Staged, then swapped.** A run writes into ``.<name>.<pid>.<random>.partial`` beside the output folder; only
  when every file is complete does the staging folder replace the output folder (two renames, with SIGINT and
  SIGTERM held back). An interrupted or failed run therefore leaves the previous run's outputs intact. A staging
  folder whose process has gone (killed outright: SIGKILL, power cut) is removed by the next run of the same
  folder; one whose process is alive is never touched. A run killed between the two renames is repaired by the
  next run (the previous folder, kept as ``.<name>.old``, is put back).
- **A symbolic link is followed.** When the output folder is a symbolic link, the folder it points to is the one
  replaced (staged beside it, swapped the same way); the link stays as it is.
- **Folder modes honour the umask** (``mkdtemp`` alone makes 0700 folders).
- **Errors a user can cause are one line** (:class:`OutputError`, a :class:`~ditan.spatial.errors.DitanError`): a full
  disk, a parent that is a file, a folder one may not write, a read-only file system — never a traceback.

Single files (``ditan units``) are written under a temporary name and renamed (:func:`atomic_path`).
"""

from __future__ import annotations

import glob
import logging
import os
import re
import shutil
import signal
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

from ditan.pipelines.outputs.os_errors import (  # re-exported: the staging's errors
    OutputBusy,
    OutputError,
    describe_os_error,
    writing,
)
from ditan.spatial.errors import ConfigError

try:  # POSIX (Linux, macOS); elsewhere runs are not locked against each other
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "Allowed",
    "OutputBusy",
    "OutputError",
    "LOCK_WAIT",
    "atomic_path",
    "check_output_folder",
    "describe_os_error",
    "lock_file",
    "make_dir",
    "output_lock",
    "real_folder",
    "staged_dir",
    "umask",
    "writing",
]

log = logging.getLogger(__name__)

#: whether a run waits for another run writing the same output folder (True) or stops at once (False);
#: the CLI sets it from ``--no-wait``; ``Job.run(wait=…)`` overrides it
LOCK_WAIT: ContextVar[bool] = ContextVar("ditan_output_lock_wait", default=True)


# --- modes ----------------------------------------------------------------------------------------------


def umask() -> int:
    """The process's umask (read from /proc where it can be, without changing it; else set and put back)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def make_dir(*, prefix: str, suffix: str, dir: Path) -> Path:
    """A new folder with a unique name (``tempfile.mkdtemp``), its mode from the umask as ``mkdir`` gives (not 0700)."""
    path = Path(tempfile.mkdtemp(prefix=prefix, suffix=suffix, dir=dir))
    os.chmod(path, 0o777 & ~umask())
    return path


# --- single files ----------------------------------------------------------------------------------------


@contextmanager
def atomic_path(final: Path) -> Iterator[Path]:
    """A temporary path in the same folder (same suffix); renamed to ``final`` on success."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{final.stem}.", suffix=f".partial{final.suffix}", dir=final.parent
    )
    os.close(fd)
    # writers such as GDAL want to create the file themselves (with the umask's mode)
    os.unlink(tmp)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, final)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


# --- the folder of a run ---------------------------------------------------------------------------------


@contextmanager
def _signals_held() -> Iterator[None]:
    """Hold SIGINT and SIGTERM back (POSIX) while the output folder is swapped; they arrive after."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _old(final: Path) -> Path:
    return final.parent / f".{final.name}.old"


def real_folder(final: Path) -> Path:
    """The folder a run replaces: ``final``, or the folder it points to when it is a symbolic link (absolute)."""
    return Path(os.path.realpath(final))


def lock_file(final: Path) -> Path:
    """The lock file of an output folder: ``.<name>.lock`` beside the folder (a symbolic link followed)."""
    real = real_folder(final)
    return real.parent / f".{real.name}.lock"


#: the names a previous run may have left in an output folder: a set, or a test of one name
Allowed = set[str] | frozenset[str] | Callable[[str], bool]

#: files a user keeps next to a run's outputs by habit, with the fix
_KNOWN_FOREIGN = {
    "units.gpkg": "units.gpkg of an earlier `ditan units` (now written to out/<name>_units.gpkg): move it out of the folder and name its new place in inputs.units",
    "units.geojson": "units.geojson of an earlier `ditan units`: move it out of the folder and name its new place in inputs.units",
}


def check_output_folder(final: Path, allowed: Allowed) -> None:
    """Stop before any work if ``final`` holds files a run would remove (the swap replaces the folder)."""
    final = Path(final)
    with writing(final):
        if final.exists() and not final.is_dir():
            raise ConfigError(f"output folder {final} is a file; choose a folder with --out")
        if final.is_dir():
            ok = allowed if callable(allowed) else allowed.__contains__
            foreign = sorted(p.name for p in final.iterdir() if not ok(p.name))
        else:
            foreign = []
    if foreign:
        hints = [_KNOWN_FOREIGN[n] for n in foreign if n in _KNOWN_FOREIGN]
        raise ConfigError(
            f"output folder {final} holds files ditan did not write ({', '.join(foreign[:5])}"
            f"{' …' if len(foreign) > 5 else ''}); a run replaces the whole folder, so choose a new or empty one with --out"
            + (f" ({'; '.join(hints)})" if hints else "")
        )


def _alive(pid: int) -> bool:
    """Whether a process ``pid`` exists (on this machine)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    except OSError:
        return False
    return True


def _partials(real: Path) -> Iterator[tuple[Path, int | None]]:
    """The staging folders of ``real`` beside it, with the pid of the run that made each (None: an older ditan's)."""
    prefix, suffix = f".{real.name}.", ".partial"
    try:
        entries = list(real.parent.iterdir())
    except OSError:
        return
    for p in entries:
        name = p.name
        if not (name.startswith(prefix) and name.endswith(suffix)):
            continue
        middle = name[len(prefix) : -len(suffix)]
        if m := re.fullmatch(r"(\d+)\.[a-z0-9_]+", middle):
            yield p, int(m[1])
        # made by a ditan before pids were in the name: stale under the lock
        elif re.fullmatch(r"[a-z0-9_]{8}", middle):
            yield p, None


def _clean_up(real: Path, shown: Path) -> None:
    """Under the lock: put back a folder of a run killed between the two renames; remove what dead runs left."""
    old = _old(real)
    with writing(shown):
        if os.path.islink(old):  # an earlier ditan renamed a symlinked output folder's link here
            os.unlink(old)  # a link only: the folder it pointed to is left as it was
            log.warning(
                "removed %s, a symbolic link an earlier ditan left when it replaced a linked output folder "
                "(the folder it pointed to is untouched)",
                old,
            )
        elif old.is_dir():
            # killed between the two renames: the previous outputs go back
            if not os.path.lexists(real):
                os.replace(old, real)
            else:  # killed after the swap, before removing the previous outputs
                try:
                    shutil.rmtree(old)
                except OSError as exc:
                    raise OutputError(
                        f"cannot remove {old}, the previous outputs of {shown} ({exc.strerror}); delete it and run again"
                    ) from exc
        elif os.path.lexists(old):
            raise OutputError(
                f"{old} is in the way of replacing {shown} and is not a folder ditan left; delete it and run again"
            )
    for p, pid in _partials(real):
        if pid is None or pid == os.getpid() or not _alive(pid):
            shutil.rmtree(p, ignore_errors=True)


def _holder(fd: int) -> str:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", errors="replace").strip()
    except OSError:
        text = ""
    return f"pid {text}" if text.isdigit() else "pid unknown"


def _acquire(real: Path, shown: Path, wait: bool) -> int:
    """Lock ``real``'s lock file (waiting, or not); write our pid into it; return its descriptor."""
    assert fcntl is not None
    path = real.parent / f".{real.name}.lock"
    said = False
    while True:
        with writing(shown):
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                who = _holder(fd)
                if not wait:
                    raise OutputBusy(
                        f"another ditan run ({who}) is writing {shown} (另一个 ditan 正在写入该目录); "
                        "wait for it to finish, or run without --no-wait to wait for it"
                    ) from None
                if not said:
                    log.warning("waiting for another ditan run writing %s (%s) …", shown, who)
                    said = True
                fcntl.flock(fd, fcntl.LOCK_EX)
            # the holder removes the lock file as it lets go: a lock on a removed file guards nothing, try again
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(path))
            except FileNotFoundError:
                same = False
            if same:
                try:
                    os.ftruncate(fd, 0)
                    os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
                except OSError:  # a full disk: the lock holds all the same
                    pass
                return fd
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)


def _release(real: Path, fd: int) -> None:
    assert fcntl is not None
    try:
        # while still locked: a waiter then finds its file gone and tries again
        os.unlink(real.parent / f".{real.name}.lock")
    except OSError:
        pass
    try:
        fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


#: the output folders this process holds locked: real path → (thread, depth)
_held: dict[str, tuple[int, int]] = {}
_held_guard = threading.Lock()


@contextmanager
def output_lock(final: Path, *, wait: bool | None = None) -> Iterator[Path]:
    """Hold the output folder ``final`` for this run (waiting for another run of it, or not); yield the real folder.

    ``wait``: None → :data:`LOCK_WAIT` (the CLI's ``--no-wait``). Re-entrant in one thread. On taking the lock, a
    folder of a run killed between its two renames is put back, and the staging folders of runs that are gone
    are removed. The parent folder is made here: a parent that is a file, or one that cannot be written, is an
    :class:`OutputError` before any work.
    """
    final = Path(final)
    real = real_folder(final)
    key, me = str(real), threading.get_ident()
    with _held_guard:
        mine = _held.get(key)
        if mine is not None and mine[0] == me:
            _held[key] = (me, mine[1] + 1)
    if mine is not None and mine[0] == me:  # this thread holds it already
        try:
            yield real
        finally:
            with _held_guard:
                _held[key] = (me, _held[key][1] - 1)
        return
    with writing(final):
        real.parent.mkdir(parents=True, exist_ok=True)
    fd = _acquire(real, final, LOCK_WAIT.get() if wait is None else wait) if fcntl else -1
    with _held_guard:
        _held[key] = (me, 1)
    try:
        _clean_up(real, final)
        yield real
    finally:
        with _held_guard:
            del _held[key]
        if fd >= 0:
            _release(real, fd)


@contextmanager
def staged_dir(final: Path, *, allowed: Allowed, wait: bool | None = None) -> Iterator[Path]:
    """A staging folder that replaces ``final`` as a whole when the block completes.

    ``allowed``: the names a previous run may have left in ``final``; any other file there stops
    the run (the swap would remove it). The folder is held (:func:`output_lock`) for the block unless this thread
    holds it already; ``final`` a symbolic link: the folder it points to is replaced. An OSError while writing
    (disk full …) is an :class:`OutputError` of one line; the previous outputs stay as they were.
    """
    final = Path(final)
    with output_lock(final, wait=wait) as real:
        check_output_folder(final, allowed)
        prefix = f".{real.name}.{os.getpid()}."
        try:
            with writing(final):
                staging = make_dir(prefix=prefix, suffix=".partial", dir=real.parent)
            with writing(final):
                yield staging
                old = _old(real)
                with _signals_held():
                    if os.path.lexists(real):
                        os.replace(real, old)
                        try:
                            os.replace(staging, real)
                        except BaseException:  # the previous outputs back where they were
                            os.replace(old, real)
                            raise
                    else:
                        os.replace(staging, real)
            # if this fails, the next run removes it (or says what to delete)
            shutil.rmtree(old, ignore_errors=True)
        finally:
            # this process's staging folder of this name (one at a time: the lock is held), also when a signal
            # came between its creation and the assignment above
            for ours in real.parent.glob(f"{glob.escape(prefix)}*.partial"):
                shutil.rmtree(ours, ignore_errors=True)
