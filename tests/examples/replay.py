"""Replay AWS's published examples against a real server: substitute ids, compare answers.

An example names ids that only exist in AWS's account (instance ids, event ids, the account and
region in ARNs). Before a call, every id the example names is replaced by the id of the resource
the test made in its place; ARNs take the server's region and account. An answer is compared
member by member, driven by botocore's output shape:

- values the example shows and the server can reproduce (names, descriptions, schemas, states,
  echoed ids, event timestamps) must be equal;
- an id the server makes (a new instance id, an event id) is bound the first time it is seen,
  and must then be the same everywhere else in the example;
- values the server makes and no client can predict (creation and modification times, page
  tokens, and the members an example lists in ``generated``) are checked for their type and the
  model's pattern only.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from botocore import xform_name
from botocore.model import Shape

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
SCN_ARN = re.compile(r"arn:aws:scn:[a-z0-9-]+:[0-9]{12}:")
#: Members whose values the server makes: compared by type and pattern only.
ALWAYS_GENERATED = frozenset({"createdTime", "lastModifiedTime", "nextToken"})


@dataclass
class Replay:
    """One example's world: a client, the server's account and region, and the ids bound so far."""

    client: Any
    account_id: str
    region: str
    ids: dict[str, str] = field(default_factory=dict)
    #: A page token from an earlier request, for examples that continue a listing.
    token: str | None = None

    # -- requests ---------------------------------------------------------------------------
    def text(self, value: str) -> str:
        value = SCN_ARN.sub(f"arn:aws:scn:{self.region}:{self.account_id}:", value)
        return UUID.sub(lambda m: self.ids.get(m.group(0), m.group(0)), value)

    def prepare(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {k: self.prepare(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.prepare(v) for v in value]
        return value

    def call(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        answer: dict[str, Any] = getattr(self.client, xform_name(operation))(**self.prepare(params))
        answer.pop("ResponseMetadata", None)
        return answer

    # -- resources an example takes for granted ----------------------------------------------
    def instance(self, example_id: str, **create: Any) -> str:
        """A new Active instance standing for the example's ``example_id``."""
        made = self.client.create_instance(**create)["instance"]["instanceId"]
        wait_until(
            lambda: self.client.get_instance(instanceId=made)["instance"]["state"] == "Active"
        )
        self.ids[example_id] = made
        return str(made)

    def event_outcome(self, instance_id: str, event_id: str) -> dict[str, Any]:
        """The event once the loader is done with it."""
        found: dict[str, Any] = {}

        def done() -> bool:
            found.update(
                self.client.get_data_integration_event(instanceId=instance_id, eventId=event_id)[
                    "event"
                ]
            )
            status = found.get("datasetTargetDetails", {}).get("datasetLoadExecution", {})
            return status.get("status") in ("SUCCEEDED", "FAILED")

        wait_until(done)
        return found

    # -- answers ----------------------------------------------------------------------------
    def compare(
        self,
        operation: str,
        expected: dict[str, Any],
        actual: dict[str, Any],
        generated: frozenset[str] = frozenset(),
        subset_lists: bool = False,
        extra: frozenset[str] = frozenset(),
    ) -> None:
        """Assert that ``actual`` answers like ``expected`` (see the module's docstring).

        ``extra``: paths (``dataset.schema.primaryKeys``) the answer may hold beyond AWS's.
        """
        shape = self.client.meta.service_model.operation_model(operation).output_shape
        _Matcher(self, ALWAYS_GENERATED | generated, subset_lists, extra).match(
            shape, expected, actual, operation
        )


@dataclass
class _Matcher:
    replay: Replay
    generated: frozenset[str]
    subset_lists: bool
    extra: frozenset[str]

    def match(self, shape: Shape, expected: Any, actual: Any, path: str) -> None:
        kind = shape.type_name
        if kind == "structure":
            assert isinstance(actual, dict), f"{path}: {actual!r} is not an object"
            allowed = {m for m in actual if _suffix(f"{path}.{m}") in self.extra}
            assert set(actual) - allowed == set(expected), (
                f"{path}: members {sorted(actual)} differ from AWS's {sorted(expected)}"
            )
            for name, value in expected.items():
                member = shape.members[name]
                where = f"{path}.{name}"
                if name in self.generated:
                    self.generated_value(member, actual[name], where)
                else:
                    self.match(member, value, actual[name], where)
        elif kind == "list":
            assert isinstance(actual, list), f"{path}: {actual!r} is not a list"
            if path.endswith(".schema.fields"):
                assert len(actual) == len(expected), f"{path}: {len(actual)} fields"
                self.match_subset(shape.member, expected, actual, path, ordered=False)
                return
            if self.subset_lists:
                self.match_subset(shape.member, expected, actual, path, ordered=True)
                return
            assert len(actual) == len(expected), (
                f"{path}: {len(actual)} items where AWS shows {len(expected)}"
            )
            for i, (e, a) in enumerate(zip(expected, actual, strict=True)):
                self.match(shape.member, e, a, f"{path}[{i}]")
        elif kind == "map":
            assert isinstance(actual, dict), f"{path}: {actual!r} is not a map"
            assert self.replay.prepare(expected) == actual, f"{path}: {actual} != {expected}"
        elif kind == "timestamp":
            want = datetime.fromtimestamp(expected, UTC)
            assert _as_datetime(actual) == want, f"{path}: {actual} != {want}"
        elif kind == "string":
            self.match_string(shape, expected, actual, path)
        else:
            assert actual == expected, f"{path}: {actual!r} != {expected!r}"

    def match_subset(
        self, member: Shape, expected: list[Any], actual: list[Any], path: str, ordered: bool
    ) -> None:
        """Each expected item is among the actual ones (found by name); ``ordered``: in order.

        A schema's fields are matched by name: their order carries no meaning in the API.
        """
        names = [a.get("name") for a in actual]
        at = -1
        for e in expected:
            assert e["name"] in names, f"{path}: {e['name']} is missing from {names}"
            i = names.index(e["name"])
            assert not ordered or i > at, f"{path}: {e['name']} is out of order in {names}"
            at = i
            self.match(member, e, actual[i], f"{path}[{i}]")

    def match_string(self, shape: Shape, expected: str, actual: Any, path: str) -> None:
        assert isinstance(actual, str), f"{path}: {actual!r} is not a string"
        if path.endswith(".awsAccountId"):
            assert actual == self.replay.account_id, f"{path}: {actual}"
            return
        want = self.replay.text(expected)
        unbound = [u for u in UUID.findall(want) if u not in self.replay.ids.values()]
        if not unbound:
            assert actual == want, f"{path}: {actual!r} != {want!r}"
            return
        # Ids the server makes: bind each the first time it is seen.
        fresh = list(dict.fromkeys(unbound))
        pattern = re.escape(want)
        for i, u in enumerate(fresh):
            pattern = pattern.replace(re.escape(u), f"(?P<id{i}>{UUID.pattern})")
        found = re.fullmatch(pattern, actual)
        assert found, f"{path}: {actual!r} does not match AWS's {want!r}"
        for i, u in enumerate(fresh):
            self.replay.ids[u] = found.group(f"id{i}")

    def generated_value(self, shape: Shape, actual: Any, path: str) -> None:
        kind = shape.type_name
        if kind == "timestamp":
            _as_datetime(actual)
        elif kind == "string":
            assert isinstance(actual, str) and actual, f"{path}: {actual!r}"
            pattern = shape.metadata.get("pattern")
            if pattern:
                assert re.search(pattern, actual), f"{path}: {actual!r} !~ {pattern}"
        elif kind == "double":
            assert isinstance(actual, float | int), f"{path}: {actual!r}"
        else:
            raise AssertionError(f"{path}: no rule for generated {kind}")


def _suffix(path: str) -> str:
    """A member's path without the operation and list indexes: ``dataset.schema.primaryKeys``."""
    return re.sub(r"\[\d+\]", "", path.partition(".")[2])


def _as_datetime(value: Any) -> datetime:
    """boto3 answers datetimes; the AWS CLI prints epoch seconds (or ISO 8601 text)."""
    if isinstance(value, datetime):
        return value
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            pass
    raise AssertionError(f"{value!r} is not a timestamp")


def wait_until(check: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.05)
