"""Database URLs: which backend a URL names, and the forms libpq and SQLAlchemy expect."""

from __future__ import annotations

import re
from pathlib import Path

_POSTGRES_SCHEMES = ("postgresql", "postgres", "postgresql+psycopg")


def scheme(url: str) -> str:
    return url.split("://", 1)[0].lower() if "://" in url else ""


def is_postgres(url: str) -> bool:
    return scheme(url) in _POSTGRES_SCHEMES


def sqlite_path(url: str) -> Path:
    """The file of ``sqlite:///relative``, ``sqlite:////absolute`` or a plain path."""
    if url.startswith("sqlite:////"):
        return Path("/" + url.removeprefix("sqlite:////"))
    if url.startswith("sqlite:///"):
        return Path(url.removeprefix("sqlite:///"))
    if "://" not in url:
        return Path(url)
    raise ValueError(
        f"unsupported database URL scheme {scheme(url)!r}: use sqlite:///path/to/supplylake.db"
        " or postgresql://user:password@host:port/database"
    )


def libpq_url(url: str) -> str:
    """``postgresql://...`` as libpq (psycopg) takes it, from any PostgreSQL URL scheme."""
    if not is_postgres(url):
        raise ValueError(f"not a PostgreSQL URL: {scheme(url)!r}")
    return "postgresql://" + url.split("://", 1)[1]


def sqlalchemy_url(url: str) -> str:
    """The same database as a SQLAlchemy URL (PostgreSQL through psycopg 3)."""
    if is_postgres(url):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    if url.startswith("sqlite:///"):
        return url
    return f"sqlite:///{sqlite_path(url)}"


def redacted(url: str) -> str:
    """The URL with any password replaced by ``***``, fit for logs and messages."""
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)
