"""Writing files atomically with the permissions a plain ``open()`` would give.

``tempfile.mkstemp`` creates files readable by their owner only (0600) and ``mkdtemp`` private folders (0700);
what we write for people to share (tables, figures, reports) gets ``0o666 & ~umask`` and ``0o777 & ~umask``, and a
file that replaces another keeps that one's permission bits.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import BinaryIO


def proc_field(path: str, key: str) -> str | None:
    """The first word after ``KEY:`` in a Linux ``/proc`` file of such lines (``/proc/self/status``,
    ``/proc/meminfo``); None where the file, the line or the word is missing."""
    try:
        with open(path, encoding="ascii", errors="replace") as lines:
            for line in lines:
                if line.startswith(f"{key}:"):
                    words = line[len(key) + 1:].split()
                    return words[0] if words else None
    except OSError:
        pass
    return None


@functools.cache
def umask() -> int:
    """The process's file-mode creation mask, read once: from ``/proc/self/status`` where the kernel reports it
    (reading changes nothing), else by setting it and putting it straight back."""
    value = proc_field("/proc/self/status", "Umask")
    if value and set(value) <= set("01234567"):
        return int(value, 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def file_mode() -> int:
    """Permission bits of a new file: ``0o666 & ~umask``."""
    return 0o666 & ~umask()


def folder_mode() -> int:
    """Permission bits of a new folder: ``0o777 & ~umask``."""
    return 0o777 & ~umask()


TEMP_NAME_BYTES = 100  # of the target's name kept in its temporary file's, ".NAME." + 8 random: 110 bytes at most


def kept_mode(target: Path) -> int:
    """Permission bits for the file that replaces ``target``: those of the regular file there now (a plain ``open()``
    keeps them: a private 0600 table stays private, not 0644), else :func:`file_mode`."""
    try:
        status = os.stat(target)
    except (OSError, ValueError):
        return file_mode()
    return stat.S_IMODE(status.st_mode) & 0o777 if stat.S_ISREG(status.st_mode) else file_mode()


def temp_beside(target: Path) -> tuple[int, Path]:
    """A new temporary file (fd, path) in ``target``'s folder, with the permissions of the file it replaces
    (:func:`kept_mode`), to be ``os.replace``-d onto ``target`` once complete; its name is short enough beside any
    file name the folder takes (one of 255 bytes included). Raises OSError."""
    name = os.fsencode(target.name)[:TEMP_NAME_BYTES].decode("utf-8", "ignore")  # a character cut in two: dropped
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{name}.")
    try:
        os.fchmod(fd, kept_mode(target))
    except OSError:
        os.close(fd)
        os.unlink(tmp)
        raise
    return fd, Path(tmp)


def write_atomic(target: Path, data: bytes) -> None:
    """Write ``data`` to ``target`` through a temporary file beside it (:func:`temp_beside`) moved into place once
    complete: a failure leaves the old file, or none, never a half-written one. Raises OSError."""
    fd, tmp = temp_beside(target)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def written_in_place(path: Path) -> bool:
    """Whether a write to ``path`` must open it rather than replace it: it exists (links followed) as something other
    than a regular file or a folder: a device (/dev/null, the terminal or pipe behind /dev/stdout), a FIFO, a socket.
    Renaming a new file onto one (root may) would put a regular file where /dev/null was."""
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


def replacement_target(path: Path) -> Path:
    """The file a write to ``path`` replaces: ``path`` itself, or, for a symbolic link, the file it points to (the link
    stays a link, as after a shell's ``>``)."""
    return Path(os.path.realpath(path)) if path.is_symlink() else path


@contextlib.contextmanager
def output_stream(path: Path) -> Iterator[BinaryIO]:
    """A binary handle whose bytes become the file a user named with ``-o path``, the one place that decides how
    such a file is written: a device or FIFO (/dev/null, /dev/stdout) is opened and written in place, never replaced
    (:func:`written_in_place`); anything else is written to a temporary file beside the file replaced (a symbolic
    link's target: the link stays a link, :func:`replacement_target`) and moved onto it when the block completes, so
    a failure leaves the old file, or none, never a half-written one. Missing folders are created, and removed again
    when the write fails. ``path`` a folder raises IsADirectoryError naming it. Raises OSError."""
    if written_in_place(path):
        with open(path, "wb") as handle:
            yield handle
        return
    target = replacement_target(path)
    if target.is_dir():
        raise IsADirectoryError(errno.EISDIR, "it is a folder", os.fspath(path))
    created = missing_folders(target.parent)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = temp_beside(target)
        try:
            with os.fdopen(fd, "wb") as handle:
                yield handle
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
    except BaseException:
        remove_folders(created)
        raise


def replace_all(moves: Sequence[tuple[Path, Path]]) -> None:
    """Move each complete temporary file onto its target (``os.replace``), all or nothing: before any move, every
    target but the last that exists is kept aside (a hard link, else a copy, in a private folder beside it); when a
    move fails, the targets already moved get their old file back, or are removed where there was none. Raises the
    OSError with ``filename`` the target that failed. Temporaries not moved are left to the caller."""
    kept: list[Path | None] = []  # per target but the last: its folder of the old file, None where there was none
    moved: list[Path] = []
    target: Path | None = None
    try:
        for _, target in moves[:-1]:
            kept.append(_keep_aside(target))
        for tmp, target in moves:
            os.replace(tmp, target)
            moved.append(target)
    except BaseException as exc:  # an interrupt between two moves is undone too
        for done, folder in reversed(list(zip(moved, kept, strict=False))):
            try:
                if folder is None:
                    done.unlink(missing_ok=True)
                else:
                    os.replace(folder / "old", done)
            except OSError:  # best effort: the next one still gets its old file back
                pass
        if isinstance(exc, OSError) and target is not None:
            exc.filename, exc.filename2 = os.fspath(target), None
        raise
    finally:
        for folder in kept:
            if folder is not None:
                shutil.rmtree(folder, ignore_errors=True)


def _keep_aside(target: Path) -> Path | None:
    """A new private folder beside ``target`` holding ``old``, a hard link to it (a copy where the file system has
    no hard links; a symlink stays a symlink); None when ``target`` does not exist. Raises OSError."""
    if not os.path.lexists(target):
        return None
    folder = Path(tempfile.mkdtemp(dir=target.parent, prefix=".costmodel-old-"))
    try:
        try:
            os.link(target, folder / "old", follow_symlinks=False)
        except OSError:
            shutil.copy2(target, folder / "old", follow_symlinks=False)
    except OSError:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return folder


def missing_folders(folder: Path) -> list[Path]:
    """``folder`` and those of its ancestors that do not exist yet, innermost first: the folders a
    ``mkdir(parents=True)`` of it would create (to remove them again when the write they were made for fails)."""
    missing = []
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    return missing


def remove_folders(created: list[Path]) -> None:
    """Remove the folders of ``created`` (innermost first, as :func:`missing_folders` lists them) that are empty,
    up to the first that is not (something else was put there meanwhile: it stays, with its ancestors)."""
    for folder in created:
        try:
            folder.rmdir()
        except OSError:
            return


def unwritable_reason(path: Path) -> str | None:
    """Why ``path`` (a file or folder to be created or replaced) cannot be written, checked before any work:
    its nearest existing ancestor must be a writable folder (for a symbolic link, the file it points to's; a device or
    FIFO, written in place, must itself be writable). None when it looks writable."""
    if written_in_place(path):
        return None if os.access(path, os.W_OK) else f"{path} is not writable"
    target = replacement_target(path)
    if target.is_file() and not os.access(target, os.W_OK):  # a rename would replace it all the same
        return f"{path} is read-only"
    parent = target.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK):
        return f"{parent} is not a writable folder"
    return None


def output_problem(path: Path) -> str | None:
    """Why a file the user names with ``-o`` cannot be written, checked before any work: it is a folder (or a link to
    one), or :func:`unwritable_reason`. None when it looks writable."""
    if replacement_target(path).is_dir():
        return "it is a folder"
    return unwritable_reason(path)


def safe_file_name(text: str, max_chars: int = 120) -> str:
    """A file name made from free text (a spec's ``name``) that stays in the current folder: only letters,
    digits, ``_``, ``-`` and ``.`` (others become ``_``), no leading dot, at most ``max_chars`` characters."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", text).lstrip(".")[:max_chars]
    return name or "model"
