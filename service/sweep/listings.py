"""Listing files: CSV (one row per image, rows of one listing share `listing_id`) or JSONL (one listing per line,
`image_url`/`path` a string or a list), or a folder of such files. Bad rows are reported, never fatal."""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

LISTING_FIELDS = (
    "marketplace",
    "seller",
    "seller_id",
    "title",
    "price",
    "currency",
    "listing_url",
    "seen_at",
    "region",
    "province",
    "city",
    "business_name",
    "business_licence",
)
"""Optional fields kept with a listing (nested under "listing" in results.jsonl): where it is offered from (a
free-text `region`, or `province` and `city`: service.supervision.regions places them) and the shop's registered
business name and licence number."""
IDENTIFIER_FIELDS = ("contact", "payment_account")
"""Optional fields read but never kept as given: the sweep replaces them by keyed hashes (`contact_hash`,
`payment_hash`: service.supervision.identifiers) before anything is written."""
MAX_IMAGES_PER_LISTING = 64
MAX_FIELD = 2000


class ListingError(ValueError):
    """A listing file that cannot be read at all (a bad row is a `Listing` with `problems` instead)."""


@dataclass(frozen=True)
class ImageRef:
    """One image of a listing: a URL to fetch or a local path (relative paths resolved against the file)."""

    url: str = ""
    path: str = ""

    @property
    def source(self) -> str:
        return self.url or self.path


@dataclass
class Listing:
    listing_id: str
    images: list[ImageRef] = field(default_factory=list)
    fields: dict[str, str] = field(default_factory=dict)
    origin: str = ""
    """Where it was read: file and line."""
    problems: list[str] = field(default_factory=list)
    identifiers: dict[str, str] = field(default_factory=dict)
    """IDENTIFIER_FIELDS as given, to be hashed; never in `fields` or `to_json`."""

    def to_json(self) -> dict[str, str]:
        return {"listing_id": self.listing_id, **self.fields}

    @property
    def key(self) -> str:
        """What identifies the listing in a run: its marketplace and its id (ids repeat across marketplaces)."""
        return f"{self.fields.get('marketplace', '')}\t{self.listing_id}"


def read_listings(target: str) -> Iterator[Listing]:
    """The listings of a CSV or JSONL file, or of every such file in a folder (sorted, so a rerun sees one order)."""
    path = Path(target)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in (".csv", ".jsonl"))
        if not files:
            raise ListingError(f"{target}: no .csv or .jsonl listing file in this folder")
    elif path.is_file():
        files = [path]
    else:
        raise ListingError(f"{target}: no such file or folder")
    for f in files:
        if f.suffix.lower() == ".jsonl":
            yield from _jsonl(f)
        elif f.suffix.lower() == ".csv":
            yield from _csv(f)
        else:
            raise ListingError(f"{f}: a listing file is .csv or .jsonl")


def _checked_time(listing: Listing) -> Listing:
    """A `seen_at` that is not an ISO date or time is dropped with a problem line (the sweep's own time is used):
    periods are read from its first characters, so "05.11.2026" would count in no month at all."""
    value = listing.fields.get("seen_at", "")
    if value:
        try:
            datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            listing.problems.append(
                f"seen_at {value!r} is not an ISO date or time (2026-11-05T09:00:00Z); the sweep's time is used"
            )
            del listing.fields["seen_at"]
    return listing


def _clean(value: object) -> str:
    return str(value if value is not None else "").strip()[:MAX_FIELD]


def _image(value: str, kind: str, base: Path) -> ImageRef:
    if kind == "image_url":
        return ImageRef(url=value)
    p = Path(value)
    return ImageRef(path=os.path.normpath(p if p.is_absolute() else base / p))


def _csv(path: Path) -> Iterator[Listing]:
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            rows = list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ListingError(f"{path}: cannot read ({exc})") from exc
    if rows and "listing_id" not in rows[0]:
        raise ListingError(f"{path}: no listing_id column")
    by_id: dict[tuple[str, str], Listing] = {}  # a listing id is unique within its marketplace only
    for n, row in enumerate(rows, start=2):
        lid = _clean(row.get("listing_id"))
        if not lid:
            yield Listing(f"{path.name}:{n}", origin=f"{path}:{n}", problems=["row has no listing_id"])
            continue
        listing = by_id.setdefault((_clean(row.get("marketplace")), lid), Listing(lid, origin=f"{path}:{n}"))
        for k in LISTING_FIELDS:
            if _clean(row.get(k)) and k not in listing.fields:
                listing.fields[k] = _clean(row.get(k))
        for k in IDENTIFIER_FIELDS:
            if _clean(row.get(k)) and k not in listing.identifiers:
                listing.identifiers[k] = _clean(row.get(k))
        found = False
        for kind in ("image_url", "path"):
            if _clean(row.get(kind)):
                listing.images.append(_image(_clean(row.get(kind)), kind, path.parent))
                found = True
        if not found:
            listing.problems.append(f"{path.name}:{n}: row has neither image_url nor path")
    for listing in by_id.values():
        if len(listing.images) > MAX_IMAGES_PER_LISTING:
            listing.problems.append(f"{len(listing.images)} images; the first {MAX_IMAGES_PER_LISTING} are swept")
            del listing.images[MAX_IMAGES_PER_LISTING:]
        yield _checked_time(listing)


def _jsonl(path: Path) -> Iterator[Listing]:
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ListingError(f"{path}: cannot read ({exc})") from exc
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path}:{n}"
        try:
            record = json.loads(line)
        except ValueError as exc:
            yield Listing(f"{path.name}:{n}", origin=where, problems=[f"not JSON ({exc})"])
            continue
        if not isinstance(record, dict) or not _clean(record.get("listing_id")):
            yield Listing(f"{path.name}:{n}", origin=where, problems=["not an object with a listing_id"])
            continue
        listing = Listing(_clean(record["listing_id"]), origin=where)
        listing.fields = {k: _clean(record[k]) for k in LISTING_FIELDS if _clean(record.get(k))}
        listing.identifiers = {k: _clean(record[k]) for k in IDENTIFIER_FIELDS if _clean(record.get(k))}
        for kind in ("image_url", "path"):
            value = record.get(kind)
            values = value if isinstance(value, list) else [value] if value else []
            listing.images += [_image(_clean(v), kind, path.parent) for v in values if _clean(v)]
        if not listing.images:
            listing.problems.append("no image_url or path")
        del listing.images[MAX_IMAGES_PER_LISTING:]
        yield _checked_time(listing)
