"""The loader process freezes its long-lived heap and collects young objects less often."""

from __future__ import annotations

import json
import subprocess
import sys

_SCRIPT = """
import gc, json
import pyiceberg.table  # the long-lived heap a loader has
from supplylake.process.garbage import settle_garbage_collector
before = gc.get_freeze_count(), gc.get_threshold()
settle_garbage_collector()
print(json.dumps([before, [gc.get_freeze_count(), gc.get_threshold()]]))
"""


def test_settling_freezes_what_exists_and_raises_the_young_threshold() -> None:
    out = subprocess.run(
        [sys.executable, "-c", _SCRIPT], capture_output=True, text=True, check=True, timeout=60
    )
    (frozen_before, thresholds_before), (frozen, thresholds) = json.loads(out.stdout)
    assert frozen_before == 0 and frozen > 10_000  # pyiceberg alone is tens of thousands
    assert thresholds[0] == 20_000 > thresholds_before[0]
    assert thresholds[1:] == thresholds_before[1:]
