"""Reading input files within bounds: regular files only, each kind with its own size cap.

A FIFO would block the reader forever and `/dev/zero` never ends, so a path is
opened without blocking and refused unless it names a regular file no larger
than its cap.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from engine.errors import EngineError

SCHEMA_MAX_BYTES = 2 * 1024 * 1024
RECORD_MAX_BYTES = 1024 * 1024  # a patient record, a test script or a file of caller turns


class InputFileError(EngineError):
    """An input file that is not a regular file, is too large, or cannot be read."""


def read_bounded_bytes(path: Path | str, max_bytes: int) -> bytes:
    """The whole of a regular file of at most `max_bytes` bytes."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except OSError as error:
        raise InputFileError(f"cannot read file: {error.strerror or error}") from error
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise InputFileError(f"not a regular file ({file_kind(info.st_mode)})")
        if info.st_size > max_bytes:
            raise InputFileError(f"file too large ({info.st_size:,} bytes; at most {max_bytes:,})")
        data = _read_at_most(fd, max_bytes + 1)
    except OSError as error:
        raise InputFileError(f"cannot read file: {error.strerror or error}") from error
    finally:
        os.close(fd)
    if len(data) > max_bytes:
        raise InputFileError(f"file too large (more than {max_bytes:,} bytes)")
    return data


def _read_at_most(fd: int, limit: int) -> bytes:
    chunks: list[bytes] = []
    remaining = limit
    while remaining > 0 and (chunk := os.read(fd, min(remaining, 1 << 20))):
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def file_kind(mode: int) -> str:
    """'a directory', 'a FIFO', 'a device', ... for a non-regular file's mode."""
    kinds = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a device"),
             (stat.S_ISBLK, "a device"), (stat.S_ISSOCK, "a socket"))
    return next((name for test, name in kinds if test(mode)), "not a regular file")
