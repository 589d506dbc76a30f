"""The PDF report, built with ReportLab (pure Python, no system libraries: installs on an air-gapped machine).

It carries the same content as the HTML: case, finding, suspect intake with hashes, AI indicators, each match
with its figures and signal readings, the method with error rates, limitations and the integrity statement.
Long hashes and JSON wrap inside their cells, so nothing is cut off. A Chinese report embeds (a subset of) a CJK
TrueType font from the system, WenQuanYi Zen Hei from Debian's fonts-wqy-zenhei by default, so a court's computer
shows the same glyphs without any font installed; CFF-based OpenType fonts (Noto CJK) cannot be embedded by
ReportLab, which is why a TrueType one is required.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from PIL import Image as PILImage
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import Image, KeepTogether, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from service.i18n import translator
from service.reports import sections
from service.safe_text import printable

STYLES = getSampleStyleSheet()
BODY = ParagraphStyle("body", parent=STYLES["BodyText"], fontSize=9, leading=11.5)
MONO = ParagraphStyle("mono", parent=BODY, fontName="Courier", fontSize=7.5, leading=9, wordWrap="CJK")
KEY = ParagraphStyle("key", parent=BODY, fontName="Helvetica-Bold")
NOTE = ParagraphStyle("note", parent=BODY, backColor=colors.HexColor("#fff8e1"), borderPadding=4)
WIDTH = A4[0] - 30 * mm
CJK_FONT = "SemblanceCJK"
CJK_FONT_FILES = (
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/arphic/uming.ttc",
)
"""TrueType CJK fonts looked for, in order; SEMBLANCE_CJK_FONT names another file."""


class ReportFontError(RuntimeError):
    """No CJK TrueType font to embed in a Chinese PDF; the message says which package brings one."""


def cjk_font_file() -> Path:
    """The CJK TrueType font a Chinese PDF embeds, or ReportFontError naming what to install."""
    for candidate in (os.environ.get("SEMBLANCE_CJK_FONT", ""), *CJK_FONT_FILES):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    raise ReportFontError(
        "a Chinese PDF embeds a CJK TrueType font and none is installed: install Debian's fonts-wqy-zenhei "
        "(apt-get install fonts-wqy-zenhei) or set SEMBLANCE_CJK_FONT to a .ttf/.ttc file"
    )


def styles(lang: str) -> tuple[ParagraphStyle, ParagraphStyle, ParagraphStyle, ParagraphStyle, dict[str, Any]]:
    """Body, mono, key and note styles, and headings, in fonts that have the language's glyphs."""
    if lang == "en":
        return BODY, MONO, KEY, NOTE, {k: STYLES[k] for k in ("Title", "Heading2", "Heading3")}
    if CJK_FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(TTFont(CJK_FONT, str(cjk_font_file()), subfontIndex=0))
    cjk = {"fontName": CJK_FONT, "wordWrap": "CJK"}
    body = ParagraphStyle("body-cjk", parent=BODY, **cjk)
    heads = {k: ParagraphStyle(f"{k}-cjk", parent=STYLES[k], **cjk) for k in ("Title", "Heading2", "Heading3")}
    return (
        body,
        ParagraphStyle("mono-cjk", parent=MONO, **cjk),
        ParagraphStyle("key-cjk", parent=KEY, **cjk),
        ParagraphStyle("note-cjk", parent=NOTE, **cjk),
        heads,
    )


def paragraph(text: object, style: ParagraphStyle = BODY) -> Paragraph:
    """Text (or a value, as JSON) as a paragraph: escaped for reportlab's markup, control and bidi characters shown."""
    s = text if isinstance(text, str) else json.dumps(text, ensure_ascii=False, default=str)
    return Paragraph(escape(printable(s, keep_lines=True)), style)  # control and bidi characters shown, not obeyed


def _table(
    rows: Sequence[tuple[str, object]],
    mono_keys: tuple[str, ...] = (),
    fonts: tuple[ParagraphStyle, ParagraphStyle, ParagraphStyle] = (BODY, MONO, KEY),
) -> Table:
    body, mono_style, key = fonts
    data = []
    for k, v in rows:
        mono = k in mono_keys or k.lower().endswith(("sha256", "sha-256", "md5", "fingerprint", "commit"))
        data.append([paragraph(k, key), paragraph(v, mono_style if mono or not isinstance(v, str) else body)])
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


def _indicators(ev: dict[str, Any], fonts: tuple[ParagraphStyle, ParagraphStyle, ParagraphStyle]) -> list[Any]:
    """The AI-generation indicators found in the file, quoted as found with their reading (none: nothing)."""
    found = ev["ai_indicators"]
    if not found:
        return []
    rows = [(i["where"], f"{i['quote']}  --  {i['reading']}") for i in found]
    return [_table(rows, mono_keys=tuple(i["where"] for i in found), fonts=fonts)]


def render_pdf(ev: dict[str, Any], images: dict[str, bytes]) -> bytes:
    """The report in the evidence's language (`ev["language"]`, English when absent)."""
    lang = ev.get("language", "en")
    _ = translator(lang)
    body, mono, key, note, head = styles(lang)
    fonts = (body, mono, key)
    buf = io.BytesIO()
    sus, method = ev["suspect"], ev["method"]
    doc = SimpleDocTemplate(
        buf,
        pagesize=A4,
        leftMargin=15 * mm,
        rightMargin=15 * mm,
        topMargin=15 * mm,
        bottomMargin=15 * mm,
        title=f"{_('Semblance report')} {ev['case'].get('case_number', '')}",
        author=ev["case"].get("examiner", ""),
        lang="zh-Hans" if lang == "zh" else "en",
        invariant=True,
    )

    def h(level: str, text: str) -> Paragraph:
        return Paragraph(escape(printable(text, keep_lines=True)), head[level])

    s: list[Any] = [
        h("Title", _("Technical comparison report")),
        paragraph(sections.generated_line(ev, _), body),
    ]
    s += [h("Heading2", _("Case")), _table(sections.case_rows(ev, _), fonts=fonts)]
    s += [
        h("Heading2", _("Finding")),
        paragraph(f"{_('Overall technical verdict')}: {_(ev['overall_verdict'])}", body),
        paragraph(sections.conclusion(ev, _), body),
        Spacer(1, 3 * mm),
        paragraph(_(ev["legal_note"]), note),
    ]
    recorded = sections.recorded_lines(ev, _)
    if recorded:
        s += [h("Heading2", _("The finding as recorded")), *(paragraph(x, body) for x in recorded)]
    s += [h("Heading2", _("Suspect file")), _table(sections.suspect_rows(ev, _), fonts=fonts)]
    meta = sus.get("metadata") or {}
    s += [
        h("Heading3", _("Metadata found in the file")),
        _table(list(meta.items()), fonts=fonts) if meta else paragraph(_(sections.NO_METADATA), body),
    ]
    s.append(h("Heading3", _("AI-generation indicators")))
    s += _indicators(ev, fonts)
    s.append(paragraph(_(ev["ai_indicators_note"]), note))
    for m in ev["matches"]:
        s.append(
            KeepTogether(
                [
                    h("Heading2", sections.match_heading(m, _)),
                    paragraph(
                        f"{_('Verdict')} {_(m['verdict'])}, {_('fused score')} {m['score']:.4f}: "
                        + sections.match_reading(m, _),
                        body,
                    ),
                ]
            )
        )
        s.append(_table(sections.work_rows(m, _), fonts=fonts))
        for name, caption in sections.figures(m, _):
            if name in images:
                s += [Spacer(1, 2 * mm), KeepTogether([_image(images[name]), paragraph(caption, body)])]
        s += [h("Heading3", _("Signals")), _table(sections.signal_rows(m, _), fonts=fonts)]
        s += [paragraph(f"{_(n)}: {m['readings'].get(n, '')}", body) for n in m["signals"]]
        if lang != "en":
            s.append(paragraph(_(sections.READINGS_IN_ENGLISH), body))
        s.append(paragraph(sections.region_sentence(m, _), body))
    s += [h("Heading2", _("Method")), _table(sections.method_rows(ev, _), fonts=fonts)]
    s += [h("Heading3", _("Known limitations"))] + [paragraph(f"- {_(x)}", body) for x in method["limitations"]]
    s += [h("Heading2", _("Integrity")), paragraph(sections.integrity_text(ev, _), body)]
    doc.build(s)
    return buf.getvalue()
