"""Random batches of APPEND, UPSERT and DELETE, compactions, expiry and lost key indexes, checked
after every step against an in-memory model, through pyiceberg's scan and through DuckDB."""

from __future__ import annotations

import shutil
import tempfile
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from unittest import mock

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from supplylake.lake import Change, Lake, compact, deletes, keyindex
from supplylake.query.engine import run_query
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


def _same_key(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return (a["k1"], a["k2"]) == (b["k1"], b["k2"])


class LakeMatchesModel(RuleBasedStateMachine):
    schema = SCHEMA
    same = staticmethod(_same)

    def __init__(self) -> None:
        super().__init__()
        self.folder = Path(tempfile.mkdtemp())
        self.lake = Lake(f"sqlite:///{self.folder / 'c.db'}", str(self.folder / "warehouse"))
        self.lake.create_table(INSTANCE, "default", self.schema)
        self.model: list[dict[str, Any]] = []
        self.position = 0

    @rule(batch=changes)
    def apply_batch(self, batch: list[tuple[Operation, list[dict[str, Any]]]]) -> None:
        self.position += 1
        self.lake.apply_batch(
            INSTANCE,
            "default",
            self.schema,
            [Change(op, table(self.schema, rows)) for op, rows in batch],
            self.position,
        )
        for op, rows in batch:
            for row in rows:  # one record at a time, in order: the reference semantics
                if op is not Operation.APPEND:
                    self.model = [r for r in self.model if not self.same(r, row)]
                if op is not Operation.DELETE:
                    self.model.append(row)

    @rule(share=st.sampled_from([0.0, 0.2, 1.0]), large=st.booleans())
    def compaction(self, share: float, large: bool) -> None:
        # `large`: every file counts as large, so only those that lost `share` are rewritten.
        with mock.patch.object(compact, "SMALL_FILE_BYTES", 0 if large else 1 << 40):
            self.lake.compact(INSTANCE, "default", "model", min_deleted_share=share)

    @rule()
    def expire(self) -> None:
        self.lake.expire_snapshots(INSTANCE, "default", "model", retain_last=2)

    @rule(corrupt=st.booleans())
    def lose_the_key_index(self, corrupt: bool) -> None:
        for path in (self.folder / "warehouse").rglob("keys/*.keys"):
            if corrupt:
                path.write_bytes(path.read_bytes()[:-9])
            else:
                path.unlink()
        keyindex.forget_cached()
        deletes.forget_cached()

    @rule()
    def maintain(self) -> None:
        self.lake.maybe_maintain(
            INSTANCE,
            "default",
            "model",
            max_data_files=2,
            max_delete_files=1,
            max_snapshots=3,
            retain_last=1,
            min_snapshot_age=timedelta(0),
        )

    @invariant()
    def rows_and_position_match(self) -> None:
        expected = canonical(self.model)
        assert canonical(self.lake.scan(INSTANCE, "default", "model")) == expected
        tbl = self.lake.table(INSTANCE, "default", "model")
        assert canonical(tbl.scan().to_arrow()) == expected  # pyiceberg's own reader
        sql = "SELECT * FROM default.model"
        assert canonical(run_query(self.lake, INSTANCE, sql)) == expected
        assert self.lake.last_position(INSTANCE, "default", "model") == self.position

    def teardown(self) -> None:
        self.lake.close()
        shutil.rmtree(self.folder, ignore_errors=True)


class UnpartitionedLakeMatchesModel(LakeMatchesModel):
    schema = DatasetSchema(
        "model",
        SCHEMA.fields,
        primary_keys=("k1", "k2"),
    )
    same = staticmethod(_same_key)


_SETTINGS = settings(
    max_examples=12,
    stateful_step_count=8,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
LakeMatchesModel.TestCase.settings = _SETTINGS
UnpartitionedLakeMatchesModel.TestCase.settings = _SETTINGS
TestLakeMatchesModel = LakeMatchesModel.TestCase
TestUnpartitionedLakeMatchesModel = UnpartitionedLakeMatchesModel.TestCase
