"""Untrusted uploads over HTTP: the download header; what a file is and what its name may be are the shared rules
of service.untrusted."""

from __future__ import annotations

from urllib.parse import quote

from service.untrusted import safe_name


def attachment(name: str) -> dict[str, str]:
    """The Content-Disposition header that offers `name` (made safe) as a download (RFC 6266, UTF-8 encoded)."""
    return {"Content-Disposition": f"attachment; filename*=UTF-8''{quote(safe_name(name), safe='')}"}
