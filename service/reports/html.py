"""A self-contained HTML report (images embedded, no external resources) from an evidence dictionary."""

from __future__ import annotations

import base64
import html
import json
from typing import Any

from service.i18n import translator
from service.reports import sections
from service.safe_text import printable

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,"Noto Sans CJK SC","WenQuanYi Zen Hei",sans-serif;
max-width:1040px;margin:2em auto;color:#1b1b1b;
line-height:1.45;padding:0 1em}
h1{font-size:1.6em;margin-bottom:.2em}h2{border-bottom:2px solid #333;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;width:100%;margin:.6em 0}td,th{border:1px solid #bbb;padding:.35em .5em;
vertical-align:top;text-align:left;font-size:.92em}th{background:#f0f0f0;width:26%}
code,.hash{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.85em;word-break:break-all}
.verdict-copy{color:#b00020;font-weight:700}.verdict-derivative{color:#7b1fa2;font-weight:700}
.verdict-no_match{color:#1b5e20;font-weight:700}.note{background:#fff8e1;border-left:4px solid #f9a825;padding:.6em 1em}
img{max-width:100%;border:1px solid #ccc}.small{font-size:.85em;color:#555}
"""


def escape(value: object) -> str:
    """Report text for HTML: control and bidi characters made visible (as the CLI shows them), then escaped, so a
    name in the evidence cannot reverse or hide what the report says."""
    return html.escape(printable(value, keep_lines=True))


def _kv(rows: sections.Rows) -> str:
    out = []
    for k, v in rows:
        value = v if isinstance(v, str) else json.dumps(v, ensure_ascii=False, default=str)
        mono = k.lower().endswith(("sha256", "md5", "fingerprint", "commit")) or not isinstance(v, str)
        cls = " class='hash'" if mono else ""
        out.append(f"<tr><th>{escape(k)}</th><td{cls}>{escape(value)}</td></tr>")
    return "<table>" + "".join(out) + "</table>"


def _img(images: dict[str, bytes], name: str, caption: str) -> str:
    if name not in images:
        return ""
    data = base64.b64encode(images[name]).decode()
    return (
        f'<figure><img alt="{escape(caption)}" src="data:image/jpeg;base64,{data}"><figcaption class="small">'
        f"{escape(caption)} ({escape(name)})</figcaption></figure>"
    )


def render_html(ev: dict[str, Any], images: dict[str, bytes]) -> str:
    """The report in the evidence's language (`ev["language"]`, English when absent)."""
    lang = ev.get("language", "en")
    _ = translator(lang)
    sus, method = ev["suspect"], ev["method"]
    title = ev["case"].get("case_number") or sus["name"]
    parts = [
        f"<!doctype html><html lang='{'zh-Hans' if lang == 'zh' else 'en'}'><head><meta charset='utf-8'>"
        f"<title>{escape(_('Semblance report'))} {escape(title)}</title><style>{CSS}</style></head><body>"
    ]
    add = parts.append
    add(f"<h1>{escape(_('Technical comparison report'))}</h1>")
    add("<p class='small'>" + escape(sections.generated_line(ev, _)) + "</p>")
    add(f"<h2>{escape(_('Case'))}</h2>" + _kv(sections.case_rows(ev, _)))
    verdict = ev["overall_verdict"]
    add(
        f"<h2>{escape(_('Finding'))}</h2><p>{escape(_('Overall technical verdict'))}: "
        f"<span class='verdict-{escape(verdict)}'>{escape(_(verdict))}</span></p>"
        f"<p>{escape(sections.conclusion(ev, _))}</p><p class='note'>{escape(_(ev['legal_note']))}</p>"
    )
    recorded = sections.recorded_lines(ev, _)
    if recorded:
        add(f"<h2>{escape(_('The finding as recorded'))}</h2>" + "".join(f"<p>{escape(x)}</p>" for x in recorded))
    add(f"<h2>{escape(_('Suspect file'))}</h2>" + _kv(sections.suspect_rows(ev, _)))
    meta = sus.get("metadata") or {}
    add(f"<h3>{escape(_('Metadata found in the file'))}</h3>")
    add(_kv(list(meta.items())) if meta else f"<p>{escape(_(sections.NO_METADATA))}</p>")
    add(f"<h3>{escape(_('AI-generation indicators'))}</h3>")
    if ev["ai_indicators"]:
        add(
            f"<table><tr><th>{escape(_('Where'))}</th><th>{escape(_('Quoted as found'))}</th>"
            f"<th>{escape(_('Reading'))}</th></tr>"
            + "".join(
                f"<tr><td>{escape(i['where'])}</td><td class='hash'>{escape(i['quote'])}</td><td>{escape(i['reading'])}"
                "</td></tr>"
                for i in ev["ai_indicators"]
            )
            + "</table>"
        )
    add(f"<p class='note'>{escape(_(ev['ai_indicators_note']))}</p>")
    for m in ev["matches"]:
        add(f"<h2>{escape(sections.match_heading(m, _))}</h2>")
        add(
            f"<p>{escape(_('Verdict'))} <span class='verdict-{escape(m['verdict'])}'>{escape(_(m['verdict']))}</span>, "
            f"{escape(_('fused score'))} <b>{m['score']:.4f}</b>: {escape(sections.match_reading(m, _))}</p>"
        )
        add(f"<h3>{escape(_('Registered work'))}</h3>" + _kv(sections.work_rows(m, _)))
        for name, caption in sections.figures(m, _):
            add(_img(images, name, caption))
        add(
            f"<h3>{escape(_('Signals'))}</h3><table><tr><th>{escape(_('Signal'))}</th><th>{escape(_('Values'))}</th>"
            f"<th>{escape(_('Plain-language reading'))}</th></tr>"
        )
        for (label, values), name in zip(sections.signal_rows(m, _), m["signals"], strict=True):
            add(
                f"<tr><td>{escape(label)}</td><td class='hash'>{escape(json.dumps(values, ensure_ascii=False))}</td>"
                f"<td>{escape(m['readings'].get(name, ''))}</td></tr>"
            )
        add("</table>")
        if lang != "en":
            add(f"<p class='small'>{escape(_(sections.READINGS_IN_ENGLISH))}</p>")
        add(f"<p>{escape(sections.region_sentence(m, _))}</p>")
    add(f"<h2>{escape(_('Method'))}</h2>" + _kv(sections.method_rows(ev, _)))
    add(
        f"<h3>{escape(_('Known limitations'))}</h3><ul>"
        + "".join(f"<li>{escape(_(x))}</li>" for x in method["limitations"])
        + "</ul>"
    )
    add(f"<h2>{escape(_('Integrity'))}</h2><p>{escape(sections.integrity_text(ev, _))}</p>")
    add("</body></html>")
    return "\n".join(parts)
