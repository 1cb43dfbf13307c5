"""Locations of lake files: local paths behind `file://` URIs, removing files and a table's folder."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterable

from pyiceberg.io import FileIO
from pyiceberg.io.pyarrow import PyArrowFileIO


def local_path(location: str) -> str | None:
    """The local path of a `file://` URI or a bare path; None for an object store's URI."""
    if location.startswith("file://"):
        return location[len("file://") :]
    return None if "://" in location else location


def remove_folder(io: FileIO, location: str) -> None:
    """Delete every file under `location`, a local folder or an object store's "folder"."""
    path = local_path(location)
    if path is not None:
        shutil.rmtree(path, ignore_errors=True)
        return
    if not isinstance(io, PyArrowFileIO):
        raise TypeError(f"cannot list {location} with {type(io).__name__}")
    scheme, netloc, folder = io.parse_location(location)
    with contextlib.suppress(FileNotFoundError):
        io.fs_by_scheme(scheme, netloc).delete_dir(folder)


def remove_files(io: FileIO, paths: Iterable[str]) -> None:
    """Delete files that may already be gone (orphans of a refused commit, expired files)."""
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            io.delete(path)
