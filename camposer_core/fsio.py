"""Output safety: one writer per output, atomic files, folders renamed into place.

Every command that writes an output folder (or file prefix) follows three rules:

* **One writer** — :func:`output_lock` holds a lock file ``.NAME.camposer-lock`` beside the output
  (in its parent folder, so it also guards outputs that are renamed into place) holding the
  holder's pid, host, process start time and command line. A second run on the same output
  refuses at once with a :class:`~camposer_core.errors.UserError` naming the folder and the holder.
  A lock whose process is gone (same host, pid dead or reused) is stale: it is taken over with a
  warning. Locks are advisory between camposer runs; they do not stop other programs.
* **Atomic files** — :func:`atomic_path` / :func:`atomic_write_text` / :func:`atomic_write_json`
  write to a temporary name in the same folder, fsync, then ``os.replace`` it onto the final name:
  a kill at any moment leaves the old file or the new one, never half of one.
* **Unfinished folders are visible** — :func:`staged_folder` builds a folder under a temporary
  name ``.NAME.partial-PID`` and renames it into place when complete (bags); folders filled in
  place carry an ``.camposer-unfinished`` marker (:func:`mark_unfinished` / :func:`mark_finished`)
  or, for datasets, get their ``manifest.json`` last.

Written by hand: the standard library gives ``os.replace`` and ``O_EXCL`` but no lock file
with holder information and stale-lock takeover; ``filelock``-style flock locks cannot tell the
user *who* holds the folder.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import logging
import os
import shutil
import socket
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .errors import UserError

__all__ = [
    "LOCK_SUFFIX",
    "UNFINISHED",
    "OutputLock",
    "output_lock",
    "atomic_path",
    "atomic_write_text",
    "atomic_write_bytes",
    "atomic_write_json",
    "staged_folder",
    "mark_unfinished",
    "mark_finished",
    "is_unfinished",
    "remove_temp_files",
    "remove_partials",
    "check_output_target",
]

log = logging.getLogger(__name__)

LOCK_SUFFIX = ".camposer-lock"
TEMP_MARK = ".tmp-"
_UMASK = os.umask(0o022)
os.umask(_UMASK)  # temporary files are named .STEM.tmp-XXXX.SUFFIX
UNFINISHED = ".camposer-unfinished"


# --------------------------------------------------------------------------- locks


def _proc_start_time(pid: int) -> str | None:
    """Start time of ``pid`` in clock ticks since boot (Linux ``/proc``), to tell a reused pid
    from the lock's holder; None where ``/proc`` is unavailable."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _lock_path(output: Path) -> Path:
    output = Path(os.path.realpath(output))  # one lock however the folder is named (relative, symlinks)
    return output.parent / f".{output.name}{LOCK_SUFFIX}"


class OutputLock:
    """Lock file guarding ``output`` (a folder or a file prefix); see the module docstring.

    Use as a context manager or call :meth:`acquire` / :meth:`release`. ``command`` is recorded
    for the message another run prints (default: this process's command line)."""

    def __init__(self, output, command: str | None = None):
        self.output = Path(output)
        self.path = _lock_path(self.output)
        self.command = command or " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])
        self.held = False

    def _holder(self) -> dict | None:
        try:
            return json.loads(self.path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return {}  # being written right now, or garbage: treat as held by an unknown process

    def _stale(self, holder: dict) -> bool:
        if not holder or holder.get("host") != socket.gethostname():
            return False
        pid = int(holder.get("pid", -1))
        if pid <= 0 or not _pid_alive(pid):
            return True
        start = holder.get("start")
        return start is not None and _proc_start_time(pid) not in (None, start)  # pid reused

    def acquire(self) -> OutputLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        info = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "start": _proc_start_time(os.getpid()),
            "command": self.command,
            "since": _dt.datetime.now().isoformat(timespec="seconds"),
            "output": str(self.output),
        }
        for _ in range(3):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                holder = self._holder()
                if holder is None:
                    continue  # released between our open and read: try again
                if holder.get("pid") == os.getpid() and holder.get("host") == socket.gethostname():
                    raise UserError(f"{self.output} is already locked by this process (nested write)") from None
                if not self._stale(holder):
                    who = (
                        f"pid {holder.get('pid')} on {holder.get('host')}, running `{holder.get('command')}` "
                        f"since {holder.get('since')}"
                        if holder
                        else "an unknown process"
                    )
                    raise UserError(
                        f"{self.output} is in use by another camposer run ({who}); wait for it to finish or "
                        f"stop it. If that run is gone, delete the lock file {self.path}"
                    ) from None
                log.warning(
                    "%s: taking over a stale lock (pid %s on %s, `%s`, no longer running)",
                    self.output,
                    holder.get("pid"),
                    holder.get("host"),
                    holder.get("command"),
                )
                with contextlib.suppress(FileNotFoundError):
                    self.path.unlink()
                continue
            with os.fdopen(fd, "w") as fh:
                json.dump(info, fh)
                fh.flush()
                os.fsync(fh.fileno())
            self.held = True
            return self
        raise UserError(f"{self.output}: could not take the lock {self.path} (another run keeps taking it)")

    def release(self) -> None:
        if not self.held:
            return
        holder = self._holder()
        if holder and holder.get("pid") == os.getpid():
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
        self.held = False

    def __enter__(self) -> OutputLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def output_lock(output, command: str | None = None) -> OutputLock:
    """``with output_lock(out): ...`` — hold the lock of ``out`` (see :class:`OutputLock`)."""
    return OutputLock(output, command)


def check_output_target(path, what: str = "--out", kind: str = "folder") -> Path:
    """Refuse an output path that cannot be what it should: a folder output that is an existing
    regular file, or a file output that is an existing folder; or whose parent is a file.
    Raises :class:`UserError` naming ``what`` and the path."""
    path = Path(path)
    if kind == "folder" and path.exists() and not path.is_dir():
        raise UserError(f"{what} {path}: exists and is not a folder (give a folder path)")
    if kind == "file" and path.is_dir():
        raise UserError(f"{what} {path}: is a folder, expected a file path")
    for parent in path.absolute().parents:
        if parent.exists():
            if not parent.is_dir():
                raise UserError(f"{what} {path}: {parent} is not a folder")
            if not os.access(parent, os.W_OK):
                raise UserError(f"{what} {path}: cannot write in {parent} (permission denied)")
            break
    return path


# --------------------------------------------------------------------------- atomic files


@contextlib.contextmanager
def atomic_path(path) -> Iterator[Path]:
    """Yield a temporary path in ``path``'s folder; when the block succeeds, fsync it and rename
    it onto ``path`` (``os.replace``, atomic on POSIX); on error remove it and keep the old file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # keeps the suffix: writers that pick the format from it (savefig, imwrite) still work
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}{TEMP_MARK}", suffix=path.suffix, dir=path.parent)
    os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp makes 0600; the final file gets the usual permissions
    os.close(fd)
    try:
        yield Path(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_write_bytes(path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_path`)."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def atomic_write_text(path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically (see :func:`atomic_path`)."""
    return atomic_write_bytes(path, text.encode())


def atomic_write_json(path, data, **kwargs) -> Path:
    """Write ``data`` as indented JSON to ``path`` atomically."""
    kwargs.setdefault("indent", 2)
    return atomic_write_text(path, json.dumps(data, **kwargs) + "\n")


# --------------------------------------------------------------------------- folders


def mark_unfinished(folder, command: str | None = None) -> None:
    """Mark ``folder`` as being written (the marker names the command); see :func:`is_unfinished`."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    cmd = command or " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])
    atomic_write_text(folder / UNFINISHED, f"pid {os.getpid()}: {cmd}\n")


def mark_finished(folder) -> None:
    """Remove the unfinished marker of ``folder`` (the folder is complete)."""
    with contextlib.suppress(FileNotFoundError):
        (Path(folder) / UNFINISHED).unlink()
    _fsync_dir(Path(folder))


def is_unfinished(folder) -> bool:
    """True when ``folder`` carries the unfinished marker (a run was killed while writing it)."""
    return (Path(folder) / UNFINISHED).exists()


def remove_temp_files(folder) -> list[Path]:
    """Remove temporary files of :func:`atomic_path` left by killed runs in ``folder`` (and its
    sub-folders); call it while holding the folder's lock."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    removed = [p for p in folder.rglob(f".*{TEMP_MARK}*") if p.is_file()]
    for p in removed:
        with contextlib.suppress(FileNotFoundError):
            p.unlink()
    if removed:
        log.info("%s: removed %d temporary file(s) of an interrupted run", folder, len(removed))
    return removed


def _partial_name(final: Path, pid: int) -> Path:
    return final.parent / f".{final.name}.partial-{pid}"


def remove_partials(final) -> list[Path]:
    """Remove temporary folders of killed runs that built ``final`` (call under its lock)."""
    final = Path(os.path.abspath(final))
    removed = []
    for p in final.parent.glob(f".{final.name}.partial-*"):
        shutil.rmtree(p, ignore_errors=True)
        removed.append(p)
    for p in final.parent.glob(f".{final.name}.replaced-*"):
        shutil.rmtree(p, ignore_errors=True)
    if removed:
        log.warning("%s: removed %d unfinished temporary folder(s) of an interrupted run", final, len(removed))
    return removed


@contextlib.contextmanager
def staged_folder(final, replace: bool = False, create: bool = True) -> Iterator[Path]:
    """Yield a temporary folder ``.NAME.partial-PID/NAME`` beside ``final`` to build it in (same
    base name, for writers that name files after their folder; not yet created when ``create`` is
    false, for writers that insist on creating it). When the block succeeds it is renamed to
    ``final`` (replacing an existing ``final`` only when ``replace``: the old folder is moved aside
    first and removed after the rename). On error the temporary folder is removed. Call it while
    holding :func:`output_lock` of ``final``; leftovers of killed runs are removed first."""
    final = Path(os.path.abspath(final))
    final.parent.mkdir(parents=True, exist_ok=True)
    remove_partials(final)
    container = _partial_name(final, os.getpid())
    container.mkdir()
    tmp = container / final.name
    if create:
        tmp.mkdir()
    try:
        yield tmp
        _fsync_dir(tmp)
        old = None
        if final.exists() or final.is_symlink():
            if not replace:
                raise FileExistsError(f"{final} already exists")
            old = final.parent / f".{final.name}.replaced-{os.getpid()}"
            os.replace(final, old)
        os.replace(tmp, final)
        _fsync_dir(final.parent)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True) if old.is_dir() else old.unlink()
    finally:
        shutil.rmtree(container, ignore_errors=True)
