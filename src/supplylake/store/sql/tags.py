"""SQL of tags, kept by ARN. Placeholders are ``?``; see :mod:`.dialect`.

A resource's tags go with it: deleting one drops the tags of its ARN and of every ARN below it.
"""

from __future__ import annotations

from supplylake.store.base import StoreError
from supplylake.store.sql.connection import Connection


def get_tags(conn: Connection, arn: str) -> dict[str, str]:
    rows = conn.execute("SELECT key, value FROM sl_tags WHERE arn = ? ORDER BY key", (arn,))
    return {k: v for k, v in rows.fetchall()}


def tag(conn: Connection, arn: str, tags: dict[str, str], max_tags: int) -> None:
    existing = get_tags(conn, arn)
    if len(set(existing) | set(tags)) > max_tags:
        raise StoreError(f"a resource can have at most {max_tags} tags")
    conn.executemany(
        "INSERT INTO sl_tags (arn, key, value) VALUES (?, ?, ?)"
        " ON CONFLICT (arn, key) DO UPDATE SET value = excluded.value",
        [(arn, k, v) for k, v in tags.items()],
    )


def untag(conn: Connection, arn: str, keys: list[str]) -> None:
    conn.executemany("DELETE FROM sl_tags WHERE arn = ? AND key = ?", [(arn, k) for k in keys])


def drop_tags_under(conn: Connection, arn_prefix: str) -> None:
    # ARNs below a resource share its ARN followed by '/'.
    conn.execute(
        "DELETE FROM sl_tags WHERE arn = ? OR substr(arn, 1, ?) = ?",
        (arn_prefix, len(arn_prefix) + 1, arn_prefix + "/"),
    )
