"""What arrives in one upload: for a case, seized files, each image kept under its name, each zip opened into its
images (members capped as service.inputs does, read one at a time as they are kept), anything else named with why
it is refused, and whether the upload is one image to scan at once or a batch for a job; for the registry, the
works to register, each with its metadata (the form's, or its row of a zip's works.csv). The doors turn a refusal
into their own answer."""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from typing import BinaryIO, Literal

from service.inputs import InputError, InputItem, from_bytes, from_upload
from service.results import WorkMetadata
from service.untrusted import IMAGE_KINDS, printable, sniff
from service.usecases.registration import metadata_from_row

MANIFEST = "works.csv"
"""The manifest a zip of works may hold: one row per image, `path` as inside the archive, then its metadata."""
MAX_MANIFEST_BYTES = 16 * 1024 * 1024

NOT_AN_IMAGE = "not an image nor a zip archive (judged by its content, not its name)"


class UploadRefused(Exception):
    """The whole upload is refused: `why` says what, `kind` which rule (too many files or a manifest too large, a
    lone file that is not an image, nothing in it, a zip whose works.csv cannot be read, one ref for many works)."""

    def __init__(
        self, why: str, kind: Literal["too_many", "not_an_image", "empty", "bad_manifest", "ref_for_many"]
    ) -> None:
        super().__init__(why)
        self.why = why
        self.kind = kind


@dataclass(frozen=True)
class Arrival:
    """One file of the upload: its printable name, and its bytes, or None with why it cannot be kept as an image."""

    name: str
    data: bytes | None
    why: str = ""


def unpack(uploads: Sequence[tuple[str, bytes | BinaryIO]], max_files: int) -> tuple[Iterator[Arrival], bool]:
    """Every file of the upload (zip members in their place) and whether it is a single image to scan at once; a
    file's kind comes from its first bytes. Files may be bytes or the request's spooled files: either way each file
    and each zip member is read only as the caller takes its arrival, so neither the upload nor a zip of large
    members is ever held in memory whole: keep each arrival (receive it into custody) before taking the next.
    UploadRefused, before anything is read whole, past `max_files` files, for a lone file that is not an image, and
    for an upload with nothing in it."""
    files = [(name, io.BytesIO(f) if isinstance(f, bytes) else f) for name, f in uploads]
    kinds = [_sniffed(f) for _, f in files]
    single = len(files) == 1 and kinds[0] != "zip"
    pending: list[Callable[[], Arrival]] = []
    for (name, f), kind in zip(files, kinds, strict=True):
        if kind == "zip":
            pending += [partial(_member_arrival, member) for member in from_upload(name, f)]
        elif kind in IMAGE_KINDS:
            pending.append(partial(_file_arrival, name, f))
        else:
            pending.append(partial(Arrival, name, None, NOT_AN_IMAGE))
        if len(pending) > max_files:
            raise UploadRefused(f"more than {max_files:,} files in one upload", "too_many")
    if single and kinds[0] not in IMAGE_KINDS:
        raise UploadRefused(f"{files[0][0]}: {NOT_AN_IMAGE}", "not_an_image")
    if not pending:
        raise UploadRefused("no image in the upload", "empty")
    return (arrive() for arrive in pending), single


def _sniffed(f: BinaryIO) -> str | None:
    """A file's kind from its first bytes, leaving it at its start."""
    f.seek(0)
    head = f.read(64)
    f.seek(0)
    return sniff(head)


def _file_arrival(name: str, f: BinaryIO) -> Arrival:
    """An uploaded image, read now."""
    f.seek(0)
    return Arrival(name, f.read())


def _member_arrival(member: InputItem) -> Arrival:
    """A zip member, read now: its bytes if they are an image, else why not."""
    shown = printable(member.name)
    try:
        content = member.read()
    except InputError as exc:
        return Arrival(shown, None, exc.reason)
    if sniff(content) in IMAGE_KINDS:
        return Arrival(shown, content)
    return Arrival(shown, None, "not an image (judged by its content, not its name)")


def works_to_register(
    uploads: list[tuple[str, bytes]], given: WorkMetadata, max_files: int
) -> list[tuple[InputItem, WorkMetadata]]:
    """The works an upload to the registry holds: each image with the metadata `given` (the form's), each zip's
    images with their rows of its works.csv. UploadRefused for a file that is neither, an unreadable zip or
    manifest, nothing to register, more than `max_files` works, and a ref given for more than one."""
    items: list[tuple[InputItem, WorkMetadata]] = []
    for name, data in uploads:
        kind = sniff(data)
        if kind == "zip":
            items.extend(_works_in_zip(name, data))
        elif kind in IMAGE_KINDS:
            items.append((InputItem(name, reader=lambda d=data: d), given))  # type: ignore[misc]
        else:
            raise UploadRefused(f"{name}: {NOT_AN_IMAGE}", "not_an_image")
    if not items:
        raise UploadRefused("no image to register in the upload", "empty")
    if len(items) > max_files:
        raise UploadRefused(f"{len(items):,} files in one upload; at most {max_files:,}", "too_many")
    if len(items) > 1 and any(meta.ref for _, meta in items if meta is given):
        raise UploadRefused("a ref names one work: upload one file with it, or a zip with works.csv", "ref_for_many")
    return items


def _works_in_zip(name: str, data: bytes) -> list[tuple[InputItem, WorkMetadata]]:
    """The images of a zip, each with its row of the zip's works.csv (matched by `path` inside the archive)."""
    rows: dict[str, dict[str, str]] = {}
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            if MANIFEST in z.namelist():
                if z.getinfo(MANIFEST).file_size > MAX_MANIFEST_BYTES:
                    raise UploadRefused(f"{name}: {MANIFEST} is larger than {MAX_MANIFEST_BYTES:,} bytes", "too_many")
                text = z.read(MANIFEST).decode("utf-8-sig")
                rows = {r.get("path", ""): r for r in csv.DictReader(io.StringIO(text))}
    except (zipfile.BadZipFile, OSError, UnicodeDecodeError, ValueError, RuntimeError, csv.Error) as exc:
        raise UploadRefused(f"{name}: cannot read it as a zip with {MANIFEST} ({exc})", "bad_manifest") from exc
    return [(m, metadata_from_row(rows.get(m.name.split("!", 1)[-1], {}))) for m in from_bytes(name, data)]
