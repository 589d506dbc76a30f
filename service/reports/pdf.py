"""The PDF report, built with ReportLab (pure Python, no system libraries: installs on an air-gapped machine).

It carries the same content as the HTML: case, finding, suspect intake with hashes, AI indicators, each match
with its figures and signal readings, the method with error rates, limitations and the integrity statement.
Long hashes and JSON wrap inside their cells, so nothing is cut off.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from typing import Any
from xml.sax.saxutils import escape

from PIL import Image as PILImage
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import Image, KeepTogether, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

STYLES = getSampleStyleSheet()
BODY = ParagraphStyle("body", parent=STYLES["BodyText"], fontSize=9, leading=11.5)
MONO = ParagraphStyle("mono", parent=BODY, fontName="Courier", fontSize=7.5, leading=9, wordWrap="CJK")
KEY = ParagraphStyle("key", parent=BODY, fontName="Helvetica-Bold")
NOTE = ParagraphStyle("note", parent=BODY, backColor=colors.HexColor("#fff8e1"), borderPadding=4)
WIDTH = A4[0] - 30 * mm


def _p(text: object, style: ParagraphStyle = BODY) -> Paragraph:
    s = text if isinstance(text, str) else json.dumps(text, ensure_ascii=False, default=str)
    return Paragraph(escape(s), style)


def _table(rows: Sequence[tuple[str, object]], mono_keys: tuple[str, ...] = ()) -> Table:
    data = []
    for k, v in rows:
        mono = k in mono_keys or k.lower().endswith(("sha256", "md5", "fingerprint", "commit"))
        data.append([_p(k, KEY), _p(v, MONO if mono or not isinstance(v, str) else BODY)])
    t = Table(data, colWidths=[WIDTH * 0.27, WIDTH * 0.73])
    t.setStyle(
        TableStyle(
            [
                ("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("BACKGROUND", (0, 0), (0, -1), colors.HexColor("#f0f0f0")),
            ]
        )
    )
    return t


def _image(data: bytes, max_height: float = 95 * mm) -> Image:
    w, h = PILImage.open(io.BytesIO(data)).size
    scale = min(WIDTH / w, max_height / h)
    return Image(io.BytesIO(data), width=w * scale, height=h * scale)


def render_pdf(ev: dict[str, Any], images: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    case, sus, method = ev["case"], ev["suspect"], ev["method"]
    th = method["thresholds"]
    doc = SimpleDocTemplate(
        buf,
        pagesize=A4,
        leftMargin=15 * mm,
        rightMargin=15 * mm,
        topMargin=15 * mm,
        bottomMargin=15 * mm,
        title=f"Semblance report {case.get('case_number', '')}",
        author=case.get("examiner", ""),
        invariant=True,
    )
    s: list[Any] = [
        Paragraph("Technical comparison report", STYLES["Title"]),
        _p(f"Generated {ev['generated_at']} (UTC) by {method['software']}; evidence format {ev['format']}."),
    ]
    s += [
        Paragraph("Case", STYLES["Heading2"]),
        _table(
            [
                ("Case number", case.get("case_number", "")),
                ("Examiner", case.get("examiner", "")),
                ("Requesting authority", case.get("authority", "")),
                ("Date and time (UTC)", ev["generated_at"]),
                ("Notes", case.get("notes", "")),
            ]
        ),
    ]
    s += [
        Paragraph("Finding", STYLES["Heading2"]),
        _p(f"Overall technical verdict: {ev['overall_verdict']}."),
        _p(ev["conclusion"]),
        Spacer(1, 3 * mm),
        _p(ev["legal_note"], NOTE),
    ]
    s += [
        Paragraph("Suspect file", STYLES["Heading2"]),
        _table(
            [
                ("File name", sus["name"]),
                ("Size (bytes)", str(sus["size_bytes"])),
                ("SHA-256", sus["sha256"]),
                ("MD5", sus["md5"]),
                ("Format", sus["format"]),
                ("Dimensions", f"{sus['width']} x {sus['height']} px"),
                ("How obtained", sus.get("obtained") or "not stated"),
                ("Bundle copy", sus["file"]),
            ]
        ),
    ]
    meta = sus.get("metadata") or {}
    s += [
        Paragraph("Metadata found in the file", STYLES["Heading3"]),
        _table(list(meta.items())) if meta else _p("No EXIF, XMP, IPTC or PNG text metadata was found."),
    ]
    s.append(Paragraph("AI-generation indicators", STYLES["Heading3"]))
    if ev["ai_indicators"]:
        s.append(
            _table(
                [(i["where"], f"{i['quote']}  --  {i['reading']}") for i in ev["ai_indicators"]],
                mono_keys=tuple(i["where"] for i in ev["ai_indicators"]),
            )
        )
    s.append(_p(ev["ai_indicators_note"], NOTE))
    for m in ev["matches"]:
        w = m["work"]
        block: list[Any] = [
            Paragraph(f"Match {m['rank']}: {escape(w.get('title') or m['ref'])}", STYLES["Heading2"]),
            _p(f"Verdict {m['verdict']}, fused score {m['score']:.4f}: {m['verbal']}."),
        ]
        s.append(KeepTogether(block))
        s.append(
            _table(
                [
                    ("Reference", m["ref"]),
                    ("Title", w.get("title", "")),
                    ("Author", w.get("author", "")),
                    ("Rights holder", w.get("rights_holder", "")),
                    ("Registration number", w.get("registration_no", "")),
                    ("Registered (UTC)", w.get("registered_at", "")),
                    ("Registered original SHA-256", w["sha256"]),
                    ("Dimensions", f"{w['width']} x {w['height']} px"),
                    ("Bundle copy", m["original_file"]),
                ]
            )
        )
        for name, caption in (
            (
                f"figures/match-{m['rank']}-side-by-side.jpg",
                "Suspect (left), registered original (right); red: matched region; lines: keypoint correspondences.",
            ),
            (
                f"figures/match-{m['rank']}-overlay.jpg",
                "Matched area of the suspect, the original aligned onto it, absolute difference.",
            ),
        ):
            if name in images:
                s += [Spacer(1, 2 * mm), KeepTogether([_image(images[name]), _p(caption)])]
        rows = [(n, {k: v for k, v in vals.items() if k != "homography"}) for n, vals in m["signals"].items()]
        s += [Paragraph("Signals", STYLES["Heading3"]), _table(rows)]
        s += [_p(f"{n}: {m['readings'].get(n, '')}") for n in m["signals"]]
        s.append(
            _p(
                f"Signals agreeing on their own: {', '.join(m['agreeing_signals']) or 'none'}. Region in the "
                f"suspect ({m['region_source']}): {json.dumps(m['region'])}; in the original: "
                f"{json.dumps(m['reference_region'])}."
            )
        )
    s += [
        Paragraph("Method", STYLES["Heading2"]),
        _table(
            [
                ("Software", method["software"]),
                ("Git commit", method["git_commit"]),
                ("Embedder", method["embedder"]),
                ("Signals", method["signals"]),
                ("Index", method["index"]),
                ("Exact re-scoring", method["rescoring"]),
                (
                    "Thresholds",
                    {
                        k: th.get(k)
                        for k in (
                            "version",
                            "copy_threshold",
                            "derivative_threshold",
                            "copy_min_inliers",
                            "copy_max_pdq_distance",
                            "derivation",
                        )
                    },
                ),
                ("Measured error rates", th.get("rates") or "not calibrated"),
            ]
        ),
    ]
    s += [Paragraph("Known limitations", STYLES["Heading3"])] + [_p(f"- {x}") for x in method["limitations"]]
    s += [
        Paragraph("Integrity", STYLES["Heading2"]),
        _p(
            "This report is part of an evidence bundle whose manifest.json lists the SHA-256 of every file and is "
            f"signed with the workspace's Ed25519 key (fingerprint {ev.get('signing_key_fingerprint', '')}). "
            "`semblance verify-report BUNDLE` checks the signature and every hash; `semblance reproduce BUNDLE` "
            "recomputes every number from the bundle's own input files."
        ),
    ]
    doc.build(s)
    return buf.getvalue()
