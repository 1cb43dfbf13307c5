"""Database URLs: the backend they name and the forms libpq and SQLAlchemy take."""

from __future__ import annotations

from pathlib import Path

import pytest

from supplylake.store.urls import is_postgres, libpq_url, sqlalchemy_url, sqlite_path


@pytest.mark.parametrize("scheme", ["postgresql", "postgres", "postgresql+psycopg", "POSTGRES"])
def test_postgres_urls_of_every_scheme(scheme: str) -> None:
    url = f"{scheme}://u:p@db.example:5433/lake?sslmode=require"
    assert is_postgres(url)
    assert libpq_url(url) == "postgresql://u:p@db.example:5433/lake?sslmode=require"
    assert sqlalchemy_url(url) == "postgresql+psycopg://u:p@db.example:5433/lake?sslmode=require"


def test_sqlite_urls_and_plain_paths() -> None:
    assert sqlite_path("sqlite:////var/lib/s.db") == Path("/var/lib/s.db")
    assert sqlite_path("sqlite:///data/s.db") == Path("data/s.db")
    assert sqlite_path("data/s.db") == Path("data/s.db")
    assert not is_postgres("sqlite:///data/s.db")
    assert sqlalchemy_url("sqlite:////var/lib/s.db") == "sqlite:////var/lib/s.db"
    assert sqlalchemy_url("/var/lib/s.db") == "sqlite:////var/lib/s.db"


def test_other_schemes_are_refused_with_the_supported_ones() -> None:
    with pytest.raises(ValueError, match="postgresql://"):
        sqlite_path("mysql://u@h/db")
