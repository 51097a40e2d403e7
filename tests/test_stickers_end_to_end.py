"""表情包 through the whole stack: every style static and animated, faces where they belong, expressions, bad input."""
import base64
import io
import zlib

import cv2
import numpy as np
import pytest
import requests
from api_client import task_of
from media_samples import astronaut_photo, encode_image, hopper_photo, landscape_photo
from PIL import Image

from backend.engines.face_analysis import FaceAnalyzer
from backend.face_mesh import FACE_OVAL, Face

ARTIFACTS = __import__("pathlib").Path(__file__).resolve().parent / "artifacts"


@pytest.fixture(scope="module")
def analyzer():
    found = FaceAnalyzer()
    yield found
    found.close()


@pytest.fixture(scope="module")
def hopper_b64():
    return base64.b64encode(encode_image(hopper_photo(), quality=92)).decode()


@pytest.fixture(scope="module")
def astronaut_b64():
    return base64.b64encode(encode_image(astronaut_photo(), "PNG")).decode()


def make(api, wait=20, **fields):
    answer = api.post(f"/api/v1/emoji?wait={wait}", json={"face_consent": True, **fields})
    task_of(answer)
    task = api.wait_task(answer.json()["task_id"])
    assert task["status"] == "succeeded", task
    return task


def fetch(task, name=None):
    response = requests.get(task["image_url"], timeout=30)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == task["result"]["mime"]
    if name:
        ARTIFACTS.mkdir(exist_ok=True)
        (ARTIFACTS / f"{name}.{task['result']['mime'].split('/')[1]}").write_bytes(response.content)
    return Image.open(io.BytesIO(response.content))


def rgba(image):
    return np.asarray(image.convert("RGBA"))


@pytest.mark.parametrize("style, template_id", [("cutout", None), ("comic", None), ("panda", None),
                                                ("template", "astronaut")])
def test_every_style_static_and_animated(api, hopper_b64, style, template_id):
    base = {"face_consent": True, "image": hopper_b64, "style": style, "expression": "none"}
    if template_id:
        base["template_id"] = template_id
    captioned = make(api, **base, text="今天也要加油")
    plain = make(api, **base, text="")
    image = fetch(captioned, f"{style}-static")
    assert captioned["result"]["mime"] == "image/png"
    assert image.size == (captioned["result"]["width"], captioned["result"]["height"]) == (512, 512)
    assert captioned["result"]["style"] == style
    with_caption, without = rgba(image).astype(int), rgba(fetch(plain)).astype(int)
    bottom = slice(int(512 * 0.76), 512)
    changed = np.abs(with_caption[bottom] - without[bottom]).sum(axis=2) > 60
    assert changed.mean() > 0.04  # the caption's pixels are there
    if style in ("panda", "template"):  # templates keep their layout: the caption changes nothing else
        top = slice(int(512 * 0.1), int(512 * 0.6))
        assert np.abs(with_caption[top] - without[top]).sum(axis=2).mean() < 2

    animated = make(api, **base, text="加油", animated=True, animation="bounce")
    gif = fetch(animated, f"{style}-animated")
    assert animated["result"]["mime"] == "image/gif" and gif.format == "GIF"
    assert gif.size == (240, 240) and getattr(gif, "n_frames", 1) >= 8
    assert animated["result"]["bytes"] <= 500 * 1024
    assert animated["cost"] == 2 and captioned["cost"] == 1


def test_cutout_is_transparent_around_the_face(api, astronaut_b64, analyzer):
    task = make(api, image=astronaut_b64, style="cutout", text="", expression="none")
    pixels = rgba(fetch(task, "cutout-astronaut"))
    for corner in (pixels[:8, :8], pixels[:8, -8:], pixels[-8:, :8], pixels[-8:, -8:]):
        assert corner[..., 3].max() == 0
    face = analyzer.faces(np.ascontiguousarray(pixels[..., :3]))[0]
    oval = np.zeros(pixels.shape[:2], np.uint8)  # the face itself: its box's lower corners lie beside the jaw
    cv2.fillPoly(oval, [np.round(face.landmarks[list(FACE_OVAL)]).astype(np.int32)], 1)
    assert pixels[..., 3][oval > 0].mean() > 250


def test_animated_webp_and_other_animations(api, hopper_b64):
    for animation, fmt in (("shake", "webp"), ("zoom", "gif")):
        task = make(api, image=hopper_b64, style="comic", text="晃一晃", animated=True, animation=animation, format=fmt)
        image = fetch(task, f"comic-{animation}")
        assert image.format == fmt.upper() and image.n_frames >= 8 and image.size == (240, 240)


def _anchors_error(face: Face, template):
    expected = np.array([template["face_anchors"][k] for k in ("left_eye", "right_eye", "nose", "mouth")]) * 512
    error = np.linalg.norm(face.anchors - expected, axis=1).mean()
    return error / np.linalg.norm(expected[1] - expected[0])


@pytest.mark.parametrize("style, template_id, photo", [("panda", "panda", "hopper"), ("template", "astronaut", "hopper"),
                                                       ("template", "hopper", "astronaut"), ("template", "wanted", "hopper")])
def test_face_lands_on_the_template_face(api, analyzer, hopper_b64, astronaut_b64, style, template_id, photo):
    templates = {t["template_id"]: t for t in api.get("/api/v1/templates").json()["templates"]}
    template = templates[template_id]
    image = hopper_b64 if photo == "hopper" else astronaut_b64
    task = make(api, image=image, style=style, template_id=template_id, text="", expression="none")
    out = rgba(fetch(task, f"{template_id}-with-{photo}"))
    faces = analyzer.faces(np.ascontiguousarray(out[..., :3]))
    assert faces, "no face detected on the output"
    assert _anchors_error(faces[0], template) < 0.08
    empty = rgba(fetch(make(api, template_id=template_id, text="")))
    x0, y0, x1, y1 = (int(v) for v in faces[0].box)
    assert np.abs(out[y0:y1, x0:x1, :3].astype(int) - empty[y0:y1, x0:x1, :3]).mean() > 12


def test_expressions_change_the_face(api, analyzer, astronaut_b64):
    measured = {}
    for expression in ("none", "smile", "surprise"):
        task = make(api, image=astronaut_b64, style="cutout", text="", expression=expression)
        assert task["result"]["expression"] == expression
        pixels = rgba(fetch(task, f"expression-{expression}"))
        measured[expression] = analyzer.faces(np.ascontiguousarray(pixels[..., :3]))[0]
    assert measured["smile"].mouth_corner_lift > measured["none"].mouth_corner_lift + 0.005
    assert measured["surprise"].mouth_opening > measured["none"].mouth_opening + 0.02


def test_auto_expression_and_decorations(api, hopper_b64):
    assert make(api, image=hopper_b64, style="comic", text="开心大笑")["result"]["expression"] == "laugh"
    assert make(api, image=hopper_b64, style="comic", text="气死我了")["result"]["expression"] == "angry"
    none = rgba(fetch(make(api, image=hopper_b64, style="cutout", text="", expression="none"))).astype(int)
    sad = rgba(fetch(make(api, image=hopper_b64, style="cutout", text="", expression="sad"), "cutout-sad")).astype(int)
    blue = (sad[..., 2] > sad[..., 0] + 60) & (sad[..., 2] > 200) & ~((none[..., 2] > none[..., 0] + 60) & (none[..., 2] > 200))
    assert blue.sum() > 100  # tears


def test_templates_list(api):
    templates = api.get("/api/v1/templates").json()["templates"]
    assert {t["template_id"] for t in templates} >= {"panda", "astronaut", "hopper", "wanted"}
    for template in templates:
        assert template["name"] and template["styles"] and len(template["caption_box"]) == 4
        assert set(template["face_anchors"]) == {"left_eye", "right_eye", "nose", "mouth"}
        preview = requests.get(template["preview_url"], timeout=10)
        assert preview.status_code == 200 and Image.open(io.BytesIO(preview.content)).size == (256, 256)


def test_template_caption_computed_once_for_everyone(api, other_api, stack):
    first = make(api, template_id="panda", text="共享的缓存")
    computed = stack.engine_runs()
    assert computed >= 1
    second = other_api.post("/api/v1/emoji", json={"template_id": "panda", "text": "共享的缓存"}).json()
    assert second["status"] in ("queued", "running") and second["cached"] is False and second["cost"] == 1  # like new
    second = other_api.wait_task(second["task_id"])
    assert second["status"] == "succeeded" and second["cost"] == 1
    assert second["image_url"].split("?")[0] == first["image_url"].split("?")[0]
    assert stack.engine_runs() == computed  # handed the existing result, not computed again


def test_face_swap(api, hopper_b64, astronaut_b64, analyzer):
    answer = api.post("/api/v1/swap?wait=20", json={"face_consent": True, "source_image": hopper_b64, "target_image": astronaut_b64,
                                                     "blend": 0.9, "mask_blur": 6, "enhance_output": True})
    task_of(answer)
    task = api.wait_task(answer.json()["task_id"])
    assert task["status"] == "succeeded" and task["kind"] == "swap"
    out = rgba(fetch(task, "swap-hopper-on-astronaut"))
    assert out.shape[:2] == (512, 512)
    original = astronaut_photo()
    face = analyzer.faces(original)[0]
    x0, y0, x1, y1 = (int(v) for v in face.box)
    assert np.abs(out[y0:y1, x0:x1, :3].astype(int) - original[y0:y1, x0:x1]).mean() > 10
    assert np.abs(out[400:, :100, :3].astype(int) - original[400:, :100]).mean() < 3  # the rest is untouched
    template = api.post("/api/v1/swap?wait=20", json={"face_consent": True, "source_image": astronaut_b64, "template_id": "wanted"})
    assert api.wait_task(template.json()["task_id"])["status"] == "succeeded"


def _bomb_png(side=20000):
    """A valid PNG header for side x side pixels whose zero rows compress ~1000:1."""
    import struct

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    compressor = zlib.compressobj(9)
    row = b"\x00" * (side + 1)
    body = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", body) + chunk(b"IEND", b""))


@pytest.mark.parametrize("case, fields, status, code, field", [
    ("no face", {"face_consent": True, "image": "landscape", "style": "cutout"}, 422, "no_face_detected", "image"),
    ("bomb", {"face_consent": True, "image": "bomb"}, 413, "payload_too_large", "image"),
    ("truncated jpeg", {"face_consent": True, "image": "truncated"}, 422, "invalid_image", "image"),
    ("svg", {"face_consent": True, "image": "svg"}, 415, "unsupported_media", "image"),
    ("pdf", {"face_consent": True, "image": "pdf"}, 415, "unsupported_media", "image"),
    ("41 chars", {"face_consent": True, "image": "hopper", "text": "好" * 41}, 422, "text_too_long", "text"),
    ("unknown template", {"template_id": "nope", "text": "hi"}, 404, "not_found", "template_id"),
    ("unknown style", {"face_consent": True, "image": "hopper", "style": "oil-painting"}, 400, "invalid_request", "style"),
    ("sd", {"face_consent": True, "image": "hopper", "style": "sd"}, 503, "engine_unavailable", "style"),  # no sd-lora worker runs
    ("nothing", {"text": "hi"}, 400, "invalid_request", "image"),
    ("png animated", {"template_id": "panda", "animated": True, "format": "png"}, 400, "invalid_request", "format"),
])
def test_sticker_bad_input(api, hopper_b64, case, fields, status, code, field):
    photos = {
        "landscape": base64.b64encode(encode_image(landscape_photo())).decode(),
        "bomb": base64.b64encode(_bomb_png()).decode(),
        "truncated": base64.b64encode(encode_image(hopper_photo())[:6000]).decode(),
        "svg": base64.b64encode(b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>').decode(),
        "pdf": base64.b64encode(b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF").decode(),
        "hopper": hopper_b64,
    }
    body = {k: photos.get(v, v) if k == "image" else v for k, v in fields.items()}
    response = api.post("/api/v1/emoji?wait=20", json=body)
    assert response.status_code == status, (case, response.text)
    error = response.json()["error"]
    assert (error["code"], error["field"]) == (code, field), case
    # the worker keeps serving
    assert make(api, template_id="panda", text=f"还在 {case}")["status"] == "succeeded"


def test_no_face_without_wait_is_a_failed_task(api):
    photo = base64.b64encode(encode_image(landscape_photo(), "PNG")).decode()
    answer = api.post("/api/v1/emoji", json={"face_consent": True, "image": photo, "style": "comic"})
    assert answer.status_code == 202
    task = api.wait_task(answer.json()["task_id"])
    assert task["status"] == "failed" and task["error"]["code"] == "no_face_detected"


def test_multipart_upload_and_face_index(api):
    # MediaPipe's short-range detector wants faces that fill a good part of the frame
    group = np.ascontiguousarray(np.concatenate([hopper_photo()[60:412, 80:432], astronaut_photo()[0:352, 50:402]], axis=1))
    answer = api.post("/api/v1/emoji?wait=20", files={"image": ("two.jpg", encode_image(group), "image/jpeg")},
                      data={"face_consent": "true", "style": "cutout", "text": "", "face_index": "5"})
    assert answer.status_code == 422 and answer.json()["error"]["code"] == "no_face_detected"
    answers = [api.post("/api/v1/emoji?wait=20", files={"image": ("two.jpg", encode_image(group), "image/jpeg")},
                        data={"face_consent": "true", "style": "cutout", "text": "", "face_index": str(index)}) for index in (0, 1)]
    [task_of(answer) for answer in answers]
    first, second = (api.wait_task(answer.json()["task_id"]) for answer in answers)
    assert first["status"] == second["status"] == "succeeded"
    assert first["result"]["url"].split("?")[0] != second["result"]["url"].split("?")[0]
