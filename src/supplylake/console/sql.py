"""The SQL box: DuckDB over the instance's lake, the engine of ``supplylake query``.

Reading rows has no API operation of its own; the console asks for ``scn:GetDataLakeDataset`` on
the instance, the grant that shows a dataset.
"""

from __future__ import annotations

import csv
import io
import time
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from supplylake.console.access import authorize
from supplylake.console.datasets import cell
from supplylake.console.web import Console, Viewer, form_data
from supplylake.service.blocking import blocking

if TYPE_CHECKING:
    import pyarrow as pa

ACTION = "GetDataLakeDataset"
ROWS_SHOWN = 500
MAX_SQL_CHARS = 100_000
EXAMPLE = (
    "SELECT order_status, count(*) AS orders\n"
    "FROM asc.inbound_order\n"
    "GROUP BY order_status\n"
    "ORDER BY orders DESC"
)


class _Refused(ValueError):
    pass


def _run(lake: Any, instance_id: str, sql: str) -> pa.Table:
    # Imported here: DuckDB and pyiceberg load on the first query, not when the server starts.
    from supplylake.query.engine import QueryError, run_query

    try:
        return run_query(lake, instance_id, sql)
    except (QueryError, ValueError) as exc:
        raise _Refused(str(exc)) from None


def to_csv(result: pa.Table) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(result.column_names)
    for row in result.to_pylist():
        writer.writerow(["" if v is None else v for v in row.values()])
    return buf.getvalue()


def routes(console: Console) -> dict[str, Any]:
    services = console.services

    async def _form_sql(request: Request) -> str:
        return (await form_data(request)).get("sql", "").strip()

    async def _tables(instance_id: str) -> list[str]:
        tables = await blocking(services.lake.list_tables, instance_id)
        return [f"{ns}.{name}" for ns, name in tables]

    async def page(request: Request, viewer: Viewer) -> Response:
        inst = await authorize(services, viewer.ctx, ACTION, request.path_params["instance_id"])
        context: dict[str, Any] = {"inst": inst, "tab": "sql", "sql": EXAMPLE, "result": None}
        status = 200
        if request.method == "POST":
            sql = await _form_sql(request)
            context["sql"] = sql
            if not sql:
                context["error"] = "Type a query first."
            elif len(sql) > MAX_SQL_CHARS:
                context["error"] = f"The query is longer than {MAX_SQL_CHARS} characters."
            else:
                started = time.perf_counter()
                try:
                    result = await blocking(_run, services.lake, inst.instance_id, sql)
                except _Refused as exc:
                    context["error"] = str(exc)
                    status = 400
                else:
                    rows = result.slice(0, ROWS_SHOWN).to_pylist()
                    context["result"] = {
                        "columns": result.column_names,
                        "rows": [[cell(v) for v in r.values()] for r in rows],
                        "total": result.num_rows,
                        "ms": (time.perf_counter() - started) * 1000,
                    }
        context["tables"] = await _tables(inst.instance_id)
        context["rows_shown"] = ROWS_SHOWN
        return console.render(request, "sql.html", context, viewer, status)

    async def download(request: Request, viewer: Viewer) -> Response:
        inst = await authorize(services, viewer.ctx, ACTION, request.path_params["instance_id"])
        sql = await _form_sql(request)
        if not sql or len(sql) > MAX_SQL_CHARS:
            return console.error(request, viewer, 400, "No query", "Type a query first.")
        try:
            result = await blocking(_run, services.lake, inst.instance_id, sql)
        except _Refused as exc:
            return console.error(request, viewer, 400, "The query failed", str(exc))
        text = await blocking(to_csv, result)
        return Response(
            text,
            media_type="text/csv; charset=utf-8",
            headers={
                "content-disposition": 'attachment; filename="supplylake-query.csv"',
                "cache-control": "no-store",
            },
        )

    return {"sql": console.page(page), "sql_csv": console.page(download)}
