"""A self-contained HTML report (images embedded, no external resources) from an evidence dictionary."""

from __future__ import annotations

import base64
import json
from html import escape
from typing import Any

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


def _kv(rows: list[tuple[str, object]]) -> str:
    out = []
    for k, v in rows:
        value = v if isinstance(v, str) else json.dumps(v, ensure_ascii=False, default=str)
        cls = ' class="hash"' if k.lower().endswith(("sha256", "md5", "fingerprint", "commit")) else ""
        out.append(f"<tr><th>{escape(k)}</th><td{cls}>{escape(value)}</td></tr>")
    return "<table>" + "".join(out) + "</table>"


def _img(images: dict[str, bytes], name: str, alt: str) -> str:
    if name not in images:
        return ""
    data = base64.b64encode(images[name]).decode()
    return (
        f'<figure><img alt="{escape(alt)}" src="data:image/jpeg;base64,{data}"><figcaption class="small">'
        f"{escape(alt)} ({escape(name)})</figcaption></figure>"
    )


def render_html(ev: dict[str, Any], images: dict[str, bytes]) -> str:
    case, sus, method = ev["case"], ev["suspect"], ev["method"]
    th = method["thresholds"]
    parts = [
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Semblance report "
        f"{escape(case.get('case_number') or sus['name'])}</title><style>{CSS}</style></head><body>"
    ]
    add = parts.append
    add("<h1>Technical comparison report</h1>")
    add(
        f"<p class='small'>Generated {escape(ev['generated_at'])} (UTC) by {escape(method['software'])}. "
        f"Evidence format {escape(ev['format'])}.</p>"
    )
    add(
        "<h2>Case</h2>"
        + _kv(
            [
                ("Case number", case.get("case_number", "")),
                ("Examiner", case.get("examiner", "")),
                ("Requesting authority", case.get("authority", "")),
                ("Date and time (UTC)", ev["generated_at"]),
                ("Notes", case.get("notes", "")),
            ]
        )
    )
    add(
        f"<h2>Finding</h2><p>Overall technical verdict: <span class='verdict-{ev['overall_verdict']}'>"
        f"{escape(ev['overall_verdict'])}</span>.</p><p>{escape(ev['conclusion'])}</p>"
        f"<p class='note'>{escape(ev['legal_note'])}</p>"
    )
    add(
        "<h2>Suspect file</h2>"
        + _kv(
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
        )
    )
    meta = sus.get("metadata") or {}
    add("<h3>Metadata found in the file</h3>")
    add(
        _kv([(section, fields) for section, fields in meta.items()])
        if meta
        else "<p>No EXIF, XMP, IPTC or PNG text metadata was found.</p>"
    )
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
        w = m["work"]
        add(f"<h2>Match {m['rank']}: {escape(w.get('title') or m['ref'])}</h2>")
        add(
            f"<p>Verdict <span class='verdict-{m['verdict']}'>{escape(m['verdict'])}</span>, fused score "
            f"<b>{m['score']:.4f}</b>: {escape(m['verbal'])}.</p>"
        )
        add(
            "<h3>Registered work</h3>"
            + _kv(
                [
                    ("Reference", m["ref"]),
                    ("Title", w.get("title", "")),
                    ("Author", w.get("author", "")),
                    ("Rights holder", w.get("rights_holder", "")),
                    ("Registration number", w.get("registration_no", "")),
                    ("Source", w.get("source_url", "")),
                    ("Registered (UTC)", w.get("registered_at", "")),
                    ("Registered original SHA-256", w["sha256"]),
                    ("Dimensions", f"{w['width']} x {w['height']} px"),
                    ("Bundle copy", m["original_file"]),
                ]
            )
        )
        add(
            _img(
                images,
                f"figures/match-{m['rank']}-side-by-side.jpg",
                "Suspect (left) and registered original (right); red: the matched region; lines: keypoint "
                "correspondences",
            )
        )
        add(
            _img(
                images,
                f"figures/match-{m['rank']}-overlay.jpg",
                "Matched area of the suspect, the original aligned onto it, and their absolute difference",
            )
        )
        add("<h3>Signals</h3><table><tr><th>Signal</th><th>Values</th><th>Plain-language reading</th></tr>")
        for name, values in m["signals"].items():
            shown = {k: v for k, v in values.items() if k not in ("homography",)}
            add(
                f"<tr><td>{escape(name)}</td><td class='hash'>{escape(json.dumps(shown, ensure_ascii=False))}</td>"
                f"<td>{escape(m['readings'].get(name, ''))}</td></tr>"
            )
        add("</table>")
        add(
            f"<p>Signals agreeing on their own: {escape(', '.join(m['agreeing_signals']) or 'none')}. Region in the "
            f"suspect: <code>{escape(json.dumps(m['region']))}</code> (from {escape(str(m['region_source']))}); in "
            f"the original: <code>{escape(json.dumps(m['reference_region']))}</code>.</p>"
        )
    add(
        "<h2>Method</h2>"
        + _kv(
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
                ("Measured error rates at these thresholds", th.get("rates") or "not calibrated"),
            ]
        )
    )
    add("<h3>Known limitations</h3><ul>" + "".join(f"<li>{escape(x)}</li>" for x in method["limitations"]) + "</ul>")
    add(
        "<h2>Integrity</h2><p>This report is part of an evidence bundle whose <code>manifest.json</code> lists the "
        "SHA-256 of every file and is signed with the workspace's Ed25519 key (fingerprint "
        f"<span class='hash'>{escape(ev.get('signing_key_fingerprint', ''))}</span>). "
        "<code>semblance verify-report BUNDLE</code> checks the signature and every hash; "
        "<code>semblance reproduce BUNDLE</code> recomputes every number from the bundle's own input files.</p>"
    )
    add("</body></html>")
    return "\n".join(parts)
