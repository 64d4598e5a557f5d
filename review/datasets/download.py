"""Serving an export's file: streamed in chunks, with single byte ranges so a broken download of
a large file resumes where it stopped, and noted in the audit log."""

import re
from collections.abc import Iterator
from pathlib import Path

from django.http import FileResponse, HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase

from review.audit import record_read
from review.datasets.services import export_root
from review.models import AuditEntry, DatasetVersion

CHUNK = 1 << 16
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def _slice(path: Path, start: int, length: int) -> Iterator[bytes]:
    with open(path, "rb") as stream:
        stream.seek(start)
        while length > 0:
            chunk = stream.read(min(CHUNK, length))
            if not chunk:
                return
            length -= len(chunk)
            yield chunk


def download_name(version: DatasetVersion) -> str:
    return Path(version.file).name


def ranged_file_response(request: HttpRequest, version: DatasetVersion) -> HttpResponseBase:
    """The whole file (200), or the one range asked for (206), or 416 for a range outside it.
    Several ranges in one header get the whole file, as HTTP allows."""
    path = export_root() / version.file
    size = path.stat().st_size
    headers = {"Accept-Ranges": "bytes", "ETag": f'"{version.sha256}"'}
    wanted = request.headers.get("Range", "").replace(" ", "")
    match = _RANGE.match(wanted)
    if_range = request.headers.get("If-Range")
    if match and any(match.groups()) and if_range in (None, headers["ETag"]):
        first, last = match.groups()
        if first:
            start, end = int(first), min(int(last), size - 1) if last else size - 1
        else:  # "bytes=-N": the last N bytes
            start, end = max(0, size - int(last)), size - 1
        if start >= size or start > end:
            return HttpResponse(status=416, headers={**headers, "Content-Range": f"bytes */{size}"})
        return StreamingHttpResponse(
            _slice(path, start, end - start + 1),
            status=206,
            content_type="application/octet-stream",
            headers={
                **headers,
                "Content-Range": f"bytes {start}-{end}/{size}",
                "Content-Length": str(end - start + 1),
                "Content-Disposition": f'attachment; filename="{download_name(version)}"',
            },
        )
    response = FileResponse(
        open(path, "rb"),  # noqa: SIM115 - closed by the response
        as_attachment=True,
        filename=download_name(version),
        content_type="application/octet-stream",
    )
    for name, value in headers.items():
        response[name] = value
    return response


def recorded_download(request: HttpRequest, version: DatasetVersion) -> HttpResponseBase:
    """The file as ``ranged_file_response`` serves it, with an audit entry when any of it is
    sent (a resumed download is one more entry, naming its range)."""
    response = ranged_file_response(request, version)
    if response.status_code in (200, 206):
        detail = {"dataset": version.dataset.name, "version": version.version}
        if response.status_code == 206:
            detail["range"] = response["Content-Range"]
        record_read(AuditEntry.Action.DOWNLOAD, version, detail=detail)
    return response
