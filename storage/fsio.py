"""Crash-safe file primitives of the folder copy: write-then-rename, fsync of files and folders, private modes."""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_file(path: Path, data: bytes, *, durable: bool) -> None:
    """Temp file, (fsync), rename over the target, (fsync the folder): the target is old or new, never torn."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        if durable:
            os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    if durable:
        fsync_dir(path.parent)


def make_dir(path: Path) -> None:
    """`mkdir -p` where every directory created is 0700 whatever the umask; an existing `path` is tightened to 0700.

    Path.mkdir(parents=True) creates the parents with the umask's mode (as `mkdir -p` does), which under
    umask 000 left AUTH_DIR world-writable; so each missing level is created here, then chmod-ed.
    """
    try:
        path.mkdir(mode=0o700)
    except FileNotFoundError:
        make_dir(path.parent)
        with contextlib.suppress(FileExistsError):  # created meanwhile by another process
            path.mkdir(mode=0o700)
    except FileExistsError:
        pass
    if stat.S_IMODE(path.stat().st_mode) & 0o077:
        path.chmod(0o700)
