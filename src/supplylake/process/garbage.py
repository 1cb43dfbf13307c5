"""Garbage collection for a process that holds a large heap of long-lived objects."""

from __future__ import annotations

import gc

#: Allocations between two collections of young objects (Python's default is far lower).
_YOUNG_THRESHOLD = 20_000


def settle_garbage_collector() -> None:
    """Once everything is imported and opened: fewer, shorter collections.

    pyiceberg and pyarrow leave a large heap of long-lived objects (modules, schemas, the
    catalog) that every full collection walks again, and a commit allocates tens of thousands
    of short-lived ones, so the default thresholds collected several times per commit and
    paused commits for long stretches. Freezing what exists now takes it out of every
    collection, and a higher first threshold collects young objects less often.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(_YOUNG_THRESHOLD, *gc.get_threshold()[1:])
