"""The content of a report, as labelled rows and captions, shared by the HTML and the PDF renderers so both
always say the same thing."""

from __future__ import annotations

from typing import Any

Rows = list[tuple[str, object]]

THRESHOLD_FIELDS = (
    "version",
    "copy_threshold",
    "derivative_threshold",
    "copy_min_inliers",
    "copy_min_inlier_ratio",
    "copy_max_pdq_distance",
    "derivation",
)
NO_METADATA = "No EXIF, XMP, IPTC or PNG text metadata was found."


def case_rows(ev: dict[str, Any]) -> Rows:
    case = ev["case"]
    return [
        ("Case number", case.get("case_number", "")),
        ("Examiner", case.get("examiner", "")),
        ("Requesting authority", case.get("authority", "")),
        ("Date and time (UTC)", ev["generated_at"]),
        ("Notes", case.get("notes", "")),
    ]


def suspect_rows(ev: dict[str, Any]) -> Rows:
    sus = ev["suspect"]
    return [
        ("File name", sus["name"]),
        ("Size (bytes)", str(sus["size_bytes"])),
        ("SHA-256", sus["sha256"]),
        ("MD5", sus["md5"]),
        ("Format", sus["format"]),
        ("Dimensions", f"{sus['width']} x {sus['height']} px"),
        ("How obtained", sus.get("obtained") or "not stated"),
        ("Bundle copy", sus["file"]),
    ]


def work_rows(m: dict[str, Any]) -> Rows:
    w = m["work"]
    return [
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


def method_rows(ev: dict[str, Any]) -> Rows:
    method = ev["method"]
    th = method["thresholds"]
    return [
        ("Software", method["software"]),
        ("Git commit", method["git_commit"]),
        ("Embedder", method["embedder"]),
        ("Signals", method["signals"]),
        ("Index", method["index"]),
        ("Exact re-scoring", method["rescoring"]),
        ("Calibration", method.get("calibration") or {"version": th.get("version"), "embedder": th.get("embedder")}),
        ("Thresholds", {k: th.get(k) for k in THRESHOLD_FIELDS}),
        ("Measured error rates at these thresholds", th.get("rates") or "not calibrated"),
    ]


def signal_rows(m: dict[str, Any]) -> Rows:
    """Each signal's values (the homography matrix is left to evidence.json)."""
    return [(name, {k: v for k, v in values.items() if k != "homography"}) for name, values in m["signals"].items()]


def figures(m: dict[str, Any]) -> list[tuple[str, str]]:
    """(bundle path, caption) of a match's figures."""
    rank = m["rank"]
    return [
        (
            f"figures/match-{rank}-side-by-side.jpg",
            "Suspect (left) and registered original (right); red: the matched region; lines: keypoint correspondences.",
        ),
        (
            f"figures/match-{rank}-overlay.jpg",
            "Matched area of the suspect, the original aligned onto it, and their absolute difference.",
        ),
    ]


def region_sentence(m: dict[str, Any]) -> str:
    import json

    return (
        f"Signals agreeing on their own: {', '.join(m['agreeing_signals']) or 'none'}. Region in the suspect "
        f"(from {m['region_source']}): {json.dumps(m['region'])}; in the original: "
        f"{json.dumps(m['reference_region'])}."
    )


def integrity_text(ev: dict[str, Any]) -> str:
    return (
        "This report is part of an evidence bundle whose manifest.json lists the SHA-256 of every file and is "
        f"signed with the workspace's Ed25519 key (fingerprint {ev.get('signing_key_fingerprint', '')}). "
        "`semblance verify-report BUNDLE` checks the signature and every hash; `semblance reproduce BUNDLE` "
        "recomputes every number from the bundle's own input files."
    )
