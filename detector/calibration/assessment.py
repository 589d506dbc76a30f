"""What a calibration achieves on labelled cases: fused predictions, each negative's best score, the tables by
family (µAP, recall@1, recall at false-alarm thresholds), the verdicts' operating point, localisation IoU and the
rates a calibration file publishes. Pure functions over scans already made (detector.calibration.cases), so a
re-analysis of recorded scans measures exactly what the run that made them did."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence

import numpy as np

from detector.calibration import metrics as M
from detector.calibration.cases import Candidates, QueryCase, negatives_of
from detector.calibration.families import group_key
from detector.fusion import FusionModel, decide, has_proof
from detector.geometry import polygon_iou

RATE_GROUPS = (
    "near_copy",
    "crop",
    "collage",
    "ai",
    "ai_semantic",
    "photo_of_print",
    "composite",
    "screenshot",
    "mockup",
    "ai_collage",
    "mockup_2",
    "screenshot_2",
    "ai_collage_2",
)
"""Groups whose true-positive rates a calibration file publishes beside its false-alarm rates."""


def predictions(
    model: FusionModel,
    cands: Candidates,
    cases: Sequence[QueryCase],
    keep: Callable[[dict[str, float]], bool] | None = None,
) -> list[M.Prediction]:
    """(query, ref, fused score) for every candidate (those `keep` accepts, if given)."""
    out = []
    for c in cases:
        for cand in cands.get(c.id, []):
            score, features = cand.scored(model)
            if keep is None or keep(features):
                out.append((c.id, cand.ref, score))
    return out


def negative_tops(preds: Sequence[M.Prediction], negatives: Sequence[QueryCase]) -> list[float]:
    """Each negative query's best score (0 when it has no candidate): what a false-alarm threshold is set on."""
    top = M.top_predictions(preds, {n.id: n.ignore for n in negatives})  # shared-artwork siblings: neither
    return [max(0.0, top[n.id][1]) if n.id in top else 0.0 for n in negatives]


def far_thresholds(preds: Sequence[M.Prediction], negatives: Sequence[QueryCase]) -> dict[str, float]:
    """The score thresholds at which 1% and 0.1% of `negatives` raise an alarm: the tables' operating points."""
    tops = negative_tops(preds, negatives)
    return {"FAR1%": M.threshold_at_far(tops, 0.01), "FAR0.1%": M.threshold_at_far(tops, 0.001)}


def family_table(
    cases: Sequence[QueryCase], preds: list[M.Prediction], thresholds: dict[str, float], key: Callable[[QueryCase], str]
) -> dict[str, dict[str, object]]:
    """Per family (`key` of each positive case): queries, true pairs, µAP pooled with every negative of `cases`,
    recall@1 and recall at each named threshold, with 95% Wilson intervals."""
    negs = negatives_of(cases)
    neg_q = [M.Query(c.id, frozenset(), c.ignore) for c in negs]
    by_q: dict[str, list[M.Prediction]] = defaultdict(list)
    for p in preds:
        by_q[p[0]].append(p)
    neg_preds = [p for n in negs for p in by_q[n.id]]
    fams: dict[str, list[QueryCase]] = defaultdict(list)
    for c in cases:
        if c.truth:
            fams[key(c)].append(c)
    out: dict[str, dict[str, object]] = {}
    for fam, members in sorted(fams.items()):
        qs = [M.Query(c.id, c.truth, c.ignore) for c in members]
        fam_preds = [p for c in members for p in by_q[c.id]]
        uap, _, _ = M.micro_ap(qs + neg_q, fam_preds + neg_preds)
        r1, n1 = M.recall_at_1(qs, fam_preds)
        row: dict[str, object] = {
            "queries": len(members),
            "pairs": sum(len(q.truth) for q in qs),
            "uAP": uap,
            "recall@1": r1 / max(1, n1),
            "recall@1_ci": M.wilson(r1, n1),
        }
        for name, t in thresholds.items():
            f, n = M.recall_at(qs, fam_preds, t)
            row[f"recall@{name}"] = f / max(1, n)
            row[f"recall@{name}_ci"] = M.wilson(f, n)
        out[fam] = row
    return out


def verdict_point(model: FusionModel, cands: Candidates, cases: Sequence[QueryCase]) -> dict[str, dict[str, object]]:
    """Recall (right work flagged with a verdict), false alarms and precision of the verdicts per group."""
    res: dict[str, dict[str, object]] = {}
    groups: dict[str, list[QueryCase]] = defaultdict(list)
    for c in cases:
        groups[c.group].append(c)
    flagged_wrong = 0
    flagged_total = 0
    for g, members in sorted(groups.items()):
        hit = fa = copies = pairs = 0
        for c in members:
            scored = [(*k.scored(model), k) for k in cands.get(c.id, []) if k.ref not in c.ignore]
            verdicts = {k.ref: decide(model, s, f) for s, f, k in scored}
            flagged = {r for r, v in verdicts.items() if v != "no_match"}
            flagged_total += len(flagged)
            flagged_wrong += len(flagged - c.truth)
            hit += len(flagged & c.truth)
            pairs += len(c.truth)
            fa += bool(flagged - c.truth) if g == "negative" else 0
            copies += any(v == "copy" for r, v in verdicts.items() if r not in c.truth)
        row: dict[str, object] = {"queries": len(members), "wrong_copy_verdicts": copies}
        if g == "negative":
            row["false_alarms"] = fa
            row["false_alarm_rate"] = fa / max(1, len(members))
            row["false_alarm_ci"] = M.wilson(fa, len(members))
        else:
            row["recall"] = hit / max(1, pairs)
            row["recall_ci"] = M.wilson(hit, pairs)
        res[g] = row
    res["all"] = {"precision": 1 - flagged_wrong / max(1, flagged_total), "flagged": flagged_total}
    return res


def dev_false_matches(model: FusionModel, cands: Candidates, dev: Sequence[QueryCase]) -> dict[str, object]:
    """Real distractors of the dev set flagged with any verdict, and with `copy`, at the shipped thresholds."""
    negs = negatives_of(dev)
    point = verdict_point(model, cands, negs).get("negative", {})
    flagged, copies = int(point.get("false_alarms", 0)), int(point.get("wrong_copy_verdicts", 0))  # type: ignore[call-overload]
    return {
        "distractors": len(negs),
        "flagged": flagged,
        "false_match_rate": flagged / max(1, len(negs)),
        "false_match_ci95": list(M.wilson(flagged, len(negs))),
        "copy_verdicts": copies,
    }


def localisation(cands: Candidates, cases: Sequence[QueryCase]) -> dict[str, object]:
    """Per group, the IoU of the region the engine reported with the true one (in the suspect, and in the work for
    a crop): how many, the median, and the share at 0.7 or more. A work not found counts as IoU 0."""
    ious: dict[str, list[float]] = defaultdict(list)
    for c in cases:
        by_ref = {k.ref: k for k in cands.get(c.id, [])}
        for ref, poly in c.regions_in_suspect.items():
            k = by_ref.get(ref)
            got = [tuple(p) for p in k.region] if k and k.region else []
            ious[c.group].append(polygon_iou(poly, got) if got else 0.0)  # type: ignore[arg-type]
        if c.region_in_original is not None:
            k = next(iter(by_ref.get(r) for r in c.truth), None)
            got = [tuple(p) for p in k.reference_region] if k and k.reference_region else []
            ious[c.group].append(polygon_iou(c.region_in_original, got) if got else 0.0)  # type: ignore[arg-type]
    return {
        g: {"n": len(v), "median_iou": float(np.median(v)), "share_iou_ge_0.7": float(np.mean(np.array(v) >= 0.7))}
        for g, v in sorted(ious.items())
        if v
    }


def rates_at_thresholds(
    model: FusionModel, cands: Candidates, tune: Sequence[QueryCase], report: Sequence[QueryCase]
) -> dict[str, object]:
    """False-alarm and true-positive rates at the shipped thresholds, measured on the report split (and, for
    comparison, on the tune split the thresholds were chosen on)."""
    out: dict[str, object] = {}
    for split_name, part in (("report", report), ("tune", tune)):
        negs = negatives_of(part)
        for name, t in (("copy", model.copy_threshold), ("derivative", model.derivative_threshold)):
            # a `copy` verdict needs proof as well as the score: count exactly what decide() would call a copy
            preds = predictions(model, cands, part, (lambda f: has_proof(model, f)) if name == "copy" else None)
            row = M.false_alarm_row(t, negative_tops(preds, negs))
            for g in RATE_GROUPS:
                pos = [M.Query(c.id, c.truth, c.ignore) for c in part if c.group == g and c.truth]
                if pos:
                    f, n = M.recall_at(pos, preds, t)
                    row[f"tpr_{g}"] = f / max(1, n)
                    row[f"tpr_{g}_ci95"] = list(M.wilson(f, n))
                    row[f"n_{g}"] = n
            out[f"{split_name}.{name}"] = row
    return out


def assessment(
    model: FusionModel,
    cands: Candidates,
    cases: Sequence[QueryCase],
    tune: Sequence[QueryCase],
    report: Sequence[QueryCase],
    methods: dict[str, list[M.Prediction]],
) -> dict[str, object]:
    """Every table of the evaluation report: each method's by family (`group_key`) on the report split, the full
    pipeline's at the shipped threshold, by relation, on the tune split and on the whole dev set, its verdicts and
    its localisation. `methods` holds the report split's predictions, "Semblance (full)" (`model`'s) among them."""
    report_neg = negatives_of(report)
    out: dict[str, object] = {
        "report_by_family": {
            name: family_table(report, preds, far_thresholds(preds, report_neg), group_key)
            for name, preds in methods.items()
        }
    }
    full_preds = methods["Semblance (full)"]
    tops = negative_tops(full_preds, report_neg)
    out["report_at_shipped_threshold"] = family_table(
        report,
        full_preds,
        {"shipped": model.derivative_threshold, "FAR1%": M.threshold_at_far(tops, 0.01)},
        group_key,
    )
    out["report_by_relation"] = family_table(
        report, full_preds, {}, lambda c: c.relation if c.origin == "dev" else c.family
    )
    full_tune = predictions(model, cands, tune)
    out["tune_by_family"] = family_table(tune, full_tune, far_thresholds(full_tune, negatives_of(tune)), group_key)
    dev_all = [c for c in cases if c.origin == "dev"]
    out["dev_by_relation"] = family_table(dev_all, predictions(model, cands, dev_all), {}, lambda c: c.relation)
    out["dev_distractor_false_matches"] = dev_false_matches(model, cands, dev_all)
    out["verdicts_report"] = verdict_point(model, cands, report)
    out["verdicts_tune"] = verdict_point(model, cands, tune)
    out["localisation_report"] = localisation(cands, report)
    out["localisation_all"] = localisation(cands, cases)
    return out
