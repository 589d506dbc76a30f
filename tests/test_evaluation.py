"""The evaluation's pure half (detector.calibration: cases, families, assessment, ablation): what scripts/evaluate.py
reports is computed here from plain scans, so it is tested here without registering or scanning anything."""

from __future__ import annotations

from dataclasses import replace

import pytest

from detector.calibration import packaged_model_path
from detector.calibration.ablation import without_view_matching, without_views
from detector.calibration.assessment import negative_tops, predictions, verdict_point
from detector.calibration.cases import QueryCase
from detector.calibration.families import group_key, relation_group
from detector.calibration.labelled import Candidate
from detector.fusion import FusionModel, load_model

SIMILARITY = "embedding.global.excess"


def case(qid: str, group: str, truth: frozenset[str] = frozenset(), **changes: object) -> QueryCase:
    """A dev query of the report split; `changes` as dataclasses.replace takes them."""
    return replace(QueryCase(qid, qid, b"", "report", group, f"dev:{group}", "", "dev", truth), **changes)  # type: ignore[arg-type]


def toy_model() -> FusionModel:
    """One similarity decides: score sigmoid(10 s - 5), a verdict from 0.5, never a copy (no proof)."""
    base = load_model(packaged_model_path("effnet-lite0"))
    return replace(base, bias=-5.0, weights={SIMILARITY: 10.0}, experts={}, derivative_threshold=0.5)


def test_relations_and_groups_are_named_as_the_tables_name_them() -> None:
    assert relation_group("img2img") == "ai"
    assert relation_group("controlnet_pose") == "ai_semantic"
    assert relation_group("resize") == "near_copy"
    assert relation_group("depth_map") == "related"
    assert relation_group("something new") == "other"
    small = case("q", "crop", family="syn:crop", origin="synthetic", area_fraction=0.2)
    assert group_key(small) == "crop (synthetic, <30% area)"
    assert group_key(replace(small, area_fraction=0.3)) == "crop (synthetic, >=30% area)"
    assert group_key(case("q", "crop")) == "crops & reframes"  # a dev crop is not split by area
    assert group_key(case("q", "unheard of")) == "unheard of"


def test_a_work_a_negative_shares_its_artwork_with_is_no_false_alarm() -> None:
    model = toy_model()
    cands = {
        "sibling": [Candidate("a", {SIMILARITY: 1.0})],
        "stranger": [Candidate("b", {SIMILARITY: 1.0})],
        "quiet": [],
        "copy": [Candidate("a", {SIMILARITY: 1.0}), Candidate("b", {SIMILARITY: 0.0})],
    }
    negatives = [
        case("sibling", "negative", ignore=frozenset({"a"})),
        case("stranger", "negative"),
        case("quiet", "negative"),
    ]
    cases = [*negatives, case("copy", "near_copy", frozenset({"a"}))]
    tops = negative_tops(predictions(model, cands, cases), negatives)
    assert tops[0] == 0.0 and tops[2] == 0.0
    assert tops[1] == pytest.approx(1 / (1 + 2.718281828459045**-5))
    point = verdict_point(model, cands, cases)
    assert point["negative"]["false_alarms"] == 1
    assert point["near_copy"]["recall"] == 1.0
    assert point["all"] == {"precision": 0.5, "flagged": 2}


def test_a_view_ablation_keeps_the_whole_picture() -> None:
    whole, panel, region = {SIMILARITY: 0.2}, {SIMILARITY: 0.7}, {SIMILARITY: 0.9}
    cands = {"q": [Candidate("a", region, [whole, panel, region])]}
    kinds = {"q": ["panel", "region"]}
    no_regions = without_views(frozenset({"region"}))(cands, kinds)["q"][0]
    assert no_regions.views == [whole, panel] and no_regions.features == region
    alone = without_views(frozenset({"panel", "region"}))(cands, kinds)["q"][0]
    assert alone.views == [whole] and alone.features == whole
    assert cands["q"][0].views == [whole, panel, region]  # the scans themselves are left as they were


def test_without_view_matching_views_carry_the_whole_pictures_learned_match() -> None:
    whole = {SIMILARITY: 0.2, "learned_match.inliers": 10.0}
    view = {SIMILARITY: 0.9, "learned_match.inliers": 300.0}
    out = without_view_matching({"q": [Candidate("a", view, [whole, view])]}, {})["q"][0]
    assert out.views[1] == {SIMILARITY: 0.9, "learned_match.inliers": 10.0}
    assert out.views[0] == whole
