"""Writing files atomically with the permissions a plain ``open()`` would give.

``tempfile.mkstemp`` creates files readable by their owner only (0600) and ``mkdtemp`` private folders (0700);
what we write for people to share (tables, figures, reports) gets ``0o666 & ~umask`` and ``0o777 & ~umask``.
"""

from __future__ import annotations

import functools
import os
import re
import tempfile
from pathlib import Path


@functools.cache
def umask() -> int:
    """The process's file-mode creation mask, read once: from ``/proc/self/status`` where the kernel reports it
    (reading changes nothing), else by setting it and putting it straight back."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def file_mode() -> int:
    """Permission bits of a new file: ``0o666 & ~umask``."""
    return 0o666 & ~umask()


def folder_mode() -> int:
    """Permission bits of a new folder: ``0o777 & ~umask``."""
    return 0o777 & ~umask()


def temp_beside(target: Path) -> tuple[int, Path]:
    """A new temporary file (fd, path) in ``target``'s folder, with :func:`file_mode` permissions, to be
    ``os.replace``-d onto ``target`` once complete. Raises OSError."""
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        os.fchmod(fd, file_mode())
    except OSError:
        os.close(fd)
        os.unlink(tmp)
        raise
    return fd, Path(tmp)


def unwritable_reason(path: Path) -> str | None:
    """Why ``path`` (a file or folder to be created or replaced) cannot be written, checked before any work:
    its nearest existing ancestor must be a writable folder. None when it looks writable."""
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK):
        return f"{parent} is not a writable folder"
    return None


def safe_file_name(text: str, max_chars: int = 120) -> str:
    """A file name made from free text (a spec's ``name``) that stays in the current folder: only letters,
    digits, ``_``, ``-`` and ``.`` (others become ``_``), no leading dot, at most ``max_chars`` characters."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", text).lstrip(".")[:max_chars]
    return name or "model"
