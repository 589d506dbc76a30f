"""Turning what a user points at (files, folders, .zip archives, manifests) into named inputs to read.

Seized material is hostile: archives are read in memory (never extracted, so no zip-slip), members are capped
in size and compression ratio (zip bombs), only regular files are ever opened (a FIFO would block forever, a link
to /dev/zero would fill memory), and every problem becomes an input carrying an error, so one bad file is
reported and skipped instead of aborting a batch. File names are data: a name that is not valid UTF-8 keeps its
raw bytes beside a printable form (`InputItem.name_bytes`).
"""

from __future__ import annotations

import base64
import csv
import io
import lzma
import os
import stat
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import BinaryIO

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
MAX_FILE_BYTES = 1024 * 1024 * 1024
"""Plain files larger than this are refused unread: no picture under the default 80-megapixel cap needs 1 GiB
(an uncompressed 16-bit RGBA TIFF at the cap is 640 MB), and reading one must not exhaust memory."""


@dataclass
class InputItem:
    """One input: its name as the user will see it, how to read its bytes, or why it cannot be read."""

    name: str
    """Always valid Unicode: bytes of a file name that are not UTF-8 appear as backslash escapes (see `display`)."""
    reader: Callable[[], bytes] | None = None
    error: str | None = None
    row: dict[str, str] = field(default_factory=dict)
    """The manifest row it came from, if any (metadata for registration)."""
    name_bytes: bytes | None = None
    """The name's raw bytes when it is not valid UTF-8 (seized disks hold such names), so nothing is lost."""
    source_path: str | None = None
    """The file on disk the bytes come from (the file itself, or the archive holding it), so that no output is ever
    written over an input."""

    @property
    def name_bytes_b64(self) -> str | None:
        """`name_bytes` in base64, for JSON (`path_bytes_b64`), or None when the name is plain UTF-8."""
        return None if self.name_bytes is None else base64.b64encode(self.name_bytes).decode("ascii")

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
    """Files as given; folders walked recursively (image suffixes only unless `all_files`); zips opened.

    Only regular files are opened: FIFOs, sockets, devices and links to them become error items, unopened."""
    for given in paths:
        problem = _not_regular(given)
        if problem is None:
            if Path(given).suffix.lower() == ".zip":
                yield from _archive(_named(given), _file_reader(given), 1, all_files)
            else:
                yield _file(given)
        elif problem == _FOLDER:
            yield from _walk(given, all_files)
        else:
            yield _named(given, error=problem)


def _walk(folder: str, all_files: bool) -> Iterator[InputItem]:
    """Every candidate file under `folder`, sorted; links to folders are not followed (no loops)."""
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        for name in sorted(files):
            child = os.path.join(root, name)
            suffix = os.path.splitext(name)[1].lower()
            if suffix != ".zip" and not all_files and suffix not in IMAGE_SUFFIXES:
                continue
            problem = _not_regular(child)
            if problem == _FOLDER:
                continue  # became a folder since os.walk listed it (folders, and links to them, are in `dirs`)
            if problem is not None:
                yield _named(child, error=problem)
            elif suffix == ".zip":
                yield from _archive(_named(child), _file_reader(child), 1, all_files)
            else:
                yield _file(child)


_FOLDER = "a folder"


def _not_regular(path: str) -> str | None:
    """Why `path` must not be opened as a file (None: it is a regular file, or a link to one; `_FOLDER`: a folder)."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "broken symbolic link (its target does not exist)" if os.path.islink(path) else "no such file or folder"
    except OSError as exc:
        return f"cannot be examined ({exc.strerror or exc})"
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return _FOLDER
    return f"not a regular file ({_kind(mode)}); not opened"


def _kind(mode: int) -> str:
    for test, kind in (
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    ):
        if test(mode):
            return kind
    return "a special file"


def display(name: str) -> str:
    """A file-system name as valid Unicode: undecodable bytes (Python's surrogate escapes) become `\\xNN`."""
    return os.fsencode(name).decode("utf-8", "backslashreplace")


def _named(path: str, **kwargs: object) -> InputItem:
    """An InputItem for a file-system path, its raw bytes kept when the name is not valid UTF-8."""
    shown = display(path)
    raw = None if shown == path else os.fsencode(path)
    return InputItem(shown, name_bytes=raw, source_path=path, **kwargs)  # type: ignore[arg-type]


def _file_reader(path: str) -> Callable[[], bytes]:
    """Reads a regular file, checking again on the open descriptor (the path may have been swapped since)."""
    shown = display(path)

    def read() -> bytes:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise InputError(shown, f"not a regular file ({_kind(info.st_mode)}); not read")
            if info.st_size > MAX_FILE_BYTES:
                raise InputError(shown, f"file of {info.st_size:,} bytes exceeds the {MAX_FILE_BYTES:,}-byte cap")
            with os.fdopen(fd, "rb", closefd=False) as f:
                data = f.read(MAX_FILE_BYTES + 1)
        finally:
            os.close(fd)
        if len(data) > MAX_FILE_BYTES:
            raise InputError(shown, f"file grew past the {MAX_FILE_BYTES:,}-byte cap while being read")
        return data

    return read


def from_manifest(manifest: str, required: tuple[str, ...] = ("path",)) -> Iterator[InputItem]:
    """Rows of a CSV manifest; `path` is resolved against the manifest's folder when relative."""
    base = Path(manifest).resolve().parent
    try:
        with open(manifest, newline="", encoding="utf-8-sig") as f:
            rows = list(csv.DictReader(f))
            columns = set(rows[0].keys()) if rows else set()
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(manifest, f"cannot read manifest ({exc})") from exc
    if not rows:
        raise InputError(manifest, "manifest has no rows: nothing to do (a header line and one row per file)")
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


def _file(path: str) -> InputItem:
    return _named(path, reader=_file_reader(path))


def from_upload(name: str, file: BinaryIO) -> Iterator[InputItem]:
    """The members of a zip archive uploaded as `file` (a request's spooled file, seekable), read from it as they
    are taken: the archive is never held in memory whole."""
    file.seek(0)
    yield from _archive(InputItem(name), lambda: file, 1, False)


def from_bytes(name: str, data: bytes) -> Iterator[InputItem]:
    """Inputs from bytes already in memory (an upload): a zip archive's members under the same guards as a zip on
    disk (caps, ratio, depth, no unsafe paths), anything else as one input."""
    item = InputItem(name, reader=lambda: data)
    if data[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        yield from _archive(InputItem(name), lambda: data, 1, False)
    else:
        yield item


def _archive(
    source: InputItem, read: Callable[[], bytes | BinaryIO], depth: int, all_files: bool
) -> Iterator[InputItem]:
    """The members of a zip archive (its bytes, or a seekable file of them), each an input named `archive!member`;
    a member name that occurs more than once is numbered from its second occurrence (`archive!member#2`), so every
    result can be told apart."""
    try:
        data = read()
        archive = zipfile.ZipFile(io.BytesIO(data) if isinstance(data, bytes) else data)
        members = archive.infolist()
    except (OSError, zipfile.BadZipFile, ValueError, RuntimeError) as exc:  # RuntimeError: NotImplementedError
        yield replace(source, error=f"unreadable zip archive ({exc})")
        return
    except InputError as exc:
        yield replace(source, error=exc.reason)
        return
    total = 0
    seen: dict[str, int] = {}
    for info in members:
        if info.is_dir():
            continue
        seen[info.filename] = seen.get(info.filename, 0) + 1
        member = _member(source, info.filename, seen[info.filename])
        pure = PurePosixPath(info.filename.replace("\\", "/"))
        if pure.is_absolute() or ".." in pure.parts:
            yield replace(member, error="unsafe path in archive (absolute or '..'); skipped")
            continue
        suffix = pure.suffix.lower()
        if suffix != ".zip" and not all_files and suffix not in IMAGE_SUFFIXES:
            continue
        if info.flag_bits & 0x1:
            yield replace(member, error="encrypted archive member")
            continue
        if info.file_size > MAX_MEMBER_BYTES:
            yield replace(member, error=f"archive member of {info.file_size:,} bytes exceeds the cap")
            continue
        if info.compress_size and info.file_size / info.compress_size > MAX_COMPRESSION_RATIO:
            ratio = info.file_size // info.compress_size
            yield replace(member, error=f"compression ratio {ratio}:1 looks like a zip bomb; skipped")
            continue
        total += info.file_size
        if total > MAX_ARCHIVE_BYTES:
            yield replace(member, error="archive expands past the total size cap; rest skipped")
            return
        reader = _member_reader(archive, info, member.name)
        if suffix == ".zip":
            if depth >= MAX_ARCHIVE_DEPTH:
                yield replace(member, error="archive nested too deeply; skipped")
            else:
                yield from _archive(member, reader, depth + 1, all_files)
        else:
            yield replace(member, reader=reader)


def _member(source: InputItem, filename: str, occurrence: int) -> InputItem:
    """The input for the `occurrence`-th archive member called `filename` (no reader yet)."""
    suffix = f"!{filename}" + (f"#{occurrence}" if occurrence > 1 else "")
    raw = None if source.name_bytes is None else source.name_bytes + suffix.encode()
    return InputItem(source.name + suffix, name_bytes=raw, source_path=source.source_path)


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
