from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from supplylake.lake import Lake


@pytest.fixture
def lake(tmp_path: Path) -> Iterator[Lake]:
    lake = Lake(f"sqlite:///{tmp_path / 'supplylake.db'}", str(tmp_path / "warehouse"))
    yield lake
    lake.close()
