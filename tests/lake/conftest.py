from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from supplylake.lake import Lake

INSTANCE = "4f1c2e0a-9b7d-4c3e-8f6a-5b4c3d2e1f0a"


@pytest.fixture
def lake(tmp_path: Path) -> Iterator[Lake]:
    """A lake with its catalog in a SQLite file and its warehouse in a folder, as in production."""
    lake = Lake(f"sqlite:///{tmp_path / 'supplylake.db'}", str(tmp_path / "warehouse"))
    yield lake
    lake.close()
