"""The replay's comparison fails where an answer differs from AWS's example."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from supplylake.testing import supplychain_client
from tests.examples.replay import Replay

EXAMPLE_ID = "1877dd20-dee9-4639-8e99-cb67acf21fe5"
OURS = "0b0e8a52-58d5-4c6a-9b62-7a4a35d3c2f1"
EXPECTED = {
    "namespace": {
        "arn": f"arn:aws:scn:us-east-1:012345678910:instance/{EXAMPLE_ID}/namespaces/my_namespace",
        "instanceId": EXAMPLE_ID,
        "name": "my_namespace",
        "description": "This is my AWS Supply Chain namespace",
        "createdTime": 1736892560.751,
        "lastModifiedTime": 1736892560.751,
    }
}


def replay() -> Replay:
    # The client only lends its service model: nothing is sent.
    client = supplychain_client("http://127.0.0.1:9", "AKIDEXAMPLE", "x" * 40)
    return Replay(client, "000000000000", "us-west-2", {EXAMPLE_ID: OURS})


def answer() -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "namespace": {
            "arn": f"arn:aws:scn:us-west-2:000000000000:instance/{OURS}/namespaces/my_namespace",
            "instanceId": OURS,
            "name": "my_namespace",
            "description": "This is my AWS Supply Chain namespace",
            "createdTime": now,
            "lastModifiedTime": now,
        }
    }


def test_an_answer_like_aws_passes_with_ids_and_arns_substituted() -> None:
    replay().compare("GetDataLakeNamespace", EXPECTED, answer())


@pytest.mark.parametrize(
    "change",
    [
        lambda a: a["namespace"].update(description="other"),
        lambda a: a["namespace"].pop("description"),
        lambda a: a["namespace"].update(extra="x"),
        lambda a: a["namespace"].update(
            arn=a["namespace"]["arn"].replace("us-west-2", "eu-west-1")
        ),
        lambda a: a["namespace"].update(instanceId=EXAMPLE_ID),
        lambda a: a["namespace"].update(createdTime="yesterday"),
    ],
)
def test_an_answer_that_differs_fails(change: Any) -> None:
    changed = copy.deepcopy(answer())
    change(changed)
    with pytest.raises(AssertionError):
        replay().compare("GetDataLakeNamespace", EXPECTED, changed)


def test_an_id_the_server_makes_is_bound_once_and_must_stay_the_same() -> None:
    r = replay()
    made = "7d1a7c5e-3a8e-4f43-9a53-3c0e2f5b9a10"
    expected = {"eventId": "c4132c1d-8f60-44a2-9932-f723c4f7b8a7"}
    r.compare("SendDataIntegrationEvent", expected, {"eventId": made})
    assert r.ids["c4132c1d-8f60-44a2-9932-f723c4f7b8a7"] == made
    with pytest.raises(AssertionError):
        r.compare("SendDataIntegrationEvent", expected, {"eventId": OURS})
