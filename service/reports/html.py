"""A self-contained HTML report (images embedded, no external resources) from an evidence dictionary."""

from __future__ import annotations

import base64
import json
from html import escape
from typing import Any

from service.reports import sections

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1040px;margin:2em auto;color:#1b1b1b;
line-height:1.45;padding:0 1em}
h1{font-size:1.6em;margin-bottom:.2em}h2{border-bottom:2px solid #333;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;width:100%;margin:.6em 0}td,th{border:1px solid #bbb;padding:.35em .5em;
vertical-align:top;text-align:left;font-size:.92em}th{background:#f0f0f0;width:26%}
code,.hash{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.85em;word-break:break-all}
.verdict-copy{color:#b00020;font-weight:700}.verdict-derivative{color:#7b1fa2;font-weight:700}
.verdict-no_match{color:#1b5e20;font-weight:700}.note{background:#fff8e1;border-left:4px solid #f9a825;padding:.6em 1em}
img{max-width:100%;border:1px solid #ccc}.small{font-size:.85em;color:#555}
"""


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
    sus, method = ev["suspect"], ev["method"]
    title = ev["case"].get("case_number") or sus["name"]
    parts = [
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Semblance report {escape(title)}"
        f"</title><style>{CSS}</style></head><body>"
    ]
    add = parts.append
    add("<h1>Technical comparison report</h1>")
    add(
        f"<p class='small'>Generated {escape(ev['generated_at'])} (UTC) by {escape(method['software'])}. "
        f"Evidence format {escape(ev['format'])}.</p>"
    )
    add("<h2>Case</h2>" + _kv(sections.case_rows(ev)))
    add(
        f"<h2>Finding</h2><p>Overall technical verdict: <span class='verdict-{ev['overall_verdict']}'>"
        f"{escape(ev['overall_verdict'])}</span>.</p><p>{escape(ev['conclusion'])}</p>"
        f"<p class='note'>{escape(ev['legal_note'])}</p>"
    )
    add("<h2>Suspect file</h2>" + _kv(sections.suspect_rows(ev)))
    meta = sus.get("metadata") or {}
    add("<h3>Metadata found in the file</h3>")
    add(_kv(list(meta.items())) if meta else f"<p>{sections.NO_METADATA}</p>")
    add("<h3>AI-generation indicators</h3>")
    if ev["ai_indicators"]:
        add(
            "<table><tr><th>Where</th><th>Quoted as found</th><th>Reading</th></tr>"
            + "".join(
                f"<tr><td>{escape(i['where'])}</td><td class='hash'>{escape(i['quote'])}</td><td>{escape(i['reading'])}"
                "</td></tr>"
                for i in ev["ai_indicators"]
            )
            + "</table>"
        )
    add(f"<p class='note'>{escape(ev['ai_indicators_note'])}</p>")
    for m in ev["matches"]:
        add(f"<h2>Match {m['rank']}: {escape(m['work'].get('title') or m['ref'])}</h2>")
        add(
            f"<p>Verdict <span class='verdict-{m['verdict']}'>{escape(m['verdict'])}</span>, fused score "
            f"<b>{m['score']:.4f}</b>: {escape(m['verbal'])}. {escape(m.get('score_basis_reading', ''))}</p>"
        )
        add("<h3>Registered work</h3>" + _kv(sections.work_rows(m)))
        for name, caption in sections.figures(m):
            add(_img(images, name, caption))
        add("<h3>Signals</h3><table><tr><th>Signal</th><th>Values</th><th>Plain-language reading</th></tr>")
        for name, values in sections.signal_rows(m):
            add(
                f"<tr><td>{escape(name)}</td><td class='hash'>{escape(json.dumps(values, ensure_ascii=False))}</td>"
                f"<td>{escape(m['readings'].get(name, ''))}</td></tr>"
            )
        add("</table>")
        add(f"<p>{escape(sections.region_sentence(m))}</p>")
    add("<h2>Method</h2>" + _kv(sections.method_rows(ev)))
    add("<h3>Known limitations</h3><ul>" + "".join(f"<li>{escape(x)}</li>" for x in method["limitations"]) + "</ul>")
    add(f"<h2>Integrity</h2><p>{escape(sections.integrity_text(ev))}</p>")
    add("</body></html>")
    return "\n".join(parts)
