"""The store contract: one test class, run against every backend.

Behaviour that only one backend has (its batched append, its migrations, its file or server)
is tested in ``test_sqlite.py`` and ``test_postgres.py``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from supplylake.schema.types import DatasetSchema, Field, FieldType
from supplylake.states import BomJobStatus, FlowExecutionStatus
from supplylake.store import open_store
from supplylake.store.base import (
    AccessKey,
    AlreadyExists,
    AppendResult,
    Dataset,
    DatasetRef,
    Namespace,
    NotFound,
    Outcome,
    PendingQuotaExceeded,
    Store,
    StoreError,
    TokenConflict,
)
from supplylake.store.postgres import PostgresStore
from supplylake.store.sqlite import SqliteStore

from .support import (
    ARN,
    INST,
    T0,
    idem_key,
    make_instance,
    new_event,
    payload_count,
    writer_paused,
)


class StoreContract:
    """Behaviour every Store backend must have. Subclasses provide the ``store`` fixture."""

    @pytest.fixture
    def store(self) -> Iterator[Store]:  # pragma: no cover - overridden
        raise NotImplementedError
        yield

    @pytest.fixture
    def store_url(self) -> str:  # pragma: no cover - overridden
        """The URL of the ``store`` fixture's database, for other processes."""
        raise NotImplementedError

    def test_secret_is_stable(self, store: Store) -> None:
        first = store.secret("page-token")
        assert len(first) == 32
        assert store.secret("page-token") == first
        assert store.secret("other") != first

    def test_keys_put_get_list_revoke(self, store: Store) -> None:
        key = AccessKey(
            "AKID1",
            "secret",
            "000000000000",
            T0,
            is_root=True,
            actions=("scn:Get*",),
            instances=("abc*",),
        )
        store.put_key(key)
        assert store.get_key("AKID1") == key
        assert store.get_key("nope") is None
        assert [k.access_key_id for k in store.list_keys()] == ["AKID1"]
        assert store.revoke_key("AKID1", T0 + timedelta(seconds=1))
        assert not store.revoke_key("AKID1", T0)
        revoked = store.get_key("AKID1")
        assert revoked is not None and revoked.revoked_at == T0 + timedelta(seconds=1)

    def test_instance_crud_and_listing(self, store: Store) -> None:
        # Made in this order (ids that do not sort the same way): listed in creation order.
        ids = [f"{i:08d}-0000-0000-0000-000000000000" for i in (3, 1, 4, 0, 2)]
        for i, iid in enumerate(ids):
            store.create_instance(
                replace(make_instance(iid, name=f"n{i % 2}"), created_at=T0 + timedelta(i)),
                {"k": "v"},
                f"arn/{iid}",
                None,
            )
        store.create_instance(
            make_instance("99999999-0000-0000-0000-000000000000", account="111111111111"),
            {},
            "arn/x",
            None,
        )
        page = store.list_instances("000000000000", None, 3, [], [])
        assert [i.instance_id for i in page] == ids[:3]
        page = store.list_instances("000000000000", (T0 + timedelta(2), ids[2]), 10, [], [])
        assert [i.instance_id for i in page] == ids[3:]
        assert [
            i.instance_id for i in store.list_instances("000000000000", None, 10, ["n1"], [])
        ] == [ids[1], ids[3]]
        updated = store.update_instance(
            ids[0], T0 + timedelta(1), state="Deleting", description="d"
        )
        assert (updated.state, updated.description, updated.version) == ("Deleting", "d", 2.0)
        assert [i.instance_id for i in store.list_instances_in_state(["Deleting"])] == [ids[0]]
        assert store.get_tags(f"arn/{ids[0]}") == {"k": "v"}
        with pytest.raises(NotFound):
            store.update_instance("00000000-dead-0000-0000-000000000000", T0, state="Active")

    def test_create_instance_is_idempotent_by_token(self, store: Store) -> None:
        first = store.create_instance(make_instance(), {}, ARN, idem_key("tok"))
        again = store.create_instance(
            make_instance("22222222-0000-0000-0000-000000000000"), {}, ARN, idem_key("tok")
        )
        assert again.instance_id == first.instance_id
        with pytest.raises(TokenConflict):
            store.create_instance(
                make_instance("33333333-0000-0000-0000-000000000000"),
                {},
                ARN,
                idem_key("tok", "h2"),
            )

    def test_namespaces_and_datasets(self, store: Store) -> None:
        store.create_instance(make_instance(), {}, ARN, None)
        ns = Namespace(INST, "sales", T0, T0, "desc")
        store.create_namespace(ns, {"a": "1"}, ARN + "/namespaces/sales")
        with pytest.raises(AlreadyExists):
            store.create_namespace(ns, {}, ARN + "/namespaces/sales")
        schema = DatasetSchema("orders", (Field("id", FieldType.STRING, True),), ("id",))
        ds = Dataset(INST, "sales", "orders", schema, T0, T0, "d")
        store.create_dataset(ds, {"b": "2"}, ARN + "/namespaces/sales/datasets/orders")
        assert store.get_dataset(INST, "sales", "orders") == ds
        with pytest.raises(AlreadyExists):
            store.create_dataset(ds, {}, "x")
        with pytest.raises(NotFound):
            store.create_dataset(Dataset(INST, "nope", "x", schema, T0, T0), {}, "x")
        assert [d.name for d in store.list_datasets(INST, "sales", None, 10)] == ["orders"]
        assert store.update_dataset(INST, "sales", "orders", "new", T0).description == "new"
        assert store.update_namespace(INST, "sales", None, T0).description == "desc"
        store.delete_namespace(INST, "sales", ARN + "/namespaces/sales")
        assert store.get_dataset(INST, "sales", "orders") is None
        assert store.get_tags(ARN + "/namespaces/sales/datasets/orders") == {}
        assert store.get_tags(ARN + "/namespaces/sales") == {}
        with pytest.raises(NotFound):
            store.delete_namespace(INST, "sales", "x")

    def test_signed_out_sessions_stay_ended_until_they_expire(self, store: Store) -> None:
        later = datetime.now(UTC) + timedelta(hours=1)
        assert not store.session_ended("s1")
        store.end_session("s1", later)
        store.end_session("s1", later)  # signing out twice is harmless
        store.end_session("s2", datetime.now(UTC) - timedelta(seconds=1))  # expired already
        assert store.session_ended("s1")
        assert not store.session_ended("s2") and not store.session_ended("s3")

    def test_tags_limit_and_untag(self, store: Store) -> None:
        store.tag("arn:x", {f"k{i}": "v" for i in range(3)}, max_tags=4)
        store.tag("arn:x", {"k0": "changed"}, max_tags=4)
        with pytest.raises(StoreError):
            store.tag("arn:x", {"a": "1", "b": "2"}, max_tags=4)
        store.untag("arn:x", ["k1", "absent"])
        assert store.get_tags("arn:x") == {"k0": "changed", "k2": "v"}

    def test_payloads_come_back_exactly_small_or_packed(self, store: Store) -> None:
        """Large payloads are stored packed (LZ4), small ones as text; both read back as sent,
        whether appended one at a time or batched, by get_event and by pending_events."""
        store.create_instance(make_instance(), {}, ARN, None)
        line = '{"id": "%d", "note": "Grüße, año, 東京 🚚 \\"quoted\\"\\n", "pad": "%s"}'
        payloads = [
            line % (0, ""),  # small
            line % (1, base64.b64encode(os.urandom(24_000)).decode()),  # large, random
            "[" + ",".join(line % (2, "x" * k) for k in range(400)) + "]",  # large, repetitive
        ]
        events = [replace(new_event(n), data=p) for n, p in enumerate(payloads)]
        alone = store.append_event(events[0], None, 100).result()
        with writer_paused(store):
            batched = [store.append_event(e, None, 100) for e in events[1:]]
        results = [alone] + [f.result() for f in batched]
        for result, payload in zip(results, payloads, strict=True):
            ev = store.get_event(INST, result.event_id, with_data=True)
            assert ev is not None and ev.data == payload
        pending = store.pending_events(DatasetRef(INST, "default", "orders"), 10)
        assert [e.data for e in pending] == payloads
        stored = store._read(  # type: ignore[attr-defined]
            lambda c: c.execute(
                "SELECT length(data), packed IS NULL, length(packed) FROM sl_event_data"
                " ORDER BY position"
            ).fetchall()
        )
        kept_as_text = [(n > 0, plain) for n, plain, _ in stored]
        assert kept_as_text == [(True, True), (False, False), (False, False)]
        assert stored[2][2] < len(payloads[2]) / 10  # repetitive JSON packs small

    def test_events_get_positions_in_commit_order(self, store: Store) -> None:
        store.create_instance(make_instance(), {}, ARN, None)
        results = [store.append_event(new_event(n), None, 100).result() for n in range(5)]
        positions = [r.position for r in results]
        assert positions == sorted(positions) and len(set(positions)) == 5
        ev = store.get_event(INST, results[2].event_id, with_data=True)
        assert ev is not None and ev.data == '{"id": "2"}' and ev.status == "IN_PROGRESS"
        listed = store.list_events(INST, None, None, 3)
        assert [e.position for e in listed] == positions[::-1][:3]
        assert [
            e.position for e in store.list_events(INST, None, listed[-1].position, 10)
        ] == positions[:2][::-1]
        assert store.list_events(INST, "scn.data.forecast", None, 10) == []

    def test_concurrent_appends_share_commits_and_lose_nothing(self, store: Store) -> None:
        store.create_instance(make_instance(), {}, ARN, None)
        with ThreadPoolExecutor(16) as pool:
            futures = list(
                pool.map(lambda n: store.append_event(new_event(n), None, 10_000), range(400))
            )
        results = [f.result() for f in futures]
        assert len({r.position for r in results}) == 400
        assert len(store.list_events(INST, None, None, 1000)) == 400

    def test_token_replay_and_conflict(self, store: Store) -> None:
        store.create_instance(make_instance(), {}, ARN, None)
        first = store.append_event(new_event(1), idem_key("t" * 40), 100).result()
        again = store.append_event(new_event(2), idem_key("t" * 40), 100).result()
        assert again.event_id == first.event_id and again.replayed
        with pytest.raises(TokenConflict):
            store.append_event(new_event(3), idem_key("t" * 40, "other"), 100).result()
        assert len(store.list_events(INST, None, None, 10)) == 1

    def test_expired_token_is_fresh_again(self, store: Store) -> None:
        store.create_instance(make_instance(), {}, ARN, None)
        store.append_event(
            new_event(1), idem_key("x" * 40, ttl=timedelta(seconds=-1)), 100
        ).result()
        second = store.append_event(new_event(2), idem_key("x" * 40), 100).result()
        assert not second.replayed

    def test_pending_datasets_come_oldest_pending_event_first(self, store: Store) -> None:
        store.create_instance(make_instance(), {}, ARN, None)
        first = store.append_event(new_event(1, "b"), None, 10).result()
        store.append_event(new_event(2, "a"), None, 10).result()
        store.append_event(new_event(3, "c"), None, 10).result()
        store.append_event(new_event(4, "b"), None, 10).result()
        assert [r.name for r in store.pending_datasets()] == ["b", "a", "c"]
        store.complete_events([Outcome(first.position, "SUCCEEDED")], T0)
        assert [r.name for r in store.pending_datasets()] == ["a", "c", "b"]

    def test_pending_quota_and_completion(self, store: Store) -> None:
        store.create_instance(make_instance(), {}, ARN, None)
        a = store.append_event(new_event(1), None, 2).result()
        b = store.append_event(new_event(2, "other"), None, 2).result()
        with pytest.raises(PendingQuotaExceeded):
            store.append_event(new_event(3), None, 2).result()
        assert sorted(store.pending_datasets(), key=lambda r: r.name) == [
            DatasetRef(INST, "default", "orders"),
            DatasetRef(INST, "default", "other"),
        ]
        pending = store.pending_events(DatasetRef(INST, "default", "orders"), 10)
        assert [e.position for e in pending] == [a.position] and pending[0].data is not None
        store.complete_events(
            [Outcome(a.position, "SUCCEEDED"), Outcome(b.position, "FAILED", "why")], T0
        )
        store.complete_events([Outcome(a.position, "FAILED", "late")], T0)  # already final: ignored
        done = store.get_event(INST, a.event_id)
        failed = store.get_event(INST, b.event_id)
        assert done is not None and done.status == "SUCCEEDED" and done.message is None
        assert failed is not None and (failed.status, failed.message) == ("FAILED", "why")
        assert store.pending_datasets() == []
        store.append_event(new_event(4), None, 2).result()  # the quota freed up

    def test_appends_committed_together_behave_as_if_one_by_one(self, store: Store) -> None:
        store.create_instance(make_instance(), {}, ARN, None)
        earlier = store.append_event(new_event(100), idem_key("live"), 100).result()
        unknown = "99999999-0000-0000-0000-000000000000"
        with writer_paused(store):
            futures = [
                store.append_event(new_event(1), None, 4),
                store.append_event(new_event(2), idem_key("live"), 4),  # a replay
                store.append_event(new_event(3), idem_key("live", "h2"), 4),  # another request
                store.append_event(new_event(4), idem_key("new"), 4),
                store.append_event(new_event(5), idem_key("new"), 4),  # replays 4, same batch
                store.append_event(new_event(6), idem_key("new", "h2"), 4),
                store.append_event(new_event(7, instance_id=unknown), None, 4),
                store.append_event(new_event(8), None, 4),  # the 4th pending event
                store.append_event(new_event(9), idem_key("late"), 4),  # over the quota
            ]
        outcomes: list[object] = []
        for f in futures:
            try:
                outcomes.append(f.result())
            except Exception as exc:
                outcomes.append(type(exc))
        first, replay, conflict, new, new_again, new_conflict, missing, fourth, late = outcomes
        assert replay == AppendResult(earlier.event_id, earlier.position, replayed=True)
        assert (conflict, new_conflict, missing, late) == (
            TokenConflict,
            TokenConflict,
            NotFound,
            PendingQuotaExceeded,
        )
        assert isinstance(first, AppendResult) and isinstance(new, AppendResult)
        assert isinstance(fourth, AppendResult)
        assert earlier.position < first.position < new.position < fourth.position
        assert new_again == AppendResult(new.event_id, new.position, replayed=True)
        listed = [e.event_id for e in store.list_events(INST, None, None, 10)]
        assert listed == [fourth.event_id, new.event_id, first.event_id, earlier.event_id]
        # The refused append did not keep its token.
        store.complete_events([Outcome(first.position, "SUCCEEDED")], T0)
        assert not store.append_event(new_event(10), idem_key("late", "h3"), 4).result().replayed

    def test_batched_appends_keep_each_payload_through_completion_and_purge(
        self, store: Store
    ) -> None:
        store.create_instance(make_instance(), {}, ARN, None)
        with writer_paused(store):
            futures = [store.append_event(new_event(n), None, 1000) for n in range(50)]
        results = [f.result() for f in futures]
        positions = [r.position for r in results]
        assert positions == list(range(positions[0], positions[0] + 50))
        pending = store.pending_events(DatasetRef(INST, "default", "orders"), 100)
        assert [(e.position, e.data) for e in pending] == [
            (r.position, f'{{"id": "{n}"}}') for n, r in enumerate(results)
        ]
        store.complete_events([Outcome(p, "SUCCEEDED") for p in positions], T0)
        done = store.get_event(INST, results[7].event_id, with_data=True)
        assert done is not None and done.status == "SUCCEEDED" and done.data == '{"id": "7"}'
        assert store.get_event(INST, results[7].event_id) == replace(done, data=None)
        assert store.purge_events(datetime.now(UTC) + timedelta(days=1), T0) == 50
        assert store.get_event(INST, results[7].event_id, with_data=True) is None
        assert payload_count(store) == 0

    def test_a_batch_of_one_instance_stops_at_its_quota(self, store: Store) -> None:
        store.create_instance(make_instance(), {}, ARN, None)
        store.append_event(new_event(0), None, 3).result()
        with writer_paused(store):
            futures = [store.append_event(new_event(n), None, 3) for n in range(1, 5)]
        outcomes = [f.exception(timeout=30) or f.result() for f in futures]
        assert [type(o).__name__ for o in outcomes] == ["AppendResult"] * 2 + [
            "PendingQuotaExceeded"
        ] * 2
        assert len(store.list_events(INST, None, None, 10)) == 3

    def test_appends_awaited_on_an_event_loop(self, store: Store) -> None:
        store.create_instance(make_instance(), {}, ARN, None)

        async def send() -> list[object]:
            appends = [
                store.append_event_async(new_event(n), idem_key(f"a{n % 5}"), 100) for n in range(8)
            ]
            appends.append(store.append_event_async(new_event(9), idem_key("a0", "other"), 100))
            return await asyncio.gather(*appends, return_exceptions=True)

        results = asyncio.run(send())
        fresh = [r for r in results[:5] if isinstance(r, AppendResult)]
        assert [r.replayed for r in fresh] == [False] * 5
        assert results[5:8] == [replace(r, replayed=True) for r in fresh[:3]]
        assert isinstance(results[8], TokenConflict)
        assert len(store.list_events(INST, None, None, 20)) == 5

    def test_append_to_unknown_instance_fails(self, store: Store) -> None:
        with pytest.raises(NotFound):
            store.append_event(new_event(1), None, 10).result()

    def test_purge_keeps_pending_events(self, store: Store) -> None:
        store.create_instance(make_instance(), {}, ARN, None)
        a = store.append_event(new_event(1), None, 10).result()
        b = store.append_event(new_event(2), None, 10).result()
        store.complete_events([Outcome(a.position, "SUCCEEDED")], T0)
        assert store.purge_events(datetime.now(UTC) + timedelta(days=1), T0) == 1
        assert store.get_event(INST, a.event_id) is None
        assert store.get_event(INST, b.event_id) is not None

    def test_purge_instance(self, store: Store) -> None:
        store.create_instance(make_instance(), {"t": "1"}, ARN, None)
        store.create_namespace(Namespace(INST, "ns", T0, T0), {"t": "2"}, ARN + "/namespaces/ns")
        store.append_event(new_event(1), None, 10).result()
        store.purge_instance(INST, ARN)
        assert store.get_namespace(INST, "ns") is None
        assert store.list_events(INST, None, None, 10) == []
        assert store.get_tags(ARN) == {} and store.get_tags(ARN + "/namespaces/ns") == {}
        assert store.get_instance(INST) is not None
        assert payload_count(store) == 0

    def test_reads_from_many_threads(self, store: Store) -> None:
        store.create_instance(make_instance(), {}, ARN, None)
        errors: list[BaseException] = []

        def read() -> None:
            try:
                for _ in range(50):
                    assert store.get_instance(INST) is not None
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=read) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []

    def test_what_was_committed_is_there_after_reopening(self, store_url: str) -> None:
        first = open_store(store_url)
        try:
            first.create_instance(make_instance(), {}, ARN, None)
            r = first.append_event(new_event(1), None, 10).result()
        finally:
            first.close()
        again = open_store(store_url)
        try:
            assert again.get_event(INST, r.event_id) is not None
            assert again.append_event(new_event(2), None, 10).result().position > r.position
        finally:
            again.close()

    # -- leases ---------------------------------------------------------------------------
    def test_a_lease_is_held_by_one_session_until_released(self, store: Store) -> None:
        a, b = store.open_leases("a"), store.open_leases("b")
        try:
            assert a.try_acquire("dataset:x") and a.try_acquire("dataset:x")  # again: still one
            assert a.holds("dataset:x")
            assert not b.try_acquire("dataset:x") and not b.holds("dataset:x")
            assert b.try_acquire("dataset:y")  # other names are independent
            a.release("dataset:x")
            assert not a.holds("dataset:x")
            assert b.try_acquire("dataset:x") and not a.try_acquire("dataset:x")
        finally:
            a.close()
            b.close()

    def test_closing_a_session_frees_its_leases(self, store: Store) -> None:
        a, b = store.open_leases("a"), store.open_leases("b")
        try:
            assert a.try_acquire("n1") and a.try_acquire("n2")
            a.close()
            assert b.try_acquire("n1") and b.try_acquire("n2")
        finally:
            b.close()

    def test_a_dead_holder_process_frees_its_lease_at_once(
        self, store: Store, store_url: str
    ) -> None:
        with subprocess.Popen(
            [sys.executable, "-c", _HOLDER, store_url, "dataset:held"],
            stdout=subprocess.PIPE,
            text=True,
        ) as child:
            try:
                assert child.stdout is not None and child.stdout.readline().strip() == "held"
                leases = store.open_leases("taker")
                assert not leases.try_acquire("dataset:held")
                child.kill()
                child.wait()
                deadline = time.monotonic() + 5
                while not leases.try_acquire("dataset:held"):
                    assert time.monotonic() < deadline, "the dead holder's lease was not freed"
                    time.sleep(0.02)
                leases.close()
            finally:
                child.kill()

    # -- waking on new events -------------------------------------------------------------
    def test_a_waiter_wakes_on_events_committed_by_another_store(
        self, store: Store, store_url: str
    ) -> None:
        store.create_instance(make_instance(), {}, ARN, None)
        waiter = store.open_event_waiter()
        other = open_store(store_url)
        try:
            waiter.wait(0.05)  # whatever happened before
            assert not waiter.wait(0.1)
            started = time.monotonic()
            timer = threading.Timer(
                0.2, lambda: other.append_event(new_event(1), None, 10).result()
            )
            timer.start()
            assert waiter.wait(10)
            assert time.monotonic() - started < 5
            timer.join()
        finally:
            waiter.close()
            other.close()

    # -- several processes on one database ------------------------------------------------
    def test_appends_from_several_processes_share_tokens_quota_and_positions(
        self, store: Store, store_url: str
    ) -> None:
        """Three processes, each with its own store (and group committer), append at once: every
        token makes one event whichever process wins it, the quota counts every process's
        events, positions are never handed out twice, and no append fails for the contention."""
        store.create_instance(make_instance(), {}, ARN, None)
        tokens, untokened, quota = 40, 30, 40 + 3 * 30 - 10
        args = [str(tokens), str(untokened), str(quota)]
        children = [
            subprocess.Popen(
                [sys.executable, "-c", _APPENDER, store_url, str(n), *args],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for n in range(3)
        ]
        try:
            for child in children:  # each has opened its store and waits for the go
                assert child.stdout is not None and child.stdout.readline().strip() == "ready"
            for child in children:
                assert child.stdin is not None
                child.stdin.write("go\n")
                child.stdin.flush()
            done = [child.communicate(timeout=120) for child in children]
        finally:
            for child in children:
                child.kill()
        assert all(child.returncode == 0 for child in children), done
        # Not even a batch had to be run again one append at a time (the writer logs that).
        assert not any(err.strip() for _, err in done), [err for _, err in done]
        answers = [json.loads(out) for out, _ in done]
        outcomes = [a for answer in answers for a in answer]
        assert {kind for kind, *_ in outcomes} <= {"ok", "PendingQuotaExceeded"}
        by_token: dict[str, set[str]] = {}
        accepted: dict[str, int] = {}
        for kind, token, event_id, position, replayed in outcomes:
            if kind != "ok":
                continue
            if token:
                by_token.setdefault(token, set()).add(event_id)
            if not replayed:
                assert event_id not in accepted
                accepted[event_id] = position
        # One event per token, whichever process committed it first.
        assert len(by_token) == tokens and all(len(ids) == 1 for ids in by_token.values())
        # No position twice; the quota held across processes: 10 appends without a token lost.
        assert len(set(accepted.values())) == len(accepted) == quota
        assert sum(kind == "PendingQuotaExceeded" for kind, *_ in outcomes) == 10
        stored = {e.event_id: e.position for e in store.list_events(INST, None, None, 1000)}
        assert stored == accepted

    # -- shared token buckets -------------------------------------------------------------
    def test_token_bucket_starts_full_drains_and_refills(self, store: Store) -> None:
        t = 1000.0
        assert store.take_tokens("b", 30, rate=10, burst=50, at=t).result() == 30
        assert store.take_tokens("b", 30, rate=10, burst=50, at=t).result() == 20
        assert store.take_tokens("b", 1, rate=10, burst=50, at=t).result() == 0
        assert store.take_tokens("b", 100, rate=10, burst=50, at=t + 2.55).result() == 25
        assert store.take_tokens("b", 100, rate=10, burst=50, at=t + 100).result() == 50
        # A clock behind the last take (another machine) refills nothing.
        assert store.take_tokens("b", 1, rate=10, burst=50, at=t).result() == 0
        assert store.take_tokens("other", 5, rate=10, burst=50, at=t).result() == 5

    def test_concurrent_takes_never_exceed_the_bucket(self, store: Store) -> None:
        at = time.time() + 3600  # no refill during the test: the clock stands still
        with ThreadPoolExecutor(8) as pool:
            granted = list(
                pool.map(lambda _: store.take_tokens("shared", 7, 0.0, 100, at).result(), range(40))
            )
        assert sum(granted) == 100

    # -- data integration flows ---------------------------------------------------------
    def test_flows_create_get_list_update_delete(self, store: Store) -> None:
        store.create_instance(make_instance(), {}, ARN, None)
        definition = {"instance_id": INST, "name": "b", "sources": [{"source_name": "s"}]}
        created, new = store.create_flow(INST, "b", definition, "h1", T0)
        assert new and created.definition == definition and created.request_hash == "h1"
        again, new = store.create_flow(INST, "b", {"other": 1}, "h2", T0 + timedelta(1))
        assert not new and again == created  # the first one, untouched
        for name in ("c", "a"):
            store.create_flow(INST, name, {"name": name}, "h", T0)
        store.create_flow("other-instance", "a", {}, "h", T0)
        assert store.get_flow(INST, "b") == created
        assert store.get_flow(INST, "zz") is None
        assert [f.name for f in store.list_flows(INST, None, 2)] == ["a", "b"]
        assert [f.name for f in store.list_flows(INST, "b", 2)] == ["c"]
        assert [f.name for f in store.all_flows(INST)] == ["a", "b", "c"]
        assert [(f.instance_id, f.name) for f in store.all_flows()] == [
            (INST, "a"),
            (INST, "b"),
            (INST, "c"),
            ("other-instance", "a"),
        ]
        later = T0 + timedelta(hours=1)
        updated = store.update_flow(INST, "b", {"name": "b", "v": 2}, later)
        assert updated is not None and updated.definition == {"name": "b", "v": 2}
        assert updated.created_at == T0 and updated.updated_at == later
        assert updated.request_hash == "h1"
        assert store.update_flow(INST, "zz", {}, later) is None
        assert store.delete_flow(INST, "b") and not store.delete_flow(INST, "b")
        assert store.get_flow(INST, "b") is None
        assert store.get_flow("other-instance", "a") is not None

    def test_flow_executions_queue_run_and_list_newest_first(self, store: Store) -> None:
        source = {"source_type": "S3", "s3_source": {"bucket_name": "bk", "key": "in/1.csv"}}
        queued = [
            store.queue_flow_execution(
                INST, "f", f"e{i}", source, {"kind": "manual", "key": None}, T0 + timedelta(i)
            )
            for i in range(3)
        ]
        store.queue_flow_execution(INST, "g", "other", source, {"kind": "datasets"}, T0)
        assert [q.seq for q in queued] == sorted(q.seq for q in queued)
        first = queued[0]
        assert first.status == FlowExecutionStatus.IN_PROGRESS and not first.started
        assert store.get_flow_execution(INST, "f", "e0") == first
        assert store.get_flow_execution(INST, "g", "e0") is None  # another flow's id
        assert store.next_flow_execution(INST, "f") == first
        store.start_flow_execution("e0", T0 + timedelta(hours=1))
        started = store.get_flow_execution(INST, "f", "e0")
        assert started is not None and started.started and started.start_time is not None
        assert store.next_flow_execution(INST, "f") == started  # started, not finished: rerun
        store.finish_flow_execution(
            "e0",
            FlowExecutionStatus.FAILED,
            "line 3: bad",
            T0 + timedelta(hours=2),
            rows_read=5,
            rows_written=0,
            rows_rejected=5,
            diagnostics_uri="s3://x/d/",
        )
        done = store.get_flow_execution(INST, "f", "e0")
        assert done is not None and done.status == FlowExecutionStatus.FAILED
        assert done.message == "line 3: bad"
        assert (done.rows_read, done.rows_written, done.rows_rejected) == (5, 0, 5)
        assert done.start_time == T0 + timedelta(hours=1)
        assert done.end_time == T0 + timedelta(hours=2)
        assert done.diagnostics_uri == "s3://x/d/" and done.source_info == source
        next_one = store.next_flow_execution(INST, "f")
        assert next_one is not None and next_one.execution_id == "e1"
        assert [e.execution_id for e in store.list_flow_executions(INST, "f", None, 2)] == [
            "e2",
            "e1",
        ]
        assert [
            e.execution_id for e in store.list_flow_executions(INST, "f", queued[1].seq, 5)
        ] == ["e0"]
        assert store.expire_flow_executions(T0 + timedelta(hours=3)) == 1  # only finished ones
        assert store.get_flow_execution(INST, "f", "e0") is None
        assert store.get_flow_execution(INST, "f", "e1") is not None

    def test_flow_objects_recorded_with_their_executions(self, store: Store) -> None:
        source = {"source_type": "S3", "s3_source": {"bucket_name": "bk", "key": "k1"}}
        store.queue_flow_execution(
            INST, "f", "e1", source, {"kind": "object", "key": "k1", "version": "v1"}, T0
        )
        store.set_flow_object(INST, "f", "k2", "v9")
        assert store.flow_objects(INST, "f") == {"k1": "v1", "k2": "v9"}
        store.queue_flow_execution(
            INST, "f", "e2", source, {"kind": "object", "key": "k1", "version": "v2"}, T0
        )
        store.queue_flow_execution(INST, "f", "e3", source, {"kind": "removed", "key": "k2"}, T0)
        assert store.flow_objects(INST, "f") == {"k1": "v2"}
        store.set_flow_object(INST, "f", "k1", None)
        assert store.flow_objects(INST, "f") == {} and store.flow_objects(INST, "g") == {}

    def test_delete_flow_keeps_only_its_running_execution(self, store: Store) -> None:
        source = {"source_type": "DATASET", "dataset_source": {"dataset_identifier": "arn"}}
        store.create_flow(INST, "f", {}, "h", T0)
        for i in range(3):
            store.queue_flow_execution(
                INST, "f", f"e{i}", source, {"kind": "object", "key": "k", "version": f"{i}"}, T0
            )
        store.finish_flow_execution("e0", FlowExecutionStatus.SUCCEEDED, None, T0)
        store.start_flow_execution("e1", T0)
        assert store.delete_flow(INST, "f")
        assert store.flow_objects(INST, "f") == {}
        assert [e.execution_id for e in store.list_flow_executions(INST, "f", None, 10)] == ["e1"]
        store.finish_flow_execution("e1", FlowExecutionStatus.SUCCEEDED, None, T0)  # it finishes
        running = store.get_flow_execution(INST, "f", "e1")
        assert running is not None and running.status == FlowExecutionStatus.SUCCEEDED

    def test_flow_tags_made_and_dropped_with_the_flow(self, store: Store) -> None:
        flow_arn = f"{ARN}/data-integration-flows/f"
        store.tag(flow_arn, {"left": "by a deleted flow"}, 200)
        store.create_flow(INST, "f", {}, "h", T0, tags={"k": "v"}, arn=flow_arn)
        assert store.get_tags(flow_arn) == {"k": "v"}
        _, new = store.create_flow(INST, "f", {}, "h", T0, tags={"x": "y"}, arn=flow_arn)
        assert not new and store.get_tags(flow_arn) == {"k": "v"}
        assert store.delete_flow(INST, "f", arn=flow_arn)
        assert store.get_tags(flow_arn) == {}

    def test_purge_instance_forgets_its_flows(self, store: Store) -> None:
        store.create_instance(make_instance(), {}, ARN, None)
        flow_arn = f"{ARN}/data-integration-flows/f"
        store.create_flow(INST, "f", {}, "h", T0, tags={"k": "v"}, arn=flow_arn)
        store.queue_flow_execution(
            INST, "f", "e", {}, {"kind": "object", "key": "k", "version": "1"}, T0
        )
        store.purge_instance(INST, ARN)
        assert store.all_flows(INST) == [] and store.get_tags(flow_arn) == {}
        assert store.list_flow_executions(INST, "f", None, 10) == []
        assert store.flow_objects(INST, "f") == {}

    def test_bom_jobs_answer_a_replay_with_the_first_job_and_refuse_another_request(
        self, store: Store
    ) -> None:
        job, created = store.create_bom_job(INST, "j1", "s3://b/k.csv", "tok", "h1", T0)
        assert created and job.status == BomJobStatus.NEW and job.message is None
        again, created = store.create_bom_job(INST, "j2", "s3://b/k.csv", "tok", "h1", T0)
        assert not created and again == job
        with pytest.raises(TokenConflict):
            store.create_bom_job(INST, "j3", "s3://b/other.csv", "tok", "h2", T0)
        other, created = store.create_bom_job(
            "other-instance", "j4", "s3://b/k.csv", "tok", "h1", T0
        )
        assert created and other.job_id == "j4"  # tokens are the instance's own
        assert store.get_bom_job(INST, "j1") == job
        assert store.get_bom_job(INST, "j2") is None
        assert store.get_bom_job("other-instance", "j1") is None  # another instance's job

    def test_bom_jobs_run_in_order_and_a_started_one_is_run_again(self, store: Store) -> None:
        jobs = [
            store.create_bom_job(INST, f"j{i}", f"s3://b/{i}.csv", f"t{i}", "h", T0)[0]
            for i in range(3)
        ]
        store.create_bom_job("other-instance", "x", "s3://b/x.csv", "t", "h", T0)
        assert [j.seq for j in jobs] == sorted(j.seq for j in jobs)
        assert store.queue_bom_jobs() == 4
        assert store.queue_bom_jobs() == 0
        assert store.bom_job_instances() == sorted([INST, "other-instance"])
        first = store.next_bom_job(INST)
        assert first is not None and first.job_id == "j0" and first.status == BomJobStatus.QUEUED
        store.start_bom_job("j0", T0 + timedelta(hours=1))
        store.start_bom_job("j0", T0 + timedelta(hours=2))  # a rerun keeps the first start
        started = store.next_bom_job(INST)
        assert started is not None and started.status == BomJobStatus.IN_PROGRESS
        assert started.started_at == T0 + timedelta(hours=1)
        store.finish_bom_job("j0", BomJobStatus.FAILED, "line 3: bad", T0 + timedelta(hours=3))
        store.finish_bom_job("j0", BomJobStatus.SUCCESS, "late", T0 + timedelta(hours=4))
        done = store.get_bom_job(INST, "j0")
        assert done is not None and done.status == BomJobStatus.FAILED  # finished stays finished
        assert done.message == "line 3: bad" and done.finished_at == T0 + timedelta(hours=3)
        following = store.next_bom_job(INST)
        assert following is not None and following.job_id == "j1"
        assert [j.job_id for j in store.list_bom_jobs(INST, None, 2)] == ["j2", "j1"]
        assert [j.job_id for j in store.list_bom_jobs(INST, jobs[1].seq, 5)] == ["j0"]
        assert store.count_bom_jobs() == {BomJobStatus.FAILED: 1, BomJobStatus.QUEUED: 3}
        assert store.expire_bom_jobs(T0 + timedelta(hours=3)) == 0
        assert store.expire_bom_jobs(T0 + timedelta(hours=5)) == 1  # only finished ones
        assert store.get_bom_job(INST, "j0") is None
        assert store.bom_job_instances() == sorted([INST, "other-instance"])


_HOLDER = """
import sys, time
from supplylake.store import open_store
store = open_store(sys.argv[1])
leases = store.open_leases("holder")
assert leases.try_acquire(sys.argv[2])
print("held", flush=True)
time.sleep(120)
"""

#: Appends from another process: every token of the test, in its own order, then events without
#: a token, from 8 threads (so that its commits hold several), once told to go.
_APPENDER = """
import json, sys, threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from supplylake.schema.types import Operation
from supplylake.store import open_store
from supplylake.store.base import IdempotencyKey, NewEvent, StoreError

url, me, tokens, untokened, quota = sys.argv[1], *map(int, sys.argv[2:])
store = open_store(url)
at = datetime(2026, 1, 1, tzinfo=UTC)
def one(n):
    token = f"tok-{n}" if n < tokens else ""
    event = NewEvent(f"e-{me}-{n}", "11111111-2222-3333-4444-555555555555", "scn.data.dataset",
                     "g", at, "default", "orders", Operation.UPSERT, "{}", at)
    idem = IdempotencyKey("scope", token, "h", datetime.now(UTC) + timedelta(hours=1)) if token else None
    try:
        r = store.append_event(event, idem, quota).result()
    except StoreError as exc:
        return (type(exc).__name__, token, None, None, None)
    return ("ok", token, r.event_id, r.position, r.replayed)
order = list(range(tokens))
order = order[me * 7:] + order[:me * 7]
print("ready", flush=True)
sys.stdin.readline()
with ThreadPoolExecutor(8) as pool:
    out = list(pool.map(one, order + list(range(tokens, tokens + untokened))))
store.close()
print(json.dumps(out))
"""


class TestSqliteStore(StoreContract):
    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[Store]:
        s = SqliteStore(tmp_path / "store.db")
        yield s
        s.close()

    @pytest.fixture
    def store_url(self, tmp_path: Path) -> str:
        return f"sqlite:///{tmp_path / 'store.db'}"


class TestPostgresStore(StoreContract):
    @pytest.fixture
    def store(self, postgres_database: str) -> Iterator[Store]:
        s = PostgresStore(postgres_database)
        yield s
        s.close()

    @pytest.fixture
    def store_url(self, postgres_database: str) -> str:
        return postgres_database
