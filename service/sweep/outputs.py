"""A sweep's outputs, written from its run.sqlite at the end: results.jsonl (the scan's fields, the listing under
"listing", how the image was obtained under "image"), hits.csv, a self-contained summary.html (counts, hits by work
and by seller with thumbnails and links, the offender network as a picture), and evidence bundles for hits."""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import os
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from PIL import Image

from service.engine import Engine
from service.inputs import InputItem
from service.reports.bundle import SIGNATURE, CaseInfo, build_bundle
from service.safe_text import printable, spreadsheet_text
from service.store import Store
from service.sweep.run import Counts, RunFolder

HIT_VERDICTS = ("copy", "derivative")
THUMB_SIDE = 160
NETWORK_SELLERS = 40
"""Sellers drawn in the summary's network picture (the strongest first); past that a picture is no longer read."""


def summarise(rows: Iterable[dict[str, Any]]) -> Counts:
    """The run's counts from its record (a resumed run counts every item, not only this session's)."""
    c = Counts()
    listings = set()
    for r in rows:
        listings.add(r["listing_key"])
        c.images += 1
        c.done += r["state"] == "done"
        result = r["result"] or {}
        verdict = result.get("verdict")
        c.errors += r["state"] == "done" and verdict is None
        c.hits += verdict in HIT_VERDICTS
        c.copies += verdict == "copy"
        c.derivatives += verdict == "derivative"
        c.duplicates += r["duplicate_of"] is not None
        c.near_duplicates += bool(r["image_group"]) and r["image_group"] != r["sha256"]
    c.listings = len(listings)
    return c


def line_of(row: dict[str, Any]) -> dict[str, Any]:
    """One results.jsonl line: `semblance scan`'s fields, the listing nested (no field can collide with `path`)."""
    result = dict(row["result"] or {"path": row["source"], "verdict": None, "error": "not scanned yet"})
    result["listing"] = row["listing"]
    result["image"] = {
        "index": row["image_index"],
        "source": row["source"],
        "sha256": row["sha256"],
        "pdq": row["pdq"],
        "near_duplicate_group": row["image_group"],
        "duplicate_of_item": row["duplicate_of"],
        "provenance": row["provenance"],
    }
    return result


def _atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_outputs(folder: Path, store: Store, engine: Engine | None = None, reports: bool = False) -> Counts:
    """Write results.jsonl, hits.csv and summary.html (and bundles for hits with `reports`); returns the counts."""
    run = RunFolder(folder)
    try:
        rows = list(run.rows())
    finally:
        run.close()
    lines = [line_of(r) for r in rows]
    _atomic(folder / "results.jsonl", "".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines))
    hits = [(r, x) for r, x in zip(rows, lines, strict=True) if x.get("verdict") in HIT_VERDICTS]
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(
        [
            "listing_id",
            "marketplace",
            "seller",
            "listing_url",
            "image",
            "sha256",
            "verdict",
            "ref",
            "score",
            "matched_refs",
        ]
    )
    for r, x in hits:
        m = x["matches"][0]
        w.writerow(
            [
                spreadsheet_text(r["listing"].get("listing_id", "")),
                spreadsheet_text(r["listing"].get("marketplace", "")),
                spreadsheet_text(r["listing"].get("seller", "")),
                spreadsheet_text(r["listing"].get("listing_url", "")),
                spreadsheet_text(r["source"]),
                r["sha256"],
                x["verdict"],
                spreadsheet_text(m["ref"]),
                m["score"],
                spreadsheet_text(";".join(mm["ref"] for mm in x["matches"])),
            ]
        )
    _atomic(folder / "hits.csv", buf.getvalue())
    counts = summarise(rows)
    if reports and engine is not None:
        _bundles(folder, store, engine, hits)
    _atomic(folder / "summary.html", render_summary(counts, hits, store))
    return counts


def _bundles(folder: Path, store: Store, engine: Engine, hits: list[tuple[dict[str, Any], dict[str, Any]]]) -> None:
    """One evidence bundle per distinct hit image (its first listing), kept across resumes."""
    done: set[str] = set()
    for r, _ in hits:
        if r["sha256"] in done or r["duplicate_of"] is not None:
            continue
        done.add(r["sha256"])
        out = folder / "reports" / r["sha256"][:16]
        if out.is_dir() and any((p / SIGNATURE).is_file() for p in out.iterdir()):
            continue
        data = store.findings.vault.read(r["sha256"])
        listing = r["listing"]
        info = CaseInfo(
            case_number=f"sweep {folder.name}",
            obtained=f"listing {listing.get('listing_id')} on {listing.get('marketplace') or 'an unnamed marketplace'}"
            f" ({listing.get('listing_url') or 'no listing URL'}), seller {listing.get('seller') or 'not named'}; "
            f"image {r['source']}",
        )
        build_bundle(engine, InputItem(r["source"], reader=lambda d=data: d), info, out, provenance=r["provenance"])  # type: ignore[misc]


def _thumb(store: Store, sha256: str) -> str:
    try:
        opened = Image.open(io.BytesIO(store.findings.vault.read(sha256)))
        opened.draft("RGB", (THUMB_SIDE * 2, THUMB_SIDE * 2))
        im = opened.convert("RGB")
        im.thumbnail((THUMB_SIDE, THUMB_SIDE))
        out = io.BytesIO()
        im.save(out, "JPEG", quality=80)
        return "data:image/jpeg;base64," + base64.b64encode(out.getvalue()).decode()
    except (OSError, ValueError, Image.DecompressionBombError):
        return ""


CSS = """body{font:15px/1.45 system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#1a1a1a}
h1{font-size:1.5em}h2{margin-top:1.8em;border-bottom:2px solid #333}table{border-collapse:collapse;width:100%}
td,th{border-bottom:1px solid #ccc;padding:.35em .5em;text-align:left;vertical-align:top}
.copy{color:#b3261e;font-weight:600}.derivative{color:#6a1b9a;font-weight:600}img{max-width:160px;border:1px solid #ccc}
.counts{width:auto}.counts td{font-size:1.1em;padding-left:2em}.small{color:#555;font-size:.9em}
svg text{font:12px system-ui,sans-serif}"""


def _e(value: object) -> str:
    """Text for the page: control and bidi characters shown as visible escapes (as the CLI shows them), then
    HTML-escaped, so a seller's name cannot reverse or hide what the page says."""
    return html.escape(printable(value, keep_lines=True))


def render_summary(counts: Counts, hits: list[tuple[dict[str, Any], dict[str, Any]]], store: Store) -> str:
    """The run's summary page: one file, every picture embedded, no outside resource."""
    e = _e
    thumbs: dict[str, str] = {}
    for r, _ in hits:
        if r["sha256"] not in thumbs:
            thumbs[r["sha256"]] = _thumb(store, r["sha256"])
    by_work: dict[str, list[tuple[dict[str, Any], dict[str, Any]]]] = defaultdict(list)
    by_seller: dict[str, list[tuple[dict[str, Any], dict[str, Any]]]] = defaultdict(list)
    for r, x in hits:
        for m in x["matches"]:
            if m["verdict"] in HIT_VERDICTS:
                by_work[m["ref"]].append((r, m))
        by_seller[_seller(r)].append((r, x))
    parts = [
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Sweep summary</title><style>{CSS}"
        "</style></head><body><h1>Sweep summary</h1>",
        "<table class='counts'>"
        + "".join(
            f"<tr><th>{e(k)}</th><td>{v:,}</td></tr>"
            for k, v in (
                ("listings", counts.listings),
                ("images", counts.images),
                ("hits", counts.hits),
                ("copies", counts.copies),
                ("derivatives", counts.derivatives),
                ("unreadable or not fetched", counts.errors),
                ("identical re-uploads", counts.duplicates),
                ("near-identical re-uploads", counts.near_duplicates),
            )
        )
        + "</table>",
        "<h2>Offender network</h2><p class='small'>Sellers (left) offered images (middle) that match registered "
        "works (right); red lines are copies, purple derivatives. An image shared by two sellers links them.</p>",
        network_svg(hits),
        "<h2>Hits by work</h2>",
    ]
    for ref, items in sorted(by_work.items(), key=lambda kv: -len(kv[1])):
        parts.append(f"<h3>{e(ref)} <span class='small'>({len(items)} listing images)</span></h3><table>")
        for r, m in items:
            parts.append(_hit_row(r, m["verdict"], m["score"], thumbs))
        parts.append("</table>")
    parts.append("<h2>Hits by seller</h2>")
    for seller, items in sorted(by_seller.items(), key=lambda kv: -len(kv[1])):
        parts.append(f"<h3>{e(seller)} <span class='small'>({len(items)} listing images)</span></h3><table>")
        for r, x in items:
            parts.append(_hit_row(r, x["verdict"], x["matches"][0]["score"], thumbs, x["matches"][0]["ref"]))
        parts.append("</table>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _seller(r: dict[str, Any]) -> str:
    listing = r["listing"]
    return (
        f"{listing.get('seller') or listing.get('seller_id') or 'unnamed seller'} @ {listing.get('marketplace') or '?'}"
    )


def _hit_row(r: dict[str, Any], verdict: str, score: float, thumbs: dict[str, str], ref: str = "") -> str:
    e = _e
    listing = r["listing"]
    url = listing.get("listing_url", "")
    link = (
        f"<a href='{e(url)}'>{e(listing.get('listing_id', ''))}</a>"
        if url.startswith(("http://", "https://"))
        else e(listing.get("listing_id", ""))
    )
    img = f"<img alt='' src='{thumbs[r['sha256']]}'>" if thumbs.get(r["sha256"]) else ""
    what = f" {e(ref)}" if ref else ""
    return (
        f"<tr><td>{img}</td><td>{link}<div class='small'>{e(listing.get('title', ''))}</div>"
        f"<div class='small'>{e(r['source'])}</div></td><td class='{e(verdict)}'>{e(verdict)}{what}</td>"
        f"<td>{score:.2f}</td><td class='small'>{e(_seller(r))}</td></tr>"
    )


def network_svg(hits: list[tuple[dict[str, Any], dict[str, Any]]]) -> str:
    """Sellers, images and works as three columns joined by lines: readable up to NETWORK_SELLERS sellers."""
    e = _e
    seller_images: dict[str, set[str]] = defaultdict(set)
    image_works: dict[str, dict[str, str]] = defaultdict(dict)
    for r, x in hits:
        group = r["image_group"] or r["sha256"]
        seller_images[_seller(r)].add(group)
        for m in x["matches"]:
            if m["verdict"] in HIT_VERDICTS:
                image_works[group][m["ref"]] = m["verdict"]
    sellers = sorted(seller_images, key=lambda s: -len(seller_images[s]))[:NETWORK_SELLERS]
    images = sorted({g for s in sellers for g in seller_images[s]})
    works = sorted({w for g in images for w in image_works[g]})
    step = 22
    height = max(len(sellers), len(images), len(works), 1) * step + 20
    ys = {k: 20 + i * step for i, k in enumerate(sellers)}
    yi = {k: 20 + i * step for i, k in enumerate(images)}
    yw = {k: 20 + i * step for i, k in enumerate(works)}
    out = [
        f"<svg xmlns='http://www.w3.org/2000/svg' width='1000' height='{height}' role='img' "
        "aria-label='offender network'>"
    ]
    for s in sellers:
        for g in seller_images[s]:
            out.append(f"<line x1='250' y1='{ys[s]}' x2='480' y2='{yi[g]}' stroke='#888'/>")
    for g in images:
        for w, verdict in image_works[g].items():
            colour = "#b3261e" if verdict == "copy" else "#6a1b9a"
            out.append(f"<line x1='520' y1='{yi[g]}' x2='750' y2='{yw[w]}' stroke='{colour}'/>")
    for s in sellers:
        out.append(f"<text x='245' y='{ys[s] + 4}' text-anchor='end'>{e(s[:40])}</text>")
    for g in images:
        out.append(
            f"<circle cx='500' cy='{yi[g]}' r='5' fill='#333'/><text x='510' y='{yi[g] - 6}' "
            f"font-size='9'>{e(g[:8])}</text>"
        )
    for w in works:
        out.append(f"<text x='755' y='{yw[w] + 4}'>{e(w[:40])}</text>")
    out.append("</svg>")
    return "".join(out)
