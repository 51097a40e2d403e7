"""A face put on a meme template must not look pasted. Measured on the result against a hard paste of the same
warped face: the step at the face's edge, the face's lighting against the template's, and its blur and grain.
Photos: the package photos (skimage's astronaut, matplotlib's Grace Hopper), and Hopper's photo darkened and
tinted, as a phone photo taken in other light would be."""
import cv2
import numpy as np
import pytest
from media_samples import astronaut_photo, hopper_photo
from scipy.spatial import Delaunay

from backend import builtin_templates
from backend.engines import sticker_templates
from backend.engines.face_blend import noise_level
from backend.engines.face_warp import warp
from backend.engines.sticker_classic import ClassicStickerEngine, face_mask


def dim_and_warm(rgb):
    """The photo in dim, warm indoor light."""
    return (rgb.astype(np.float32) * np.array([0.62, 0.5, 0.38])).clip(0, 255).astype(np.uint8)


CASES = {  # (photo, template)
    "hopper-on-astronaut": (hopper_photo, "astronaut"),
    "astronaut-on-hopper": (astronaut_photo, "hopper"),
    "dim-hopper-on-astronaut": (lambda: dim_and_warm(hopper_photo()), "astronaut"),
    "dim-hopper-on-hopper": (lambda: dim_and_warm(hopper_photo()), "hopper"),
}


@pytest.fixture(scope="module")
def engine():
    return ClassicStickerEngine()


@pytest.fixture(scope="module", params=CASES)
def case(request, engine):
    """The blended result, a hard paste of the same face, the template and the face region, for one case."""
    make, template_id = CASES[request.param]
    photo = make()
    template = builtin_templates.get(template_id)
    backdrop = np.ascontiguousarray(sticker_templates.backdrop(template)[..., :3])
    target = template.face()
    blended = engine.swap(source=photo, template=template)[..., :3]
    face = engine.find_face(photo)
    warped, covered = warp(photo, face.landmarks, target.landmarks, backdrop.shape[:2],
                           Delaunay(target.landmarks).simplices)
    inside = (face_mask(target, backdrop.shape) * covered) > 0.5
    pasted = np.where(inside[..., None], warped, backdrop)
    return {"blended": blended, "pasted": pasted, "template": backdrop, "inside": inside, "name": request.param}


def lab(rgb):
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB).astype(np.float32)


def edge_steps(rgb, inside):
    """The colour step across the face region's edge at each edge pixel: the local mean colour (LAB) of a thin
    ring just inside less that of a ring just outside."""
    region = inside.astype(np.uint8)
    kernel = np.ones((9, 9), np.uint8)
    rings = [(region - cv2.erode(region, kernel)).astype(np.float32),
             (cv2.dilate(region, kernel) - region).astype(np.float32)]
    edge = (region - cv2.erode(region, np.ones((3, 3), np.uint8))) > 0
    image = lab(rgb)
    inner, outer = (np.stack([cv2.GaussianBlur(image[..., c] * ring, (0, 0), 6) for c in range(3)], axis=-1)
                    / np.maximum(cv2.GaussianBlur(ring, (0, 0), 6), 1e-3)[..., None] for ring in rings)
    return (inner - outer)[edge]


def seam(rgb, template, inside):
    """The seam a face leaves: how far the step across the face's edge differs from the template's own step there
    (the template's edge crosses hair, a jaw line, a cap: those steps belong to the picture), mean LAB distance."""
    return float(np.linalg.norm(edge_steps(rgb, inside) - edge_steps(template, inside), axis=-1).mean())


def test_no_seam_at_the_face_edge(case):
    blended, pasted = (seam(case[key], case["template"], case["inside"]) for key in ("blended", "pasted"))
    assert blended < 0.3 * pasted, (case["name"], blended, pasted)  # measured: 1-10 blended, 50-77 pasted
    assert blended < 13, (case["name"], blended)


def test_the_face_takes_the_template_light(case):
    inside = case["inside"]
    template = lab(case["template"])[inside].mean(axis=0)
    blended = lab(case["blended"])[inside].mean(axis=0)
    pasted = lab(case["pasted"])[inside].mean(axis=0)
    assert np.abs(blended - template).max() < 6, case["name"]
    assert np.abs(blended - template).sum() < 0.5 * np.abs(pasted - template).sum() + 3, case["name"]


def detail(rgb, inside):
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    return float((grey - cv2.GaussianBlur(grey, (0, 0), 1.5))[inside].std())


def test_the_face_is_no_sharper_than_the_template(case):
    inside = cv2.erode(case["inside"].astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
    assert detail(case["blended"], inside) < 1.3 * detail(case["template"], inside), case["name"]


def test_the_face_has_the_template_grain(case):
    inside = case["inside"]
    wanted = noise_level(case["template"], inside)
    assert abs(noise_level(case["blended"], inside) - wanted) < 0.4 * wanted + 0.5, case["name"]


def test_blending_is_deterministic(engine):
    template = builtin_templates.get("hopper")
    photo = astronaut_photo()
    assert np.array_equal(engine.swap(source=photo, template=template), engine.swap(source=photo, template=template))
