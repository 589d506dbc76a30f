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

from service.reports import sections

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
    sus, method = ev["suspect"], ev["method"]
    doc = SimpleDocTemplate(
        buf,
        pagesize=A4,
        leftMargin=15 * mm,
        rightMargin=15 * mm,
        topMargin=15 * mm,
        bottomMargin=15 * mm,
        title=f"Semblance report {ev['case'].get('case_number', '')}",
        author=ev["case"].get("examiner", ""),
        invariant=True,
    )
    s: list[Any] = [
        Paragraph("Technical comparison report", STYLES["Title"]),
        _p(f"Generated {ev['generated_at']} (UTC) by {method['software']}; evidence format {ev['format']}."),
    ]
    s += [Paragraph("Case", STYLES["Heading2"]), _table(sections.case_rows(ev))]
    s += [
        Paragraph("Finding", STYLES["Heading2"]),
        _p(f"Overall technical verdict: {ev['overall_verdict']}."),
        _p(ev["conclusion"]),
        Spacer(1, 3 * mm),
        _p(ev["legal_note"], NOTE),
    ]
    s += [Paragraph("Suspect file", STYLES["Heading2"]), _table(sections.suspect_rows(ev))]
    meta = sus.get("metadata") or {}
    s += [
        Paragraph("Metadata found in the file", STYLES["Heading3"]),
        _table(list(meta.items())) if meta else _p(sections.NO_METADATA),
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
        s.append(
            KeepTogether(
                [
                    Paragraph(f"Match {m['rank']}: {escape(m['work'].get('title') or m['ref'])}", STYLES["Heading2"]),
                    _p(
                        f"Verdict {m['verdict']}, fused score {m['score']:.4f}: {m['verbal']}. "
                        f"{m.get('score_basis_reading', '')}"
                    ),
                ]
            )
        )
        s.append(_table(sections.work_rows(m)))
        for name, caption in sections.figures(m):
            if name in images:
                s += [Spacer(1, 2 * mm), KeepTogether([_image(images[name]), _p(caption)])]
        s += [Paragraph("Signals", STYLES["Heading3"]), _table(sections.signal_rows(m))]
        s += [_p(f"{n}: {m['readings'].get(n, '')}") for n in m["signals"]]
        s.append(_p(sections.region_sentence(m)))
    s += [Paragraph("Method", STYLES["Heading2"]), _table(sections.method_rows(ev))]
    s += [Paragraph("Known limitations", STYLES["Heading3"])] + [_p(f"- {x}") for x in method["limitations"]]
    s += [Paragraph("Integrity", STYLES["Heading2"]), _p(sections.integrity_text(ev))]
    doc.build(s)
    return buf.getvalue()
