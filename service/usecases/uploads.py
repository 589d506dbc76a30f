"""What arrives in one upload of seized files: each image kept under its name, each zip opened (in memory, members
capped as service.inputs does) into its images, anything else named with why it is refused; and whether the upload
is one image to scan at once or a batch for a job. The doors turn a refusal into their own answer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from service.inputs import InputError, from_bytes
from service.untrusted import IMAGE_KINDS, printable, sniff

NOT_AN_IMAGE = "not an image nor a zip archive (judged by its content, not its name)"


class UploadRefused(Exception):
    """The whole upload is refused: `why` says what, `kind` which rule (too many files, a lone file that is not an
    image, nothing in it)."""

    def __init__(self, why: str, kind: Literal["too_many", "not_an_image", "empty"]) -> None:
        super().__init__(why)
        self.why = why
        self.kind = kind


@dataclass(frozen=True)
class Arrival:
    """One file of the upload: its printable name, and its bytes, or None with why it cannot be kept as an image."""

    name: str
    data: bytes | None
    why: str = ""


def unpack(uploads: list[tuple[str, bytes]], max_files: int) -> tuple[list[Arrival], bool]:
    """Every file of the upload (zip members in their place) and whether it is a single image to scan at once; a
    file's kind comes from its first bytes. UploadRefused past `max_files` files, for a lone file that is not an
    image, and for an upload with nothing in it."""
    arrivals: list[Arrival] = []
    single = len(uploads) == 1
    for name, data in uploads:
        kind = sniff(data)
        if kind == "zip":
            single = False
            for member in from_bytes(name, data):
                shown = printable(member.name)
                try:
                    content = member.read()
                except InputError as exc:
                    arrivals.append(Arrival(shown, None, exc.reason))
                    continue
                if sniff(content) in IMAGE_KINDS:
                    arrivals.append(Arrival(shown, content))
                else:
                    arrivals.append(Arrival(shown, None, "not an image (judged by its content, not its name)"))
        elif kind in IMAGE_KINDS:
            arrivals.append(Arrival(name, data))
        else:
            arrivals.append(Arrival(name, None, NOT_AN_IMAGE))
        if len(arrivals) > max_files:
            raise UploadRefused(f"more than {max_files:,} files in one upload", "too_many")
    if single and arrivals and arrivals[0].data is None:
        raise UploadRefused(f"{arrivals[0].name}: {arrivals[0].why}", "not_an_image")
    if not arrivals:
        raise UploadRefused("no image in the upload", "empty")
    return arrivals, single
