"""The classic engine's expressions, verified by measuring the output: the face mesh is run again on each
result and the landmark change the expression claims is asserted (mouth opening, mouth-corner height against
the lip centre, brow height and spacing), on several photos."""
import numpy as np
import pytest
from media_samples import astronaut_photo, hopper_photo

from backend.engines.face_analysis import FaceAnalyzer
from backend.engines.face_warp import BROW_INNER, INNER_LIP, LEFT_BROW, RIGHT_BROW, apply_expression
from backend.face_mesh import CHIN, FOREHEAD


def _rotated(rgb, degrees):
    import cv2

    height, width = rgb.shape[:2]
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), degrees, 1.0)
    return cv2.warpAffine(rgb, matrix, (width, height), borderMode=cv2.BORDER_REFLECT)


PHOTOS = {  # skimage's astronaut (smiling, teeth showing), matplotlib's Grace Hopper (glasses), two variants
    "astronaut": astronaut_photo, "hopper": hopper_photo,
    "astronaut-flipped": lambda: np.ascontiguousarray(astronaut_photo()[:, ::-1]),
    "astronaut-tilted": lambda: _rotated(astronaut_photo(), 6),
}
BROWS_VISIBLE = ("astronaut", "astronaut-flipped", "astronaut-tilted")  # Hopper's glasses frames hide hers


@pytest.fixture(scope="module")
def analyzer():
    return FaceAnalyzer()


def measure(face):
    points = face.landmarks
    height = np.linalg.norm(points[CHIN] - points[FOREHEAD])
    eye_line = (face.left_eye[1] + face.right_eye[1]) / 2
    inner = [i for i in LEFT_BROW + RIGHT_BROW if i in BROW_INNER]
    return {"opening": face.mouth_opening, "corner_lift": face.mouth_corner_lift,
            "inner_brow": float((eye_line - points[inner][:, 1].mean()) / height),
            "brow_gap": float(np.linalg.norm(points[107] - points[336]) / height)}


@pytest.fixture(scope="module")
def changes(analyzer):
    """{photo: {expression: measured change}} for every photo and expression."""
    out = {}
    for name, make in PHOTOS.items():
        photo = make()
        face = analyzer.faces(photo)[0]
        before = measure(face)
        out[name] = {}
        for expression in ("smile", "laugh", "surprise", "angry", "sad"):
            result, _moved = apply_expression(photo.copy(), face, expression)
            found = analyzer.faces(np.ascontiguousarray(result[..., :3]))
            assert found, f"{name} {expression}: the result no longer has a face"
            after = measure(found[0])
            out[name][expression] = {key: after[key] - before[key] for key in before}
            out[name][expression]["final_corner_lift"] = after["corner_lift"]
    return out


@pytest.mark.parametrize("photo", PHOTOS)
def test_smile_and_laugh_lift_the_corners_laugh_opens_the_mouth(changes, photo):
    assert changes[photo]["smile"]["corner_lift"] > 0.007
    assert changes[photo]["laugh"]["corner_lift"] > 0.0  # the corners stay up while the jaw drops
    assert changes[photo]["laugh"]["opening"] > 0.015


@pytest.mark.parametrize("photo", PHOTOS)
def test_surprise_opens_the_mouth_wide(changes, photo):
    assert changes[photo]["surprise"]["opening"] > 0.05
    assert changes[photo]["surprise"]["opening"] > changes[photo]["laugh"]["opening"]


@pytest.mark.parametrize("photo", BROWS_VISIBLE)
def test_surprise_raises_the_brows(changes, photo):
    assert changes[photo]["surprise"]["inner_brow"] > 0.003


@pytest.mark.parametrize("photo", PHOTOS)
def test_sad_turns_the_corners_down_even_on_a_smiling_photo(changes, photo):
    assert changes[photo]["sad"]["corner_lift"] < -0.012


@pytest.mark.parametrize("photo", BROWS_VISIBLE)
def test_sad_raises_the_inner_brows(changes, photo):
    assert changes[photo]["sad"]["inner_brow"] > 0.004


@pytest.mark.parametrize("photo", PHOTOS)
def test_angry_lowers_the_brows(changes, photo):
    assert changes[photo]["angry"]["inner_brow"] < -0.006
    assert changes[photo]["angry"]["corner_lift"] < 0


def test_the_open_mouth_has_teeth_and_a_tongue_not_a_flat_fill(analyzer):
    photo = hopper_photo()
    face = analyzer.faces(photo)[0]
    result, moved = apply_expression(photo.copy(), face, "laugh")
    import cv2

    mask = np.zeros(result.shape[:2], np.uint8)
    cv2.fillPoly(mask, [np.round(moved.landmarks[list(INNER_LIP)]).astype(np.int32)], 255)
    pixels = result[cv2.erode(mask, np.ones((3, 3), np.uint8)) > 0][:, :3].astype(float)
    brightness = pixels.mean(axis=1)
    assert brightness.std() > 30  # not one colour
    assert (brightness > 170).mean() > 0.1  # teeth
    reddish = (pixels[:, 0] > pixels[:, 1] + 25) & (brightness > 60)
    assert reddish.mean() > 0.1  # tongue


@pytest.mark.parametrize("photo", PHOTOS)
def test_sad_is_a_closed_pout_not_a_wail(changes, photo):
    """Sorrow with the lips closed: an open, dark, turned-down mouth read as fear or disgust to a classifier."""
    assert changes[photo]["sad"]["opening"] < 0.01


def test_surprise_is_an_o_arched_on_top_not_a_flat_topped_shout(analyzer):
    """The surprised mouth's upper lip is arched: the middle of its inner edge sits above the edge's sides (by
    0.10-0.19 of the mouth's width; the flat-topped mouth that a classifier read as angry: -0.01-0.03)."""
    from backend.face_mesh import LIP_TOP, MOUTH_LEFT, MOUTH_RIGHT

    for make in (astronaut_photo, hopper_photo):
        photo = make()
        face = analyzer.faces(photo)[0]
        points = apply_expression(photo.copy(), face, "surprise")[1].landmarks
        sides = (points[191, 1] + points[415, 1]) / 2  # the inner upper lip, a third of the way in from each corner
        width = np.linalg.norm(points[MOUTH_RIGHT] - points[MOUTH_LEFT])
        assert (sides - points[LIP_TOP, 1]) / width > 0.06, make.__name__
