"""The content of a report, as labelled rows and captions, shared by the HTML and the PDF renderers so both
always say the same thing, in the report's language (`_`: service.i18n's translator; English by default)."""

from __future__ import annotations

import json
from typing import Any

from index.registry import WORK_METADATA
from service.i18n import Translate

Rows = list[tuple[str, object]]


def _same(text: str) -> str:
    return text


NO_METADATA = "No EXIF, XMP, IPTC or PNG text metadata was found."


def case_rows(ev: dict[str, Any], _: Translate = _same) -> Rows:
    case = ev["case"]
    return [
        (_("Case number"), case.get("case_number", "")),
        (_("Examiner"), case.get("examiner", "")),
        (_("Requesting authority"), case.get("authority", "")),
        (_("Date and time (UTC)"), ev["generated_at"]),
        (_("Notes"), case.get("notes", "")),
    ]


def suspect_rows(ev: dict[str, Any], _: Translate = _same) -> Rows:
    sus = ev["suspect"]
    return [
        (_("File name"), sus["name"]),
        (_("Size (bytes)"), str(sus["size_bytes"])),
        (_("SHA-256"), sus["sha256"]),
        (_("MD5"), sus["md5"]),
        (_("Format"), sus["format"]),
        (_("Dimensions"), f"{sus['width']} × {sus['height']} px"),
        (_("How obtained"), sus.get("obtained") or _("not stated")),
        (_("Bundle copy"), sus["file"]),
    ]


def work_rows(m: dict[str, Any], _: Translate = _same) -> Rows:
    w = m["work"]
    return [
        (_("Reference"), m["ref"]),
        *((_(label), w.get(name, "")) for name, label in WORK_METADATA.items()),
        (_("Registered (UTC)"), w.get("registered_at", "")),
        (_("Registered original SHA-256"), w["sha256"]),
        (_("Dimensions"), f"{w['width']} × {w['height']} px"),
        (_("Bundle copy"), m["original_file"]),
    ]


FAMILY_WORDS = {
    "all": "all copies of the calibration's works",
    "near_copy": "near copies (resized, recompressed, recoloured, bordered)",
    "crop": "crops",
    "collage": "collage panels",
    "ai": "AI re-renderings",
    "photo_of_print": "photos of prints",
    "composite": "composites (crop, recolour and watermark together)",
    "screenshot": "marketplace screenshots",
    "mockup": "product mock-ups",
    "ai_collage": "AI-rendered collages",
}
"""Plain words for the families whose rates a calibration measures (scripts/evaluate.py, service/calibrate.py)."""


def method_rows(ev: dict[str, Any], _: Translate = _same) -> Rows:
    """The method in words; the full records (embedder, signals, index, calibration) are in evidence.json."""
    method = ev["method"]
    th = method["thresholds"]
    emb = method["embedder"]
    cal = method.get("calibration") or {"version": th.get("version"), "embedder": th.get("embedder")}
    index = method.get("index") or {}
    return [
        (_("Software"), method["software"]),
        (_("Git commit"), method["git_commit"]),
        (_("Embedder"), f"{emb.get('id')} (weights SHA-256 {emb.get('weights_sha256')})"),
        (_("Signals"), ", ".join(f"{s.get('name')} v{s.get('version')}" for s in method["signals"])),
        (_("Index"), _index_words(index, _)),
        (_("Exact re-scoring"), _(method["rescoring"])),
        (
            _("Calibration"),
            _("{version} ({origin}), for embedder {embedder}").format(
                version=cal.get("version"), origin=cal.get("origin", "packaged"), embedder=cal.get("embedder")
            ),
        ),
        (_("Thresholds"), _threshold_words(th, _)),
        *rate_rows(th.get("rates") or {}, _),
    ]


def rate_rows(rates: dict[str, Any], _: Translate = _same) -> Rows:
    """The measured error rates at the thresholds in use, as sentences a reader can check: how many unrelated images
    raised each verdict, and how many copies of each family it found, with 95% intervals."""
    rows: Rows = []
    for split, row in rates.items():
        if not isinstance(row, dict) or "false_alarms" not in row:
            continue
        verdict = "copy" if split.endswith("copy") else "derivative"
        where = split.rsplit(".", 1)[0]
        lo, hi = row.get("false_alarm_ci95", [0, 0])
        rows.append(
            (
                _("False alarms of '{verdict}' ({where} data)").format(verdict=_(verdict), where=where),
                _(
                    "{n} of {total} unrelated images were given this verdict or a stronger one: {rate} "
                    "(95% interval {lo} to {hi})."
                ).format(
                    n=f"{int(row['false_alarms']):,}",
                    total=f"{int(row['negatives']):,}",
                    rate=_pct(row["false_alarm_rate"]),
                    lo=_pct(lo),
                    hi=_pct(hi),
                ),
            )
        )
        for family, words in FAMILY_WORDS.items():
            if f"tpr_{family}" not in row:
                continue
            n, rate = int(row[f"n_{family}"]), float(row[f"tpr_{family}"])
            lo, hi = row.get(f"tpr_{family}_ci95", [0, 0])
            rows.append(
                (
                    _("Copies found as '{verdict}': {family}").format(verdict=_(verdict), family=_(words)),
                    _("{found} of {n}: {rate} (95% interval {lo} to {hi}).").format(
                        found=f"{round(rate * n):,}", n=f"{n:,}", rate=_pct(rate), lo=_pct(lo), hi=_pct(hi)
                    ),
                )
            )
    return rows or [(_("Measured error rates"), _("not calibrated: no rates were measured for these thresholds"))]


def signal_rows(m: dict[str, Any], _: Translate = _same) -> Rows:
    """Each signal's values, rounded, as one line (the homography matrix and the raw values are in evidence.json)."""
    return [
        (_(name), "; ".join(f"{k.replace('_', ' ')} {_number(v)}" for k, v in values.items() if k != "homography"))
        for name, values in m["signals"].items()
    ]


def _pct(v: object) -> str:
    x = float(v) * 100  # type: ignore[arg-type]
    return f"{x:.2f}%" if x < 10 else f"{x:.1f}%"


def _number(v: object) -> str:
    if isinstance(v, bool) or not isinstance(v, float):
        return str(v)
    return f"{v:.3f}"


def _threshold_words(th: dict[str, Any], _: Translate = _same) -> str:
    return _(
        "'derivative' from a score of {derivative}; 'copy' from {copy} with proof: at least {inliers} keypoint inliers "
        "that are at least {ratio} of the matches inside the outline, or PDQ hashes within {pdq} bits. "
        "Calibration {version}: {derivation}"
    ).format(
        derivative=th.get("derivative_threshold"),
        copy=th.get("copy_threshold"),
        inliers=th.get("copy_min_inliers"),
        ratio=f"{float(th.get('copy_min_inlier_ratio') or 0):.0%}",
        pdq=th.get("copy_max_pdq_distance"),
        version=th.get("version"),
        derivation=th.get("derivation"),
    )


def _index_words(index: dict[str, Any], _: Translate = _same) -> str:
    types = index.get("types") or {}
    files = index.get("files") or {}
    parts = [
        f"{k}: {t}" + (_(" (file SHA-256 {sha})").format(sha=files[k]) if k in files else "") for k, t in types.items()
    ]
    head = _("format {format}, registry generation {generation}").format(
        format=index.get("format"), generation=index.get("generation")
    )
    return head + "; " + "; ".join(parts)


def figures(m: dict[str, Any], _: Translate = _same) -> list[tuple[str, str]]:
    """(bundle path, caption) of a match's figures."""
    rank = m["rank"]
    return [
        (
            f"figures/match-{rank}-side-by-side.jpg",
            _(
                "Suspect (left) and registered original (right); red: the matched region; lines: keypoint "
                "correspondences."
            ),
        ),
        (
            f"figures/match-{rank}-overlay.jpg",
            _("Matched area of the suspect, the original aligned onto it, and their absolute difference."),
        ),
    ]


def region_sentence(m: dict[str, Any], _: Translate = _same) -> str:
    return _(
        "Signals agreeing on their own: {signals}. Region in the suspect (from {source}): {region}; in the original: "
        "{reference}."
    ).format(
        signals=", ".join(_(a) for a in m["agreeing_signals"]) or _("none"),
        source=m["region_source"],
        region=json.dumps(m["region"]),
        reference=json.dumps(m["reference_region"]),
    )


def integrity_text(ev: dict[str, Any], _: Translate = _same) -> str:
    return _(
        "This report is part of an evidence bundle whose manifest.json lists the SHA-256 of every file and is signed "
        "with the workspace's Ed25519 key (fingerprint {fingerprint}). `semblance verify-report BUNDLE` checks the "
        "signature and every hash; `semblance reproduce BUNDLE` recomputes every number from the bundle's own input "
        "files."
    ).format(fingerprint=ev.get("signing_key_fingerprint", ""))


def conclusion(ev: dict[str, Any], _: Translate = _same) -> str:
    """The conclusion in the report's language, from the matches (evidence.json keeps the English one)."""
    flagged = [m for m in ev["matches"] if m["verdict"] != "no_match"]
    if not flagged:
        return _(
            "The comparison found no registered work with technical similarity above the method's thresholds. "
            "This is not proof that no copying happened (see the limitations)."
        )
    return " ".join(
        _("For registered work '{ref}': {verbal} (score {score}, verdict {verdict}).").format(
            ref=m["ref"], verbal=_(m["verbal"]), score=f"{float(m['score']):.3f}", verdict=_(m["verdict"])
        )
        for m in flagged
    )


def recorded_lines(ev: dict[str, Any], _: Translate = _same) -> list[str]:
    """The finding as it was recorded when the suspect was scanned, and what became of each work it cites (a work
    removed from the registry since is named with when, by whom and why): empty for a report of a fresh scan."""
    rec = ev.get("recorded_finding")
    if not rec:
        return []
    lines = [
        _("This suspect was scanned on {at} (UTC); the verdict recorded then was: {verdict}.").format(
            at=rec["scanned_at"], verdict=_(str(rec.get("verdict") or "no_match"))
        )
    ]
    for m in rec["matches"]:
        line = _("Registered work '{ref}' ({title}): {verdict}, score {score}.").format(
            ref=m["ref"], title=m.get("title") or "", verdict=_(str(m["verdict"])), score=f"{float(m['score']):.3f}"
        )
        removed = m.get("removed")
        if removed:
            line += " " + _(
                "It was removed from the registry on {at} (UTC) by {by} (reason: {reason}), so the comparison in "
                "this report no longer includes it."
            ).format(at=removed["at"], by=removed["by"], reason=removed["reason"])
            if removed.get("original_file"):
                kept = _("Its record and its file ({file}) are in this bundle.").format(file=removed["original_file"])
            else:
                kept = _("Its record is in this bundle; its file is no longer in the registry's vault.")
            line += " " + kept
        elif not m.get("compared_in_this_report"):
            line += " " + _("It is not among the matches of the comparison made for this report.")
        lines.append(line)
    return lines


def generated_line(ev: dict[str, Any], _: Translate = _same) -> str:
    return _("Generated {at} (UTC) by {software}. Evidence format {format}.").format(
        at=ev["generated_at"], software=ev["method"]["software"], format=ev["format"]
    )


def match_heading(m: dict[str, Any], _: Translate = _same) -> str:
    return _("Match {rank}: {title}").format(rank=m["rank"], title=m["work"].get("title") or m["ref"])


def match_reading(m: dict[str, Any], _: Translate = _same) -> str:
    """The verbal scale's words for the match, then which expert gave its score."""
    return f"{_(m['verbal'])}{_('.')} {_(m.get('score_basis_reading', ''))}"


READINGS_IN_ENGLISH = "The plain-language readings of the signals are given in English."
"""Said in a report in another language: the signals' readings (Signal.reading) are not translated."""
