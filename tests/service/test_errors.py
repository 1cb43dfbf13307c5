"""Domain errors become AWS errors in one place; the domain never imports the wire layer."""

import ast
import asyncio
from pathlib import Path

import pytest

from supplylake.aws.errors import ServiceError, ValidationException
from supplylake.schema.errors import RecordError, SchemaError, TableError
from supplylake.service.errors import aws_error

from .conftest import active_instance_id, call

SCHEMA_PACKAGE = Path(__file__).parents[2] / "src" / "supplylake" / "schema"


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


@pytest.mark.parametrize("path", sorted(SCHEMA_PACKAGE.glob("*.py")), ids=lambda p: p.name)
def test_schema_modules_do_not_import_the_wire_layer(path):
    wire = {m for m in _imports(path) if m.startswith(("supplylake.aws", "supplylake.service"))}
    assert wire == set()


def test_domain_errors_are_plain_exceptions():
    assert not issubclass(RecordError, ServiceError)
    assert not issubclass(SchemaError, ServiceError)
    assert not issubclass(TableError, ServiceError)


@pytest.mark.parametrize(
    "error", [RecordError("Invalid data: x"), SchemaError("Invalid schema"), TableError("Bad")]
)
def test_domain_errors_are_answered_as_validation_exceptions(error):
    answer = aws_error(error)
    assert isinstance(answer, ValidationException)
    assert answer.message == error.message


REFUSED = [
    (
        "SendDataIntegrationEvent",
        {"event_type": "scn.data.inboundorder", "event_group_id": "g", "data": "{"},
        r"^Invalid data: not valid JSON",
    ),
    (
        "CreateDataLakeDataset",
        {
            "namespace": "default",
            "name": "things",
            "schema": {
                "name": "S",
                "fields": [{"name": "a", "type": "INT", "is_required": True}] * 2,
            },
        },
        r"field 'a' is listed more than once",
    ),
]


@pytest.mark.parametrize(("operation", "params", "message"), REFUSED, ids=[r[0] for r in REFUSED])
def test_a_refused_domain_value_reaches_the_client_as_a_validation_exception(
    services, ctx, operation, params, message
):
    async def request() -> None:
        iid = await active_instance_id(services, ctx)
        await call(services, ctx, operation, instance_id=iid, **params)

    with pytest.raises(ValidationException, match=message):
        asyncio.run(request())
