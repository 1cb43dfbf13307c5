"""Access grants: which ``scn:`` actions a credential may perform, on which instances."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache, lru_cache

from supplylake.aws.errors import AccessDeniedException
from supplylake.aws.spec import SIGNING_NAME, service_model

_PREFIX = f"{SIGNING_NAME}:"
_ACTION_PATTERN = re.compile(r"[A-Za-z*?]+")
_INSTANCE_PATTERN = re.compile(r"[A-Za-z0-9*?-]+")


@dataclass(frozen=True, slots=True)
class Grant:
    """IAM-style patterns (``*`` and ``?``) over actions and instance ids; default: everything."""

    actions: tuple[str, ...] = (f"{_PREFIX}*",)
    instances: tuple[str, ...] = ("*",)

    def allows_action(self, action: str) -> bool:
        """Whether ``action`` (``scn:Name`` or the bare operation name) is granted."""
        return _matcher(self.actions, True).fullmatch(_qualified(action)) is not None

    def allows_instance(self, instance_id: str) -> bool:
        """Whether the instance is granted; callers filter ListInstances results with this."""
        return _matcher(self.instances, False).fullmatch(instance_id) is not None


def check_access(
    grant: Grant, action: str, instance_id: str | None, resource_arn: str, *, principal: str
) -> None:
    """Raise AccessDeniedException unless ``grant`` covers ``action`` on ``instance_id``.

    ``principal`` (an access key id or ARN) and ``resource_arn`` only shape the message.
    Requests without an instance (CreateInstance, ListInstances) need only the action.
    """
    allowed = grant.allows_action(action) and (
        instance_id is None or grant.allows_instance(instance_id)
    )
    if not allowed:
        raise AccessDeniedException(
            f"User: {principal} is not authorized to perform: {_qualified(action)} "
            f"on resource: {resource_arn}"
        )


def parse_actions(text: str) -> tuple[str, ...]:
    """Parse ``scn:GetInstance,scn:List*`` (or ``*``) for the CLI; raise ValueError if invalid."""
    actions: list[str] = []
    for item in _items(text, "action"):
        if item == "*":
            action = item
        else:
            prefix, sep, name = item.partition(":")
            if not sep or prefix.lower() != SIGNING_NAME or not _ACTION_PATTERN.fullmatch(name):
                raise ValueError(
                    f"invalid action {item!r}: expected '{_PREFIX}<Operation>' where the "
                    "operation may use * and ? wildcards, or '*'"
                )
            action = _PREFIX + name
            if not any(_matcher((action,), True).fullmatch(op) for op in _operations()):
                raise ValueError(f"action {item!r} matches no {SIGNING_NAME} operation")
        if action not in actions:
            actions.append(action)
    return tuple(actions)


def parse_instances(text: str) -> tuple[str, ...]:
    """Parse comma-separated instance ids or ``*``/``?`` patterns; raise ValueError if invalid."""
    instances: list[str] = []
    for item in _items(text, "instance"):
        if not _INSTANCE_PATTERN.fullmatch(item):
            raise ValueError(
                f"invalid instance {item!r}: expected an instance id or a pattern using * and ?"
            )
        wildcard = "*" in item or "?" in item
        if not wildcard and not _instance_id_pattern().fullmatch(item):
            raise ValueError(f"invalid instance id {item!r}: expected a lowercase UUID")
        if item not in instances:
            instances.append(item)
    return tuple(instances)


def _qualified(action: str) -> str:
    return action if ":" in action else _PREFIX + action


def _items(text: str, what: str) -> list[str]:
    items = [item.strip() for item in text.split(",")]
    if not any(items):
        raise ValueError(f"no {what} given")
    if not all(items):
        raise ValueError(f"empty {what} in {text!r}")
    return items


@lru_cache(maxsize=1024)
def _matcher(patterns: tuple[str, ...], ignore_case: bool) -> re.Pattern[str]:
    # IAM wildcards: '*' is any run of characters, '?' any one; nothing else is special.
    alternatives = (
        re.escape(pattern).replace(r"\*", ".*").replace(r"\?", ".") for pattern in patterns
    )
    return re.compile("|".join(alternatives) or "(?!)", re.IGNORECASE if ignore_case else 0)


@cache
def _operations() -> tuple[str, ...]:
    return tuple(_PREFIX + name for name in service_model().operation_names)


@cache
def _instance_id_pattern() -> re.Pattern[str]:
    shape = service_model().operation_model("GetInstance").input_shape.members["instanceId"]
    return re.compile(shape.metadata["pattern"])
