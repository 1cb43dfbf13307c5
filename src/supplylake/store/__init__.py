"""The durable store: a contract and its backends, picked by URL."""

from __future__ import annotations

from pathlib import Path

from supplylake.store.base import Store


def open_store(url: str) -> Store:
    """Open the store named by ``url``: ``sqlite:///path/to.db`` (or a plain path)."""
    if url.startswith("sqlite:///"):
        path = url.removeprefix("sqlite:///")
        path = "/" + path.lstrip("/") if url.startswith("sqlite:////") else path
    elif "://" not in url:
        path = url
    else:
        scheme = url.split("://", 1)[0]
        raise ValueError(
            f"unsupported database URL scheme {scheme!r}: use sqlite:///path/to/supplylake.db"
        )
    from supplylake.store.sqlite import SqliteStore

    return SqliteStore(Path(path))
