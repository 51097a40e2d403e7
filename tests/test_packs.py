"""Sticker packs through the running stack: a pack of 8 from one photo, exported as WeChat's sticker open
platform asks for a submission. Every file of the zip is checked here, independently of the code that made
it, against the platform's published rules (docs/engines.md, "Sticker packs")."""
import base64
import io
import json
import time
import zipfile

import numpy as np
import pytest
import requests
from api_client import task_of
from media_samples import astronaut_photo, encode_image
from PIL import Image

EMOTIONS = ["happy", "laugh", "surprised", "angry", "sad", "shy", "speechless", "smug"]
CAPTIONS = ["开心", "哈哈哈", "啊？", "气死我了", "呜呜", "害羞", "无语", "得意"]
KB = 1024
ARTIFACTS = __import__("pathlib").Path(__file__).resolve().parent / "artifacts"


@pytest.fixture(scope="module")
def astronaut_b64():
    return base64.b64encode(encode_image(astronaut_photo(), "PNG")).decode()


def pack_body(photo, count=8, **fields):
    stickers = [{"text": CAPTIONS[i % 8], "emotion": EMOTIONS[i % 8]} for i in range(count)]
    return {"image": photo, "face_consent": True, "name": "宇航员表情", "intro": "一套宇航员的表情", "stickers": stickers,
            **fields}


@pytest.fixture(scope="module")
def made_pack(stack, astronaut_b64):
    """(the user's client, the finished pack task, the exported zip's bytes), made once for this module."""
    from api_client import Api

    api = Api(stack.base_url, "pack-maker")
    answer = api.post("/api/v1/packs", json=pack_body(astronaut_b64))
    assert answer.status_code == 202, answer.text
    assert answer.json()["cost"] == 8 * 2  # eight animated stickers
    seen = set()
    task = answer.json()
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:  # polled closely: the progress of each sticker is seen
        task = api.get(f"/api/v1/tasks/{task['task_id']}").json()
        seen.add(task["progress"])
        if task["status"] not in ("queued", "running"):
            break
        time.sleep(0.05)
    assert task["status"] == "succeeded", task
    assert len({p for p in seen if 0 < p < 100}) >= 2, seen  # progress moved sticker by sticker
    exported = api.get(f"/api/v1/packs/{task['task_id']}/export")
    assert exported.status_code == 200 and exported.headers["Content-Type"] == "application/zip"
    assert "attachment" in exported.headers["Content-Disposition"]
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "pack-astronaut.zip").write_bytes(exported.content)  # to look at
    return api, task, exported.content


def open_image(data):
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def test_the_zip_has_every_file_the_platform_asks_for(made_pack):
    _api, task, data = made_pack
    names = set(zipfile.ZipFile(io.BytesIO(data)).namelist())
    mains = sorted(n for n in names if n.startswith("main/"))
    thumbs = sorted(n for n in names if n.startswith("thumbs/"))
    assert len(mains) == 8 and [m.split("/")[1][:2] for m in mains] == [f"{i:02d}" for i in range(1, 9)]
    assert [t.split("/")[1] for t in thumbs] == [f"{i:02d}.png" for i in range(1, 9)]  # one per main image
    assert {"cover.png", "icon.png", "banner.png", "manifest.json"} <= names
    assert names == set(mains) | set(thumbs) | {"cover.png", "icon.png", "banner.png", "manifest.json"}
    assert task["result"]["count"] == 8 and len(task["result"]["parts"]) == 8
    assert task["zip_url"] == task["result"]["url"]


@pytest.mark.parametrize("kind", ["main", "thumb", "cover", "icon", "banner"])
def test_every_file_passes_the_wechat_format_rules(made_pack, kind):
    _api, _task, data = made_pack
    archive = zipfile.ZipFile(io.BytesIO(data))
    rules = {  # (size, formats, byte cap): the platform's 制作指引
        "main": ((240, 240), {"GIF", "PNG"}, 500 * KB), "thumb": ((120, 120), {"PNG"}, 50 * KB),
        "cover": ((240, 240), {"PNG"}, 500 * KB), "icon": ((50, 50), {"PNG"}, 100 * KB),
        "banner": ((750, 400), {"PNG", "JPEG"}, 500 * KB)}
    size, formats, cap = rules[kind]
    prefix = {"main": "main/", "thumb": "thumbs/"}.get(kind, f"{kind}.")
    files = [n for n in archive.namelist() if n.startswith(prefix)]
    assert files
    for name in files:
        raw = archive.read(name)
        image = open_image(raw)
        assert image.size == size, name
        assert image.format in formats, name
        assert len(raw) <= cap, (name, len(raw))
        assert image.mode in ("RGB", "RGBA", "P", "L", "LA", "PA"), (name, image.mode)  # RGB colour, no CMYK
        label = image.info.get("AIGC") or image.info.get("comment", b"")
        assert b"VoxMoji" in (label.encode() if isinstance(label, str) else label), name  # the hidden label
        if kind == "main":
            assert image.format == "GIF" and image.n_frames >= 6 and image.info.get("loop") == 0, name
            durations = []
            for frame in range(image.n_frames):
                image.seek(frame)
                durations.append(image.info["duration"])
            assert min(durations) >= 1000 / 12, durations  # at most 12 frames a second
        if kind == "banner":
            assert image.mode == "RGB"  # opaque
        rgb = np.asarray(image.convert("RGB")) if kind != "main" else np.asarray(image.convert("RGB"))
        corner = rgb[: max(8, size[1] // 8), size[0] // 2:]
        assert (corner.max(axis=2) < 110).sum() > 10, name  # the dark 「AI生成」 badge, top right


def test_the_manifest_names_and_means_every_sticker(made_pack):
    _api, task, data = made_pack
    manifest = json.loads(zipfile.ZipFile(io.BytesIO(data)).read("manifest.json"))
    assert manifest["name"] == "宇航员表情" and len(manifest["name"]) <= 8 and len(manifest["introduction"]) <= 80
    assert manifest["count"] == 8 and manifest["ai_generated"] is True
    assert manifest["hidden_label"]["ProduceID"] == task["task_id"]
    # 含义词, each at most 4 characters, as typed (「啊？」 keeps its full-width question mark)
    assert [item["meaning"] for item in manifest["stickers"]] == CAPTIONS
    assert all(1 <= len(item["meaning"]) <= 4 for item in manifest["stickers"])


def test_previews_are_served_and_show_each_emotion(made_pack):
    _api, task, _data = made_pack
    stickers = task["result"]["stickers"]
    assert [s["emotion"] for s in stickers] == EMOTIONS
    assert [s["expression"] for s in stickers] == ["smile", "laugh", "surprise", "angry", "sad", "smile", "none", "smile"]
    for name, url in task["result"]["parts"].items():
        served = requests.get(url, timeout=30)
        assert served.status_code == 200 and served.headers["Content-Type"] == "image/gif", name


def _opaque_under_the_main_label(thumbnail, main):
    """Of the pixels where the main image's label backing lies (scaled to the thumbnail), the share that is opaque
    and dark in the thumbnail. The main image is a GIF, whose 1-bit alpha makes its label backing opaque; a
    thumbnail scaled from it and labelled again shows that backing, opaque, under its own translucent one (a
    second, garbled 「AI生成」). A thumbnail labelled once, on the unlabelled sticker, shows its own backing
    there (alpha 170 over the transparent corner)."""
    scaled = np.asarray(main.resize(thumbnail.size, Image.LANCZOS)).astype(int)
    thumb = np.asarray(thumbnail).astype(int)
    corner = np.zeros(thumb.shape[:2], bool)
    corner[: thumb.shape[0] // 5, thumb.shape[1] // 2:] = True  # the top-right corner, where labels go
    under_label = corner & (scaled[..., 3] > 200) & (scaled[..., :3].max(axis=2) < 60)
    seen = thumb[under_label]
    assert len(seen) > 40  # the main image's label is there to compare with
    return float(((seen[:, 3] > 235) & (seen[:, :3].max(axis=1) < 60)).mean())


def test_an_exported_thumbnail_carries_one_label(made_pack):
    """The thumbnails of the zip served by the export endpoint: each is labelled once at its own size, not scaled
    from a labelled main image (which would leave a garbled label behind the real one). The measure is checked on
    a thumbnail made the wrong way from the same zip, where it must see the doubled label."""
    from backend.engines import sticker_post

    archive = zipfile.ZipFile(io.BytesIO(made_pack[2]))
    for number in range(1, 9):
        main = open_image(archive.read(f"main/{number:02d}.gif")).convert("RGBA")
        thumbnail = open_image(archive.read(f"thumbs/{number:02d}.png")).convert("RGBA")
        assert _opaque_under_the_main_label(thumbnail, main) < 0.3, number
        doubled = sticker_post.draw_ai_label(main.resize(thumbnail.size, Image.LANCZOS))
        assert _opaque_under_the_main_label(doubled, main) > 0.7, number


def test_the_export_is_the_owners_only(made_pack, other_api):
    api, task, _data = made_pack
    assert other_api.get(f"/api/v1/packs/{task['task_id']}/export").status_code == 404
    assert api.get("/api/v1/packs/t_nope/export").status_code == 404
    assert api.get("/api/v1/packs/" + "x" * 5000 + "/export").status_code == 404  # a long path is no task


@pytest.mark.parametrize("change, status, code, field", [
    ({"stickers": [{"text": "一"}] * 7}, 400, "invalid_request", "stickers"),
    ({"stickers": [{"text": "一"}] * 12}, 400, "invalid_request", "stickers"),
    ({"stickers": [{"text": "一"}] * 25}, 400, "invalid_request", "stickers"),
    ({"name": "一二三四五六七八九"}, 422, "text_too_long", "name"), ({"intro": "介" * 81}, 422, "text_too_long", "intro"),
    ({"stickers": [{"text": "长" * 41}] + [{"text": "一"}] * 7}, 422, "text_too_long", "stickers[0].text"),
    ({"stickers": [{"text": "一", "emotion": "joy"}] * 8}, 400, "invalid_request", "stickers"),
    ({"stickers": "eight"}, 400, "invalid_request", "stickers"), ({"face_consent": False}, 422, "consent_required", "face_consent"),
    ({"style": "oil"}, 400, "invalid_request", "style"), ({"image": "bm90IGFuIGltYWdl"}, 415, "unsupported_media", "image")])
def test_bad_packs_are_refused_before_anything_is_held(api, astronaut_b64, change, status, code, field):
    answer = api.post("/api/v1/packs", json={**pack_body(astronaut_b64), **change})
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert error["code"] == code and error["field"] == field, error
    assert api.get("/api/v1/me").json()["user"]["held"] == 0


def test_an_unfinished_pack_is_not_exported(api):
    answer = api.post("/api/v1/packs", json={"template_id": "panda", "stickers": [{"text": f"第{i}"} for i in range(8)],
                                             "animated": False})
    task_of(answer)
    task_id = answer.json()["task_id"]
    early = api.get(f"/api/v1/packs/{task_id}/export")
    task = api.wait_task(task_id)
    assert task["status"] == "succeeded" and task["cost"] == 8
    if early.status_code != 200:  # (a fast worker may have finished already)
        assert early.status_code == 400 and early.json()["error"]["field"] == "task_id"
    names = zipfile.ZipFile(io.BytesIO(api.get(f"/api/v1/packs/{task_id}/export").content)).namelist()
    assert "main/01.png" in names  # static packs have PNG main images
    assert api.get(f"/api/v1/packs/{api.post('/api/v1/emoji', json={'template_id': 'panda'}).json()['task_id']}"
                   "/export").status_code == 404  # a sticker is not a pack
