"""The project's private PostgreSQL cluster (``tests/postgres_cluster.py``) for benchmarks.

The cluster is the tests' own, not part of the installed package, so a benchmark run as
``uv run python bench/<script>.py`` reaches it through the checkout's root.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.postgres_cluster import create_database, postgres_cluster

__all__ = ["create_database", "postgres_cluster"]
