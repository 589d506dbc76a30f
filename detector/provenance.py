"""What the suspect file says about itself: EXIF/XMP/IPTC metadata and AI-generation indicators.

Every indicator is quoted as found, with where it was found. Absence of indicators proves nothing (metadata is
trivially stripped), and the reports say so; presence is a lead, not proof either (metadata is trivially forged).
"""

from __future__ import annotations

import contextlib
import io
import json
import re
from dataclasses import asdict, dataclass

from PIL import ExifTags, Image, IptcImagePlugin

from detector import png_chunks

GENERATOR_SIGNATURES = (
    "stable diffusion",
    "stablediffusion",
    "automatic1111",
    "comfyui",
    "invokeai",
    "novelai",
    "midjourney",
    "dall-e",
    "dall·e",
    "dalle",
    "openai",
    "adobe firefly",
    "firefly",
    "imagen",
    "gemini",
    "leonardo.ai",
    "nightcafe",
    "dreamstudio",
    "fooocus",
    "diffusers",
    "flux",
    "ideogram",
    "runway",
    "craiyon",
)
"""Lower-case substrings of software/creator fields that name an image generator."""

PNG_GENERATOR_KEYS = {
    "parameters": "AUTOMATIC1111 / Forge style generation parameters",
    "prompt": "ComfyUI prompt graph",
    "workflow": "ComfyUI workflow",
    "Dream": "InvokeAI (legacy) dream command",
    "sd-metadata": "InvokeAI metadata",
    "invokeai_metadata": "InvokeAI metadata",
    "generation_data": "generation metadata",
    "Comment": "comment (NovelAI and others store parameters here)",
}
TRAINED_MEDIA = re.compile(r"(compositeWith)?[Tt]rainedAlgorithmicMedia|algorithmicMedia")
EXIF_FIELDS = (
    "Make",
    "Model",
    "Software",
    "DateTime",
    "DateTimeOriginal",
    "DateTimeDigitized",
    "Artist",
    "Copyright",
    "ImageDescription",
    "HostComputer",
    "LensModel",
    "BodySerialNumber",
)
MAX_QUOTE = 2000


@dataclass(frozen=True)
class Indicator:
    """One sign of AI generation found in the file, quoted verbatim (truncated to MAX_QUOTE characters)."""

    kind: str
    where: str
    quote: str
    reading: str

    def to_json(self) -> dict[str, str]:
        return asdict(self)


def read_metadata(data: bytes) -> dict[str, object]:
    """EXIF (selected fields + GPS presence), XMP packet fields, IPTC, PNG text chunks; {} if unreadable.

    PNG text is read by detector.png_chunks, within its caps, so a text chunk too large for Pillow is still quoted."""
    out: dict[str, object] = {}
    try:
        image = Image.open(io.BytesIO(data))
    except Exception:
        repaired = png_chunks.pixel_chunks_only(data)
        if repaired is None:
            return out
        try:
            image = Image.open(io.BytesIO(repaired[0]))
        except Exception:
            return out
    try:
        exif = image.getexif()
        fields = {ExifTags.TAGS.get(k, str(k)): v for k, v in exif.items()}
        with contextlib.suppress(Exception):
            fields.update({ExifTags.TAGS.get(k, str(k)): v for k, v in exif.get_ifd(ExifTags.IFD.Exif).items()})
        exif_out = {k: _text(fields[k]) for k in EXIF_FIELDS if k in fields}
        if exif.get_ifd(ExifTags.IFD.GPSInfo):
            exif_out["GPS"] = "present (coordinates not reproduced here)"
        if exif_out:
            out["exif"] = exif_out
    except Exception:
        pass
    xmp = _xmp_packet(data)
    if xmp:
        out["xmp"] = {k: v for k, v in _xmp_fields(xmp).items()}
    try:
        iptc = IptcImagePlugin.getiptcinfo(image)
        if iptc:
            out["iptc"] = {f"{k[0]}:{k[1]}": _text(v) for k, v in iptc.items()}
    except Exception:
        pass
    texts, notes = png_chunks.text_chunks(data)  # {} and [] for anything but a PNG
    if texts:
        out["png_text"] = {k: _text(v) for k, v in texts.items()}
    if notes:
        out["png_text_notes"] = notes
    return out


def ai_indicators(data: bytes, metadata: dict[str, object]) -> list[Indicator]:
    """Generator signatures found in the file's metadata and C2PA manifest, each quoted as found."""
    found: list[Indicator] = []
    png_text = metadata.get("png_text")
    if isinstance(png_text, dict):
        for key, value in png_text.items():
            if key in PNG_GENERATOR_KEYS and (key != "Comment" or _looks_generated(str(value))):
                found.append(
                    Indicator(
                        "png_text",
                        f"PNG text chunk '{key}'",
                        str(value)[:MAX_QUOTE],
                        f"{PNG_GENERATOR_KEYS[key]} written by an image-generation front end",
                    )
                )
    for section in ("exif", "xmp", "iptc"):
        fields = metadata.get(section)
        if not isinstance(fields, dict):
            continue
        for key, value in fields.items():
            text = str(value)
            if TRAINED_MEDIA.search(text):
                found.append(
                    Indicator(
                        "digital_source_type",
                        f"{section.upper()} {key}",
                        text[:MAX_QUOTE],
                        "IPTC DigitalSourceType says the image was made by a trained algorithm",
                    )
                )
            elif _names_generator(text) and key.lower() not in ("imagedescription",):
                found.append(
                    Indicator(
                        "generator_signature",
                        f"{section.upper()} {key}",
                        text[:MAX_QUOTE],
                        "a software or creator field names an image generator",
                    )
                )
    xmp = _xmp_packet(data)
    if xmp and TRAINED_MEDIA.search(xmp) and not any(i.kind == "digital_source_type" for i in found):
        m = TRAINED_MEDIA.search(xmp)
        assert m is not None
        found.append(
            Indicator(
                "digital_source_type",
                "XMP packet",
                xmp[max(0, m.start() - 120) : m.end() + 40],
                "IPTC DigitalSourceType says the image was made by a trained algorithm",
            )
        )
    found.extend(c2pa_indicators(data))
    return found


def c2pa_indicators(data: bytes) -> list[Indicator]:
    """C2PA manifest claims, read offline with c2pa-python when installed; else only the manifest's presence."""
    has_jumbf = b"c2pa" in data and b"jumb" in data
    try:
        import c2pa
    except ImportError:
        if has_jumbf:
            return [
                Indicator(
                    "c2pa",
                    "JUMBF box",
                    "C2PA manifest store present",
                    "a C2PA manifest is embedded; c2pa-python is not installed to read its claims",
                )
            ]
        return []
    if not has_jumbf:
        return []
    try:
        mime = _mime(data)
        offline = c2pa.Context(
            c2pa.Settings.from_dict({"verify": {"remote_manifest_fetch": False, "ocsp_fetch": False}})
        )
        with c2pa.Reader(mime, io.BytesIO(data), context=offline) as reader:  # never fetch anything remote
            store = json.loads(reader.json())
    except Exception as exc:  # a damaged or unsupported manifest is itself worth reporting
        return [
            Indicator(
                "c2pa",
                "C2PA manifest store",
                f"unreadable: {exc}"[:MAX_QUOTE],
                "a C2PA manifest is present but could not be read or validated",
            )
        ]
    out = []
    for label, manifest in (store.get("manifests") or {}).items():
        generator = manifest.get("claim_generator") or json.dumps(manifest.get("claim_generator_info", ""))
        out.append(
            Indicator(
                "c2pa",
                f"C2PA manifest {label}",
                f"claim_generator: {generator}"[:MAX_QUOTE],
                "the file carries a C2PA provenance manifest",
            )
        )
        for assertion in manifest.get("assertions", []):
            text = json.dumps(assertion.get("data", {}))
            if TRAINED_MEDIA.search(text):
                out.append(
                    Indicator(
                        "c2pa",
                        f"C2PA assertion {assertion.get('label')}",
                        text[:MAX_QUOTE],
                        "a C2PA action declares the content was made by a trained algorithm",
                    )
                )
    status = store.get("validation_status")
    if status:
        out.append(
            Indicator(
                "c2pa",
                "C2PA validation",
                json.dumps(status)[:MAX_QUOTE],
                "validation problems reported by the C2PA reader",
            )
        )
    return out


def _text(v: object) -> str:
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace").strip("\x00 ")[:MAX_QUOTE]
    if isinstance(v, list | tuple):
        return "; ".join(_text(x) for x in v)[:MAX_QUOTE]
    return str(v)[:MAX_QUOTE]


def _xmp_packet(data: bytes) -> str:
    start = data.find(b"<x:xmpmeta")
    if start < 0:
        return ""
    end = data.find(b"</x:xmpmeta>", start)
    return data[start : end + 12 if end > 0 else start + 65536].decode("utf-8", "replace")


def _xmp_fields(xmp: str) -> dict[str, str]:
    """Attributes and simple elements of an XMP packet, e.g. xmp:CreatorTool, Iptc4xmpExt:DigitalSourceType."""
    fields: dict[str, str] = {}
    for m in re.finditer(r'([A-Za-z0-9]+:[A-Za-z0-9]+)="([^"]*)"', xmp):
        if not m.group(1).startswith(("xmlns:", "rdf:", "x:")):
            fields[m.group(1)] = m.group(2)[:MAX_QUOTE]
    for m in re.finditer(r"<([A-Za-z0-9]+:[A-Za-z0-9]+)>([^<]{1,2000})</\1>", xmp):
        if not m.group(1).startswith("rdf:"):
            fields[m.group(1)] = m.group(2).strip()
    for m in re.finditer(r'<([A-Za-z0-9]+:DigitalSourceType)\s+rdf:resource="([^"]+)"', xmp):
        fields[m.group(1)] = m.group(2)
    return fields


def _names_generator(text: str) -> bool:
    low = text.lower()
    return any(sig in low for sig in GENERATOR_SIGNATURES)


def _looks_generated(text: str) -> bool:
    low = text.lower()
    return _names_generator(low) or ("steps" in low and "sampler" in low) or '"seed"' in low


def _mime(data: bytes) -> str:
    if data.startswith(b"\x89PNG"):
        return "image/png"
    if data[4:12] in (b"ftypheic", b"ftypheix", b"ftypmif1", b"ftypavif"):
        return "image/heic"
    if data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return "image/webp"
    return "image/jpeg"
