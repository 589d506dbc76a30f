"""Untrusted uploads over HTTP: the status a refused upload is answered with, and the download header; what a file
is and what its name may be are the shared rules of service.untrusted, what an upload holds service.usecases.uploads."""

from __future__ import annotations

from urllib.parse import quote

from service.untrusted import safe_name

REFUSED_STATUS = {"too_many": 413, "not_an_image": 415, "empty": 422, "bad_manifest": 422, "ref_for_many": 422}
"""The HTTP status of each way a whole upload is refused (service.usecases.uploads.UploadRefused's kinds)."""


def attachment(name: str) -> dict[str, str]:
    """The Content-Disposition header that offers `name` (made safe) as a download (RFC 6266, UTF-8 encoded)."""
    return {"Content-Disposition": f"attachment; filename*=UTF-8''{quote(safe_name(name), safe='')}"}
