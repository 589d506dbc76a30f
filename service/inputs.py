"""Turning what a user points at (files, folders, .zip archives, manifests) into named inputs to read.

Seized material is hostile: archives are read in memory (never extracted, so no zip-slip), members are capped
in size and compression ratio (zip bombs), and every problem becomes an input carrying an error, so one bad
file is reported and skipped instead of aborting a batch.
"""

from __future__ import annotations

import csv
import io
import lzma
import os
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

IMAGE_SUFFIXES = frozenset(
    {
        ".jpg",
        ".jpeg",
        ".jpe",
        ".jfif",
        ".png",
        ".webp",
        ".gif",
        ".bmp",
        ".dib",
        ".tif",
        ".tiff",
        ".heic",
        ".heif",
        ".hif",
        ".avif",
        ".mpo",
        ".ppm",
        ".pgm",
        ".pbm",
        ".pnm",
    }
)
MAX_MEMBER_BYTES = 256 * 1024 * 1024
MAX_ARCHIVE_BYTES = 8 * 1024 * 1024 * 1024
MAX_COMPRESSION_RATIO = 200
MAX_ARCHIVE_DEPTH = 2


@dataclass
class InputItem:
    """One input: its name as the user will see it, how to read its bytes, or why it cannot be read."""

    name: str
    reader: Callable[[], bytes] | None = None
    error: str | None = None
    row: dict[str, str] = field(default_factory=dict)
    """The manifest row it came from, if any (metadata for registration)."""

    def read(self) -> bytes:
        if self.reader is None:
            raise InputError(self.name, self.error or "cannot be read")
        try:
            return self.reader()
        except InputError:
            raise
        except OSError as exc:
            raise InputError(self.name, f"cannot read file ({exc.strerror or exc})") from exc


class InputError(ValueError):
    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"{name}: {reason}")
        self.name = name
        self.reason = reason


def expand(paths: list[str], all_files: bool = False) -> Iterator[InputItem]:
    """Files as given; folders walked recursively (image suffixes only unless `all_files`); zips opened."""
    for given in paths:
        path = Path(given)
        if path.is_dir():
            for root, dirs, files in os.walk(path):
                dirs.sort()
                for name in sorted(files):
                    child = Path(root) / name
                    suffix = child.suffix.lower()
                    if suffix == ".zip":
                        yield from _archive(str(child), child.read_bytes, 1, all_files)
                    elif all_files or suffix in IMAGE_SUFFIXES:
                        yield _file(str(child))
        elif path.suffix.lower() == ".zip" and path.is_file():
            yield from _archive(given, path.read_bytes, 1, all_files)
        elif path.exists() and not path.is_file():
            yield InputItem(given, error="not a regular file")
        elif not path.exists():
            yield InputItem(given, error="no such file or folder")
        else:
            yield _file(given)


def from_manifest(manifest: str, required: tuple[str, ...] = ("path",)) -> Iterator[InputItem]:
    """Rows of a CSV manifest; `path` is resolved against the manifest's folder when relative."""
    base = Path(manifest).resolve().parent
    try:
        with open(manifest, newline="", encoding="utf-8-sig") as f:
            rows = list(csv.DictReader(f))
            columns = set(rows[0].keys()) if rows else set()
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(manifest, f"cannot read manifest ({exc})") from exc
    missing = [c for c in required if rows and c not in columns]
    if missing:
        raise InputError(manifest, f"manifest lacks column(s): {', '.join(missing)}")
    for n, row in enumerate(rows, start=2):
        raw = (row.get("path") or "").strip()
        clean = {k: (v or "").strip() for k, v in row.items() if k}
        if not raw:
            yield InputItem(f"{manifest}:{n}", error="row has an empty path", row=clean)
            continue
        resolved = raw if os.path.isabs(raw) else str(base / raw)
        for item in expand([resolved]):
            item.row = clean
            if item.name == resolved:
                item.name = raw  # report the path as written in the manifest
            yield item


def _file(name: str) -> InputItem:
    return InputItem(name, reader=lambda: Path(name).read_bytes())


def _archive(name: str, read: Callable[[], bytes], depth: int, all_files: bool) -> Iterator[InputItem]:
    try:
        data = read()
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = archive.infolist()
    except (OSError, zipfile.BadZipFile, ValueError, RuntimeError) as exc:  # RuntimeError: NotImplementedError
        yield InputItem(name, error=f"unreadable zip archive ({exc})")
        return
    total = 0
    for info in members:
        if info.is_dir():
            continue
        inner = f"{name}!{info.filename}"
        pure = PurePosixPath(info.filename.replace("\\", "/"))
        if pure.is_absolute() or ".." in pure.parts:
            yield InputItem(inner, error="unsafe path in archive (absolute or '..'); skipped")
            continue
        suffix = pure.suffix.lower()
        if suffix != ".zip" and not all_files and suffix not in IMAGE_SUFFIXES:
            continue
        if info.flag_bits & 0x1:
            yield InputItem(inner, error="encrypted archive member")
            continue
        if info.file_size > MAX_MEMBER_BYTES:
            yield InputItem(inner, error=f"archive member of {info.file_size:,} bytes exceeds the cap")
            continue
        if info.compress_size and info.file_size / info.compress_size > MAX_COMPRESSION_RATIO:
            yield InputItem(
                inner,
                error=f"compression ratio {info.file_size // info.compress_size}:1 looks like a zip bomb; skipped",
            )
            continue
        total += info.file_size
        if total > MAX_ARCHIVE_BYTES:
            yield InputItem(inner, error="archive expands past the total size cap; rest skipped")
            return
        reader = _member_reader(archive, info, inner)
        if suffix == ".zip":
            if depth >= MAX_ARCHIVE_DEPTH:
                yield InputItem(inner, error="archive nested too deeply; skipped")
            else:
                yield from _archive(inner, reader, depth + 1, all_files)
        else:
            yield InputItem(inner, reader=reader)


def _member_reader(archive: zipfile.ZipFile, info: zipfile.ZipInfo, inner: str) -> Callable[[], bytes]:
    def read() -> bytes:
        try:
            with archive.open(info) as f:
                data = f.read(MAX_MEMBER_BYTES + 1)  # the declared size may lie: never read past the cap
        except (zipfile.BadZipFile, OSError, EOFError, RuntimeError, ValueError, zlib.error, lzma.LZMAError) as exc:
            raise InputError(inner, f"corrupt archive member ({exc})") from exc
        if len(data) > MAX_MEMBER_BYTES:
            raise InputError(inner, "archive member expands past the size cap")
        return data

    return read
