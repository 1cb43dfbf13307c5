"""Why event data or a dataset schema is refused: plain domain errors.

They say what is wrong in words a sender can act on; ``service.errors`` turns them into the AWS
error the API answers (a ``ValidationException``), so this package knows nothing of the wire.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

#: Failures a RecordError's message spells out (the rest are counted).
SHOWN_FAILURES = 5
#: Echoed values are cut to this many characters.
ECHO_CHARS = 40


@dataclass(frozen=True)
class RecordFailure:
    """Why one record (``index``) was rejected; ``field`` is None for the record as a whole."""

    index: int
    field: str | None
    rule: str  # missing, null, type, unknown, internal, not_object
    message: str

    def __str__(self) -> str:
        if self.field is None:
            return f"record {self.index}: {self.message}"
        return f"record {self.index}, field {show_name(self.field)}: {self.message}"


class RecordError(Exception):
    """Event data that cannot be written to the dataset."""

    def __init__(self, message: str, failures: Sequence[RecordFailure] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.failures = list(failures)

    @classmethod
    def from_failures(cls, failures: Sequence[RecordFailure]) -> RecordError:
        return cls(_summary(failures, len(failures)), failures)


@dataclass(frozen=True)
class CellFailure:
    """Why one cell of a text table (``line``, ``column``) did not convert; ``line`` is None
    for the column as a whole."""

    line: int | None
    column: str
    rule: str  # missing, null, type, unknown
    message: str

    def __str__(self) -> str:
        if self.line is None:
            return f"column {show_name(self.column)}: {self.message}"
        return f"line {self.line}, column {show_name(self.column)}: {self.message}"


class TableError(Exception):
    """A table of text (a CSV file) whose cells do not all convert to the dataset's types."""

    def __init__(self, message: str, failures: Sequence[CellFailure] = (), count: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.failures = list(failures)
        #: How many cells failed in all (``failures`` holds the first few of each column).
        self.count = max(count, len(self.failures))

    @classmethod
    def from_failures(cls, failures: Sequence[CellFailure], count: int) -> TableError:
        return cls(_summary(failures, count), failures, count)


class SchemaError(Exception):
    """A dataset schema or partition spec that cannot be used."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _summary(failures: Sequence[RecordFailure | CellFailure], count: int) -> str:
    """The message of ``count`` failures: the first few spelled out, the rest counted."""
    shown = "; ".join(str(f) for f in failures[:SHOWN_FAILURES])
    more = max(count, len(failures)) - min(len(failures), SHOWN_FAILURES)
    suffix = f" (and {more} more error{'s' if more > 1 else ''})" if more > 0 else ""
    return f"Invalid data: {shown}{suffix}"


def describe(value: Any) -> str:
    """What a JSON value is, for a message: containers by kind, scalars by `show`."""
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    return show(value)


def show(value: Any) -> str:
    """A value echoed in a message: JSON spelling, strings quoted, long ones cut."""
    if isinstance(value, dict | list):
        return describe(value)
    if type(value) is str:
        return repr(value if len(value) <= ECHO_CHARS else value[:ECHO_CHARS] + "…")
    if value is None or type(value) is bool:
        return "null" if value is None else str(value).lower()
    text = repr(value)
    return text if len(text) <= ECHO_CHARS else text[:ECHO_CHARS] + "…"


def show_name(name: str) -> str:
    """A field name echoed in a message, quoted and cut."""
    return repr(name if len(name) <= 64 else name[:64] + "…")
