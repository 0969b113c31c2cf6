"""Uploaded spreadsheets: read from the request only after its token is checked, kept under their digest.

Routes that take a file declare no ``File`` parameter: FastAPI would read (and
spool to disk) the whole multipart body before checking the token. They call
``saved_upload`` from their body instead, so an unauthenticated upload is
answered 401 unread; the request guard has already held the body to the upload
limit. The multipart form is documented by ``UPLOAD_BODY``.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from starlette.datastructures import UploadFile

from cohortflow.activities.imports import upload_path
from cohortflow.api.errors import UnsupportedUpload
from cohortflow.domain.phrases import phrase

ACCEPTED_TYPES = {
    "text/csv",
    "application/csv",
    "text/plain",
    "text/tab-separated-values",
    "application/vnd.ms-excel",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/octet-stream",
}
CHUNK = 1 << 20
FIELD = "file"
UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": [FIELD],
                    "properties": {
                        FIELD: {
                            "type": "string",
                            "format": "binary",
                            "description": "CSV (UTF-8, UTF-8 with BOM or GB18030) or XLSX",
                        }
                    },
                }
            }
        },
    }
}


@dataclass(frozen=True)
class Saved:
    digest: str
    filename: str


async def saved_upload(request: Request) -> Saved:
    """The request's file, copied into the uploads directory under its SHA-256 digest."""
    async with request.form(max_files=1, max_fields=8) as form:
        upload = form.get(FIELD)
        if not isinstance(upload, UploadFile):
            raise RequestValidationError(
                [
                    {
                        "type": "missing",
                        "loc": ("body", FIELD),
                        "msg": phrase("send the file as the form field {field}", field=repr(FIELD)),
                    }
                ]
            )
        digest = await _save(upload, request.app.state.settings.uploads)
        return Saved(digest, upload.filename or digest)


async def _save(upload: UploadFile, uploads: Path) -> str:
    media = (upload.content_type or "application/octet-stream").split(";")[0].strip().lower()
    if media not in ACCEPTED_TYPES:
        raise UnsupportedUpload(phrase("content type {media} is not a spreadsheet; send CSV or XLSX", media=media))
    uploads.mkdir(parents=True, exist_ok=True)
    sha = hashlib.sha256()
    fd, tmp = tempfile.mkstemp(dir=uploads, prefix=".upload-")
    try:
        with os.fdopen(fd, "wb") as out:
            while chunk := await upload.read(CHUNK):
                sha.update(chunk)
                out.write(chunk)
        digest = sha.hexdigest()
        os.replace(tmp, upload_path(uploads, digest))  # same content, same name: a second upload just replaces it
        return digest
    finally:
        Path(tmp).unlink(missing_ok=True)
