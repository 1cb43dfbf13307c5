"""ARNs of instances, namespaces, datasets and flows: built for answers, parsed from requests.

``arn:aws:scn:<region>:<account>:instance/<id>[/namespaces/<ns>[/datasets/<name>]]`` and
``arn:aws:scn:<region>:<account>:instance/<id>/data-integration-flows/<name>``, the forms AWS
Supply Chain gives its resources. Building and parsing live together so they cannot drift.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from supplylake.aws.errors import ValidationException
from supplylake.store.base import Instance

_ARN = re.compile(
    r"arn:aws:scn:(?P<region>[a-z0-9-]+):(?P<account>[0-9]{12}):instance/(?P<instance>[a-f0-9-]{36})"
    r"(?:/namespaces/(?P<namespace>[a-z0-9_]+)(?:/datasets/(?P<dataset>[a-z0-9_]+))?"
    r"|/data-integration-flows/(?P<flow>[A-Za-z0-9-]{1,256}))?"
)


@dataclass(frozen=True)
class ResourceArn:
    """The parts of an instance's, a namespace's, a dataset's or a flow's ARN."""

    region: str
    account_id: str
    instance_id: str
    namespace: str | None = None
    dataset: str | None = None
    flow: str | None = None


def instance_arn(region: str, account_id: str, instance_id: str) -> str:
    return f"arn:aws:scn:{region}:{account_id}:instance/{instance_id}"


def namespace_arn(inst: Instance, namespace: str) -> str:
    return f"{instance_arn(inst.region, inst.account_id, inst.instance_id)}/namespaces/{namespace}"


def dataset_arn(inst: Instance, namespace: str, name: str) -> str:
    return f"{namespace_arn(inst, namespace)}/datasets/{name}"


def flow_arn(inst: Instance, name: str) -> str:
    base = instance_arn(inst.region, inst.account_id, inst.instance_id)
    return f"{base}/data-integration-flows/{name}"


def parse_arn(arn: str) -> ResourceArn:
    """The parts of a supplylake resource ARN, or ValidationException."""
    m = _ARN.fullmatch(arn)
    if m is None:
        raise ValidationException(
            f"{arn} is not the ARN of an instance, namespace, dataset or data integration flow "
            "(arn:aws:scn:<region>:<account>:instance/<id>[/namespaces/<ns>[/datasets/<name>]]"
            " or .../instance/<id>/data-integration-flows/<name>)."
        )
    return ResourceArn(
        m["region"],
        m["account"],
        m["instance"],
        m["namespace"] or None,
        m["dataset"] or None,
        m["flow"] or None,
    )
