"""Which family a labelled query belongs to: the dev set's relations grouped as the evaluation reports them (near
copies, crops, AI re-renderings that keep the composition or only the subject, related pictures), the synthetic
families' groups, and the names the published tables give each group."""

from __future__ import annotations

from detector.calibration.cases import QueryCase

NEAR = {
    "exact_copy",
    "independent_copy",
    "resize",
    "resize_tiny",
    "thumbnail",
    "recompress",
    "grayscale",
    "dark_variant",
    "recolour_variant",
    "lockscreen_variant",
    "grub_variant",
    "panel_copy",
    "alpha_channel_added",
    "resize_recompress",
    "resize_grayscale",
    "exact_or_near_copy",
}
CROPS = {"crop", "crop_small", "reframe", "dark_variant_reframe", "jigsaw_tile", "collage"}
AI_KEEPS_COMPOSITION = {
    "stylised_content",
    "stylised_content_original_colour",
    "photo_style_transfer",
    "img2img",
    "img2img_upscale",
    "depth2img",
    "controlnet_edge",
    "controlnet_depth",
    "x4_upscale",
    "restoration",
    "anime_gan",
    "cartoonise",
    "face_stylise",
    "instruct_edit",
}
"""AI re-renderings that keep the picture's composition (the target group): style and photo-style transfer,
img2img, depth2img and ControlNet from edges or depth, upscales and restorations, anime, cartoon and face
stylisation, instruction edits that keep the rest of the picture."""
AI_SEMANTIC = {"unclip_variation", "image_variation", "controlnet_pose"}
"""AI outputs that keep the subject, not the picture (unCLIP and image variations; ControlNet from a pose keeps
only the pose and framing): reported apart, with no recall target, and never to be called a `copy`."""
AI = AI_KEEPS_COMPOSITION | AI_SEMANTIC
RELATED = {"depth_map", "stereo_viewpoint", "sibling_original"}
SYNTH_FAMILY_GROUP = {
    "near_copy": "near_copy",
    "crop": "crop",
    "screenshot": "screenshot",
    "mockup": "mockup",
    "crop_small": "crop",
    "collage": "collage",
    "perspective": "near_copy",
    "photo_of_print": "photo_of_print",
    "composite": "composite",
    "restyle": "restyle",
    "placed_product": "mockup_2",
    "placed_page": "screenshot_2",
}
"""The group each synthetic family (detector.synthetic, scenes, placements) is reported in, beside the dev relations."""
GROUP_NAMES = {
    "near_copy": "near copies",
    "crop": "crops & reframes",
    "collage": "collages",
    "ai": "AI re-renderings (keep the composition)",
    "ai_semantic": "AI semantic variations",
    "photo_of_print": "photos of prints",
    "composite": "composites",
    "restyle": "painterly re-renderings (synthetic)",
    "mockup": "product mock-ups",
    "screenshot": "marketplace screenshots",
    "ai_collage": "AI-rendered collages",
    "mockup_2": "product mock-ups, second generator",
    "screenshot_2": "marketplace screenshots, second generator",
    "ai_collage_2": "AI-rendered collages, second generator",
    "related": "related (not copies)",
}
"""The name each group has in the published tables (and the targets read by)."""


def ai_group(relation: str) -> str:
    """`ai` for a re-rendering that keeps the composition, `ai_semantic` for a variation that keeps the subject."""
    return "ai" if relation in AI_KEEPS_COMPOSITION else "ai_semantic"


def relation_group(relation: str) -> str:
    """The group a dev derivative's relation is reported in (`other` for one no group names)."""
    if relation in NEAR:
        return "near_copy"
    if relation in CROPS:
        return "crop"
    if relation in AI:
        return ai_group(relation)
    if relation in RELATED:
        return "related"
    return "other"


def group_key(c: QueryCase) -> str:
    """The row a query counts in, in the tables by family: its group's name, synthetic crops by their area (the
    targets differ above and below 30% of the picture)."""
    if c.group == "crop" and c.origin == "synthetic" and c.family in ("syn:crop", "syn:crop_small"):
        return "crop (synthetic, >=30% area)" if c.area_fraction >= 0.3 else "crop (synthetic, <30% area)"
    return GROUP_NAMES.get(c.group, c.group)
