"""Assembling ``serve``: how many API processes (which rate limits they share: see
``tests/service/test_limits.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from supplylake.config import Settings
from supplylake.server import check_workers


def test_several_workers_are_allowed_on_sqlite_but_not_none(tmp_path: Path) -> None:
    check_workers(Settings(data_dir=tmp_path, workers=2))
    with pytest.raises(ValueError, match="at least 1"):
        check_workers(Settings(data_dir=tmp_path, workers=0))
