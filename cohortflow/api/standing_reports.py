"""/api/v1/reports/standing: who meets or misses which training rule, per school, county or prefecture.

JSON holds the per-school summary (level shares against the targets) and the
rows; CSV (UTF-8 with BOM) and XLSX hold the rows under Chinese headers. A
coordinator's report covers their own prefecture; ID numbers are masked unless
the role may read them.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, StreamingResponse
from starlette.background import BackgroundTask

from cohortflow.access.roles import Permission, Principal
from cohortflow.api.auth import require
from cohortflow.api.people import scope_of
from cohortflow.domain.vocabulary import PROVINCE_ZONE
from cohortflow.readmodels.bank import PersonFilter, shipped_requirements
from cohortflow.readmodels.exports import csv_chunks, write_xlsx
from cohortflow.readmodels.standing_report import COLUMNS, TITLE, ReportRow, StandingReport, standing_report

router = APIRouter(prefix="/api/v1/reports", tags=["credit bank"])
Reader = Annotated[Principal, Depends(require(Permission.PEOPLE_READ))]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@router.get(
    "/standing",
    response_model=StandingReport,
    responses={200: {"content": {"application/json": {}, "text/csv": {}, XLSX: {}}}},
)
async def standing(
    request: Request,
    principal: Reader,
    prefecture_code: Annotated[
        str | None, Query(description="A prefecture's code (a coordinator's own anyway)")
    ] = None,
    county_code: Annotated[str | None, Query(description="A county's division code")] = None,
    school: Annotated[str | None, Query(description="A school's name, whole")] = None,
    as_of: Annotated[date | None, Query(description="The day judged (today in China if not given)")] = None,
    behind_only: Annotated[bool, Query(description="Only the rules each person misses")] = False,
    format: Literal["json", "csv", "xlsx"] = "json",
) -> Any:
    """Every person of the unit against every rule that applies to them, and each school's summary."""
    mine = scope_of(principal)
    where = PersonFilter(
        prefecture_code=mine.prefecture_code or prefecture_code,
        county_code=mine.county_code or county_code,
        school=mine.school or school,
    )
    day = as_of or datetime.now(PROVINCE_ZONE).date()
    report = await standing_report(
        request.app.state.store.pool, where, shipped_requirements(), day, behind_only=behind_only
    )
    shown = [r.model_copy(update={"national_id": principal.show_id(r.national_id)}) for r in report.rows]
    if format == "json":
        return report.model_copy(update={"rows": shown})
    name = f"standing-{day}.{format}"
    if format == "csv":
        headers = {"Content-Disposition": f'attachment; filename="{name}"'}
        return StreamingResponse(
            csv_chunks(_each(shown), COLUMNS, mask_ids=False), media_type="text/csv; charset=utf-8", headers=headers
        )
    fd, tmp = tempfile.mkstemp(suffix=".xlsx")
    os.close(fd)  # openpyxl writes the file itself
    path = Path(tmp)
    await write_xlsx(_each(shown), COLUMNS, path, mask_ids=False, title=TITLE)
    return FileResponse(path, media_type=XLSX, filename=name, background=BackgroundTask(path.unlink))


async def _each(rows: list[ReportRow]) -> AsyncIterator[ReportRow]:
    for row in rows:
        yield row
