"""Dedupe of a flow's rows by the target's primary key (``dedupeRecords``, ``dedupeStrategy``).

AWS keeps "a random record" of rows sharing a key when no strategy is given; here it is the
last one in the file (in a file a later row usually corrects an earlier one, and a rerun gives
the same table). With FIELD_PRIORITY the rows of a key are ordered by the fields in turn, each
ASC (smallest first) or DESC (largest first), nulls after values, and the first is kept: so
``eff_start_date DESC`` keeps the latest. Rows still tied are decided by the last occurrence.

Both halves are answered: the rows kept, in file order, and the duplicates dropped (for the
diagnostics files of the execution).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from supplylake.flows.definition import DedupeField, SortOrder

_ROW = "__supplylake_row"
_RANK = "__supplylake_rank"


@dataclass(frozen=True)
class Deduped:
    kept: pa.Table
    dropped: pa.Table


def dedupe(
    table: pa.Table, primary_keys: Sequence[str], fields: Sequence[DedupeField] | None = None
) -> Deduped:
    """One row per primary key (see the module's docstring for which one)."""
    if not primary_keys:
        raise ValueError("dedupe needs the primary key of the target")
    if table.num_rows == 0:
        return Deduped(table, table.slice(0, 0))
    rows = pa.array(range(table.num_rows), pa.int64())
    keys = table.select(list(primary_keys)).append_column(_ROW, rows)
    if fields:
        order = [
            (f.name, "ascending" if f.sort_order is SortOrder.ASC else "descending") for f in fields
        ]
        ranked = table.select([f.name for f in fields]).append_column(_ROW, rows)
        # The winner of a key sorts first: by the fields in turn, then the last row.
        ranking = pc.sort_indices(ranked, sort_keys=[*order, (_ROW, "descending")])
        keys = keys.append_column(_RANK, _inverse(ranking))
        best = keys.group_by(list(primary_keys), use_threads=False).aggregate([(_RANK, "min")])
        winners = pc.take(ranking, best[f"{_RANK}_min"])
    else:
        best = keys.group_by(list(primary_keys), use_threads=False).aggregate([(_ROW, "max")])
        winners = best[f"{_ROW}_max"]
    keep = pc.sort_indices(winners)
    kept_rows = pc.take(winners, keep)
    mask = pc.is_in(rows, value_set=kept_rows)
    return Deduped(table.take(kept_rows), table.filter(pc.invert(mask)))


def _inverse(permutation: pa.Array) -> pa.Array:
    """``position[permutation[i]] = i``: where each row stands in the sorted order."""
    positions = pc.sort_indices(permutation)
    return pc.cast(positions, pa.int64())
