"""Random batches of APPEND, UPSERT and DELETE (and compactions) against an in-memory model."""

from __future__ import annotations

import shutil
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from supplylake.lake import Change, Lake
from supplylake.schema.types import (
    DatasetSchema,
    Field,
    FieldType,
    Operation,
    PartitionField,
    Transform,
)

from .conftest import INSTANCE
from .rows import canonical, table, ts

SCHEMA = DatasetSchema(
    "model",
    (
        Field("k1", FieldType.INT, required=True),
        Field("k2", FieldType.STRING),  # an optional key column: null is a key value too
        Field("at", FieldType.TIMESTAMP),
        Field("v", FieldType.LONG),
    ),
    primary_keys=("k1", "k2"),
    partition_spec=(PartitionField("at", Transform.DAY),),
)
TIMES = [None, ts("2024-03-01T01:00"), ts("2024-03-01T23:00"), ts("2024-03-02T01:00")]

records = st.fixed_dictionaries(
    {
        "k1": st.integers(0, 2),
        "k2": st.sampled_from([None, "a", "b"]),
        "at": st.sampled_from(TIMES),
        "v": st.integers(0, 1000),
    }
)
changes = st.lists(
    st.tuples(st.sampled_from(list(Operation)), st.lists(records, min_size=0, max_size=4)),
    min_size=1,
    max_size=4,
)


def _day(at: datetime | None) -> Any:
    return None if at is None else at.date()


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """The model's reading of "same key, within the record's partition"."""
    return (a["k1"], a["k2"], _day(a["at"])) == (b["k1"], b["k2"], _day(b["at"]))


class LakeMatchesModel(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.folder = Path(tempfile.mkdtemp())
        self.lake = Lake(f"sqlite:///{self.folder / 'c.db'}", str(self.folder / "warehouse"))
        self.lake.create_table(INSTANCE, "default", SCHEMA)
        self.model: list[dict[str, Any]] = []
        self.position = 0

    @rule(batch=changes)
    def apply_batch(self, batch: list[tuple[Operation, list[dict[str, Any]]]]) -> None:
        self.position += 1
        self.lake.apply_batch(
            INSTANCE,
            "default",
            SCHEMA,
            [Change(op, table(SCHEMA, rows)) for op, rows in batch],
            self.position,
        )
        for op, rows in batch:
            for row in rows:  # one record at a time, in order: the reference semantics
                if op is not Operation.APPEND:
                    self.model = [r for r in self.model if not _same(r, row)]
                if op is not Operation.DELETE:
                    self.model.append(row)

    @rule()
    def compact(self) -> None:
        self.lake.compact(INSTANCE, "default", "model")

    @invariant()
    def rows_and_position_match(self) -> None:
        assert canonical(self.lake.scan(INSTANCE, "default", "model")) == canonical(self.model)
        assert self.lake.last_position(INSTANCE, "default", "model") == self.position

    def teardown(self) -> None:
        self.lake.close()
        shutil.rmtree(self.folder, ignore_errors=True)


LakeMatchesModel.TestCase.settings = settings(
    max_examples=20,
    stateful_step_count=6,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestLakeMatchesModel = LakeMatchesModel.TestCase
