"""Source files as text batches with their lines: CSV, JSON lines, JSON arrays, Parquet."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from supplylake.flows.definition import FileType
from supplylake.flows.errors import FileFormatError
from supplylake.flows.files import FileBatch, file_type_of, open_source_file


def _read(
    data: bytes, name: str = "orders.csv", file_type: FileType | None = None, batch_rows: int = 1000
) -> list[FileBatch]:
    return list(
        open_source_file(io.BytesIO(data), name, file_type, batch_rows=batch_rows).batches()
    )


def _rows_and_lines(batches: list[FileBatch]) -> list[tuple[dict[str, object], str]]:
    return [(row, b.where(i)) for b in batches for i, row in enumerate(b.data.to_pylist())]


def test_csv_columns_are_text_and_empty_is_null() -> None:
    (batch,) = _read(b"id,qty,price\nA,0012,1.50\nB,,\n")
    assert batch.data.schema == pa.schema(
        [("id", pa.string()), ("qty", pa.string()), ("price", pa.string())]
    )
    assert batch.data.to_pylist() == [
        {"id": "A", "qty": "0012", "price": "1.50"},
        {"id": "B", "qty": None, "price": None},
    ]


def test_csv_lines_count_blank_lines_and_quoted_line_breaks() -> None:
    data = b'id,note\r\nA,plain\r\n\r\nB,"two\r\nlines"\r\nC,x\n\n\nD,"a\nb\nc"\nE,last'
    rows = _rows_and_lines(_read(data, batch_rows=2))
    assert [(r["id"], where) for r, where in rows] == [
        ("A", "line 2"),
        ("B", "line 4"),
        ("C", "line 6"),
        ("D", "line 9"),
        ("E", "line 12"),
    ]
    batches = _read(data, batch_rows=2)
    assert [b.first_row for b in batches] == [
        sum(b.data.num_rows for b in batches[:k]) for k in range(len(batches))
    ]


def test_csv_lines_stay_right_across_many_blocks() -> None:
    lines = [b"id,v"] + [
        f"r{i},{'x' if i % 7 else chr(34) + 'a' + chr(10) + 'b' + chr(34)}".encode()
        for i in range(30_000)
    ]
    expected, line = [], 2
    for i in range(30_000):
        expected.append((f"r{i}", f"line {line}"))
        line += 1 if i % 7 else 2
    batches = _read(b"\n".join(lines), batch_rows=100)
    assert len(batches) > 1
    rows = _rows_and_lines(batches)
    assert [(r["id"], where) for r, where in rows] == expected


def test_csv_row_with_wrong_field_count_fails_with_its_line() -> None:
    data = b'id,a,b\n1,2,3\n4,"x\ny",6\n7,8\n9,10,11\n'
    with pytest.raises(FileFormatError) as caught:
        _read(data)
    assert caught.value.message == "orders.csv, line 5: 2 fields where the header names 3."
    many = b"id,a\n" + b"".join(f"{i},x\n".encode() for i in range(20_000)) + b"bad\n"
    with pytest.raises(FileFormatError, match="line 20002: 1 field where"):
        _read(many, batch_rows=100)


def test_csv_without_a_header_or_content_is_refused() -> None:
    with pytest.raises(FileFormatError, match="is empty"):
        _read(b"")
    with pytest.raises(FileFormatError, match="header row"):
        _read(b",,\n1,2,3\n")


def test_csv_invalid_utf8_is_a_file_error() -> None:
    with pytest.raises(FileFormatError, match=r"orders\.csv"):
        _read(b"id\n\xff\xfe\n")


def test_csv_with_bom_and_header_only() -> None:
    assert _read(b"\xef\xbb\xbfid,name\n") == []
    (batch,) = _read(b"\xef\xbb\xbfid,name\n1,a\n")
    assert batch.data.column_names == ["id", "name"]


def test_json_lines_become_text_columns_with_lines() -> None:
    data = b'\n{"id": "A", "qty": 5, "ok": true, "tags": [1]}\n\n{"id": "B", "qty": null}\n'
    rows = _rows_and_lines(_read(data, "x.jsonl"))
    assert rows == [
        ({"id": "A", "qty": "5", "ok": "true", "tags": "[1]"}, "line 2"),
        ({"id": "B", "qty": None, "ok": None, "tags": None}, "line 4"),
    ]


def test_json_errors_name_the_line() -> None:
    with pytest.raises(FileFormatError, match=r"x\.json, line 2: not JSON"):
        _read(b'{"id": 1}\n{"id": \n', "x.json")
    with pytest.raises(FileFormatError, match="line 3: field 'late' is not in"):
        _read(b'{"id": 1}\n{"id": 2}\n{"id": 3, "late": 1}\n', "x.json", batch_rows=2)


def test_json_array_file() -> None:
    rows = _rows_and_lines(_read(b' [{"id": "A", "n": 1.5}, {"id": "B"}]', "x.json"))
    assert rows == [({"id": "A", "n": "1.5"}, "record 1"), ({"id": "B", "n": None}, "record 2")]
    with pytest.raises(FileFormatError, match="record 2: a JSON object"):
        _read(b'[{"id": 1}, 2]', "x.json")


def test_parquet_keeps_its_types_and_reads_from_a_stream(tmp_path: Path) -> None:
    table = pa.table({"id": ["a", "b", "c"], "qty": [1, 2, 3]})
    path = tmp_path / "x.parquet"
    pq.write_table(table, path, row_group_size=2)

    class Unseekable(io.RawIOBase):
        def __init__(self, data: bytes) -> None:
            self._inner = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: bytearray) -> int:  # type: ignore[override]
            chunk = self._inner.read(len(buffer))
            buffer[: len(chunk)] = chunk
            return len(chunk)

    with open_source_file(
        Unseekable(path.read_bytes()), "s3://b/x.parquet", None, batch_rows=2, spool_dir=tmp_path
    ) as source:
        batches = list(source.batches())
    assert pa.Table.from_batches([b.data for b in batches]) == table
    assert [b.first_row for b in batches] == [0, 2] and batches[1].where(0) == "record 3"
    with pytest.raises(FileFormatError, match="not a Parquet file"):
        _read(b"id\n1\n", "x.parquet")


def test_gzip_is_unpacked_by_extension() -> None:
    (batch,) = _read(gzip.compress(b"id\n1\n2\n"), "orders.csv.gz")
    assert batch.data.column("id").to_pylist() == ["1", "2"]


def test_file_type_from_options_then_extension() -> None:
    assert file_type_of("a/b.CSV", None) is FileType.CSV
    assert file_type_of("a/b.ndjson", None) is FileType.JSON
    assert file_type_of("a/b.pq", None) is FileType.PARQUET
    assert file_type_of("a/b.data", FileType.JSON) is FileType.JSON
    with pytest.raises(FileFormatError, match=r"set options\.fileType"):
        file_type_of("a/b.data", None)


def test_reader_feeds_sql_streaming() -> None:
    from supplylake.flows.sql import run_sql

    data = b"id,qty\n" + b"".join(f"r{i},{i}\n".encode() for i in range(10_000))
    source = open_source_file(io.BytesIO(data), "big.csv", None, batch_rows=1000)
    out = run_sql("SELECT sum(cast(qty as bigint)) AS s FROM big", {"big": source.reader()})
    assert out.read_all().to_pylist() == [{"s": sum(range(10_000))}]


def test_json_array_above_the_bound_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from supplylake.flows import jsonfile

    monkeypatch.setattr(jsonfile, "MAX_ARRAY_BYTES", 64)
    data = b"[" + b",".join(b'{"id": "%d"}' % i for i in range(20)) + b"]"
    with pytest.raises(FileFormatError, match="write it as JSON lines"):
        _read(data, "x.json")
    assert len(_rows_and_lines(_read(b'{"id": 1}\n' * 20, "x.json"))) == 20
