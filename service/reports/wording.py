"""Plain-language readings of the numbers, and the verbal scale a report's conclusion uses."""

from __future__ import annotations

from detector.fusion import FusionModel

VERBAL_SCALE = (
    ("copy", 0.99, "very strong technical support that the suspect image reproduces the registered work"),
    ("copy", 0.0, "strong technical support that the suspect image reproduces the registered work"),
    (
        "derivative",
        0.0,
        "moderate technical support that the suspect image was derived from the registered work "
        "(an AI re-rendering or a heavy transformation of it)",
    ),
    ("no_match", 0.0, "no technical support for a relationship between the suspect image and the registered work"),
)

LEGAL_NOTE = (
    "Whether the suspect image is substantially similar to the registered work is a legal question for "
    "the court. This report states technical similarity only: what was compared, how, the measured "
    "values and the error rates of the method at the thresholds used."
)

ABSENCE_NOTE = (
    "No AI-generation indicator was found in the file's metadata. This proves nothing: metadata is "
    "removed by most re-encoding, screenshots and uploads, and can be stripped deliberately."
)
PRESENCE_NOTE = (
    "Indicators are quoted as found. Metadata can be written by anyone, so an indicator is a lead "
    "that the file passed through the named software, not proof of how the picture was made."
)

LIMITATIONS = (
    "Scores are technical similarity between pixels and learned features, not a legal finding.",
    "Error rates were measured on the evaluation set named with the calibration; images unlike it (e.g. "
    "heavy re-drawing by hand, extreme crops below 10% of the area) may behave differently.",
    "Very small crops, mirror images of non-symmetric works and perspective photos with strong glare lower the "
    "scores; a `no_match` is not proof that no copying happened.",
    "A work registered by someone else, or a common source both images copy, produce the same evidence as direct "
    "copying: provenance of the registered work must be established separately.",
    "The neural embedding was trained on ImageNet photographs; for AI re-renderings it measures shared content "
    "and layout, which unrelated pictures of the same subject can also share to a lesser degree.",
    "Neural similarities are judged against a fixed background set of unrelated images (mostly clip art and "
    "desktop wallpapers); two different photographs of the same landmark from a similar viewpoint can still "
    "score as a derivative, and only geometric or hash proof makes a `copy`.",
    "A suspect covered with thin light strokes (a tiled watermark, text) is also compared with those strokes "
    "filled in from their surroundings; fine light detail of the picture itself (stars, lit windows) is filled "
    "too, so that copy is only ever an additional view, never the only one.",
)


def verbal(verdict: str, score: float) -> str:
    for v, floor, text in VERBAL_SCALE:
        if v == verdict and score >= floor:
            return text
    return VERBAL_SCALE[-1][2]


BASIS = {
    "combined": "The score weighs every signal together.",
    "layout": (
        "The score comes from the spatial-layout expert alone: the arrangement of the picture's content matches, "
        "as it does when an image is redrawn or re-rendered in another style, while texture and colours may differ."
    ),
    "pdq": "The score comes from the PDQ expert alone: the two images' perceptual hashes match.",
    "descriptor": (
        "The score comes from the copy-detection descriptor alone: the neural descriptors of the whole images or of "
        "their best-matching regions are far closer than this work is to unrelated pictures."
    ),
    "repainting": (
        "The score comes from the repainting expert: learned local features of the original map onto the suspect "
        "across the whole picture, as they do when an image is re-rendered by an AI generator or repainted, "
        "together with the neural similarity of the whole images."
    ),
}


def basis(name: str, view: str = "whole") -> str:
    """Which calibrated expert gave the score, and from what part of the suspect, in a sentence or two."""
    sentence = BASIS.get(name, f"The score comes from the '{name}' expert.")
    if view.startswith("region"):
        sentence += (
            f" It was measured on {view} of the suspect (a straight-edged part of it, such as a print on a product "
            "or the picture in a page, straightened), compared with the work on its own, the way a copy uploaded "
            "alone would be."
        )
    elif view != "whole":
        sentence += (
            f" It was measured on {view} of the suspect (a collage), compared with the work on its own, the "
            "way a copy uploaded alone would be."
        )
    return sentence


def reading(signal: str, ev: dict[str, object], model: FusionModel) -> str:
    """One line saying what a signal's value means, for a reader without the code: each signal's own reading
    (`Signal.reading`), with the decision numbers of the calibration in use (`model`)."""
    from detector.signals import SIGNAL_TYPES

    if "not_run" in ev:
        return f"Not compared by this signal: {ev['not_run']}."
    cls = SIGNAL_TYPES.get(signal)
    return cls.reading(ev, model) if cls is not None else ""


def _f(v: object) -> str:
    return f"{v:.3f}" if isinstance(v, float | int) else str(v)
