"""Match an HTTP method and raw path to an operation, from the model's ``requestUri`` templates."""

from __future__ import annotations

import re
from typing import Any, NamedTuple
from urllib.parse import unquote

from supplylake.aws.errors import UnknownOperationException, ValidationException
from supplylake.aws.spec import service_model

_LABEL = re.compile(r"\{([^}]+)\}")


class _Route(NamedTuple):
    operation: Any  # botocore OperationModel
    labels: tuple[str, ...]  # label names in template order
    first_group: int  # index of the first label's group in the method's combined regex


class _Template(NamedTuple):
    operation: Any
    pattern: str  # regex source with one unnamed group per label
    labels: tuple[str, ...]
    specificity: tuple[int, ...]


def _template(operation: Any) -> _Template:
    # A query part in requestUri (S3 style, "?tagging") only distinguishes operations that share a
    # path; this model has none, so it is dropped here.
    uri = operation.http["requestUri"].split("?", 1)[0]
    labels: list[str] = []
    pattern: list[str] = []
    specificity: list[int] = []
    for segment in uri.split("/"):
        parts = _LABEL.split(segment)  # literal, label, literal, label, ..., literal
        rank = 2  # fully literal segments win over labels, labels over greedy labels
        for i, part in enumerate(parts):
            if i % 2 == 0:
                pattern.append(re.escape(part))
            elif part.endswith("+"):
                labels.append(part[:-1])
                pattern.append("(.+)")
                rank = 0
            else:
                labels.append(part)
                pattern.append("([^/]+)")
                rank = min(rank, 1)
        pattern.append("/")
        specificity.append(rank)
    return _Template(operation, "".join(pattern)[:-1], tuple(labels), tuple(specificity))


class Router:
    """Finds the operation for a request; built once from the service model."""

    def __init__(self, model: Any | None = None) -> None:
        model = model if model is not None else service_model()
        by_method: dict[str, list[_Template]] = {}
        #: Every operation of the model, in the model's order.
        self.operations = tuple(model.operation_model(name) for name in model.operation_names)
        for operation in self.operations:
            by_method.setdefault(operation.http["method"], []).append(_template(operation))
        # One alternation per method: the regex engine tries the routes in C, most specific first,
        # and the named group of the alternative that matched says which route it was.
        self._regex: dict[str, re.Pattern[str]] = {}
        self._routes: dict[str, dict[str, _Route]] = {}
        for method, templates in by_method.items():
            templates.sort(key=lambda t: t.specificity, reverse=True)
            alternatives: list[str] = []
            routes: dict[str, _Route] = {}
            group = 1
            for i, t in enumerate(templates):
                alternatives.append(f"(?P<r{i}>{t.pattern})")
                routes[f"r{i}"] = _Route(t.operation, t.labels, group + 1)
                group += 1 + len(t.labels)
            self._regex[method] = re.compile("|".join(alternatives))
            self._routes[method] = routes

    def match(self, method: str, raw_path: str) -> tuple[Any, dict[str, str]]:
        """The OperationModel and decoded uri labels for a request path (still percent-encoded)."""
        regex = self._regex.get(method)
        found = regex.fullmatch(raw_path) if regex is not None else None
        if found is None:
            raise self._no_route(method, raw_path)
        route = self._routes[method][found.lastgroup or ""]
        values = found.groups()
        start = route.first_group - 1
        return route.operation, {
            label: _decode(values[start + i]) for i, label in enumerate(route.labels)
        }

    def _no_route(self, method: str, raw_path: str) -> UnknownOperationException:
        allowed = sorted(m for m, regex in self._regex.items() if regex.fullmatch(raw_path))
        if allowed:
            return UnknownOperationException(
                f"Method {method} is not allowed on path {raw_path}: it accepts "
                f"{', '.join(allowed)}"
            )
        return UnknownOperationException(f"No operation matches {method} {raw_path}")


def _decode(label: str) -> str:
    if "%" not in label:
        return label
    try:
        return unquote(label, errors="strict")
    except UnicodeDecodeError:
        raise ValidationException(
            f"Path segment {label[:100]!r} is not valid percent-encoded UTF-8"
        ) from None
