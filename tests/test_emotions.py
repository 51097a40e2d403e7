"""One emotion vocabulary drives both engines: GET /api/v1/emotions, `emotion` on stickers and TTS, and the
same words understood in captions and speaking instructions. Measured on the results: the face's landmarks
and the voice's F0 and length."""
import base64
import io

import numpy as np
import pytest
import requests
from api_client import task_of
from media_samples import astronaut_photo, decode_file, encode_image, median_f0
from PIL import Image

from backend import emotions
from backend.engines.face_analysis import FaceAnalyzer
from backend.engines.instructions import parse_instruction
from backend.engines.sticker_decorations import decorate
from backend.face_mesh import Face
from backend.vocabulary import EXPRESSIONS

REQUIRED = ("开心", "大笑", "惊讶", "生气", "难过", "委屈", "害羞", "无语", "得意", "害怕")
TEXT = "今天天气真好，我们一起去公园散步吧。"


def test_the_table_names_every_required_emotion_once():
    names = [emotion.name for emotion in emotions.EMOTIONS]
    assert set(REQUIRED) <= set(names) and len(names) == len(set(names))
    for emotion in emotions.EMOTIONS:
        assert emotion.expression in EXPRESSIONS and emotion.decoration in emotions.DECORATIONS
        assert emotion.instruct.endswith("。") and emotion.synonyms
        assert any(word.isascii() for word in emotion.synonyms), emotion.id  # English synonyms too


@pytest.mark.parametrize("text, emotion", [
    ("开心大笑", "laugh"), ("哈哈哈", "laugh"), ("好开心", "happy"), ("什么？！", "surprised"), ("气死我了", "angry"),
    ("呜呜好难过", "sad"), ("好委屈", "wronged"), ("有点害羞", "shy"), ("我无语了", "speechless"), ("得意洋洋", "smug"),
    ("好害怕", "scared"), ("so shy", "shy"), ("I am made of stone", None), ("收到", None), ("", None)])
def test_a_caption_names_its_emotion(text, emotion):
    found = emotions.guess(text)
    assert (found.id if found else None) == emotion


@pytest.mark.parametrize("instruct, styles", [
    ("害羞地说", ["shy"]), ("委屈地小声说", ["wronged", "whisper"]), ("sad and slow", ["sad", "slow"]),
    ("用四川话，得意地说", ["sichuanese", "smug"])])
def test_an_instruction_uses_the_same_table(instruct, styles):
    assert sorted(parse_instruction(instruct).styles) == sorted(styles)
    assert parse_instruction(instruct).ignored == []


def test_every_decoration_draws_something():
    analyzer = FaceAnalyzer()
    rgb = astronaut_photo()
    face = analyzer.faces(rgb)[0]
    analyzer.close()
    base = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    for decoration in emotions.DECORATIONS:
        drawn = decorate(base.copy(), Face(face.landmarks), decoration)
        changed = int(np.any(drawn != base, axis=2).sum())
        assert (changed == 0) == (decoration == "none"), decoration


# -- through the stack ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def astronaut_b64():
    return base64.b64encode(encode_image(astronaut_photo(), "PNG")).decode()


def sticker(api, **fields):
    answer = api.post("/api/v1/emoji?wait=20", json={"face_consent": True, "style": "cutout", **fields})
    task_of(answer)
    task = api.wait_task(answer.json()["task_id"])
    assert task["status"] == "succeeded", task
    pixels = Image.open(io.BytesIO(requests.get(task["image_url"], timeout=30).content)).convert("RGBA")
    return task, np.asarray(pixels)


def test_the_list_is_served(api):
    listed = requests.get(api.base_url + "/api/v1/emotions", timeout=10)
    assert listed.status_code == 200
    body = listed.json()["emotions"]
    assert [e["emotion"] for e in body] == list(emotions.IDS)
    shy = next(e for e in body if e["name"] == "害羞")
    assert shy["expression"] == "smile" and shy["decoration"] == "blush" and "shy" in shy["synonyms"]
    assert shy["voice"]["gain_db"] < 0 and "害羞" in shy["voice"]["instruct"]


def test_an_emotion_sets_the_face_and_its_decoration(api, astronaut_b64):
    analyzer = FaceAnalyzer()
    try:
        plain_task, plain = sticker(api, image=astronaut_b64, text="", expression="none")
        laugh_task, laugh = sticker(api, image=astronaut_b64, text="", emotion="laugh")
        shy_task, shy = sticker(api, image=astronaut_b64, text="", emotion="shy")
        faces = {name: analyzer.faces(np.ascontiguousarray(pixels[..., :3]))[0]
                 for name, pixels in (("plain", plain), ("laugh", laugh), ("shy", shy))}
    finally:
        analyzer.close()
    assert laugh_task["result"]["expression"] == "laugh" and shy_task["result"]["decoration"] == "blush"
    assert faces["laugh"].mouth_opening > faces["plain"].mouth_opening + 0.02
    assert faces["shy"].mouth_corner_lift > faces["plain"].mouth_corner_lift + 0.003  # 害羞 smiles
    pink = (shy[..., 0].astype(int) - shy[..., 1] > 40) & (plain[..., 0].astype(int) - plain[..., 1] <= 40)
    assert pink.sum() > 200  # blushing cheeks


def test_a_caption_picks_the_emotion_and_its_decoration(api, astronaut_b64):
    task, _ = sticker(api, image=astronaut_b64, text="我无语了")
    assert task["result"]["expression"] == "none" and task["result"]["decoration"] == "lines"


@pytest.mark.parametrize("fields, field", [
    ({"emotion": "laugh", "expression": "sad"}, "expression"), ({"emotion": "joy"}, "emotion"),
    ({"emotion": "x" * 5000}, "emotion"), ({"emotion": 7}, "emotion")])
def test_bad_emotions_are_refused(api, astronaut_b64, fields, field):
    answer = api.post("/api/v1/emoji", json={"face_consent": True, "image": astronaut_b64, **fields})
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["code"] == "invalid_request" and answer.json()["error"]["field"] == field
    spoken = api.post("/api/v1/tts", json={"text": TEXT, "voice_id": "v_none", **fields})
    if field == "emotion":
        assert spoken.status_code == 400 and spoken.json()["error"]["field"] == "emotion", spoken.text


def speak(api, voice_b64, **fields):
    answer = api.post("/api/v1/tts?wait=20", json={"text": TEXT, "voice_consent": True, "prompt_audio": voice_b64, "format": "wav",
                                                   **fields})
    task_of(answer)
    task = api.wait_task(answer.json()["task_id"])
    assert task["status"] == "succeeded", task
    return task, decode_file(requests.get(task["audio_url"], timeout=30).content)


def test_an_emotion_changes_the_voice(api, high_voice_b64):
    _, plain = speak(api, high_voice_b64)
    sad_task, sad = speak(api, high_voice_b64, emotion="sad")
    scared_task, scared = speak(api, high_voice_b64, emotion="scared")
    assert sad_task["result"]["instruct_applied"] == ["sad"]
    assert scared_task["result"]["instruct_applied"] == ["scared"]
    assert median_f0(sad) < 0.95 * median_f0(plain) and len(sad) > 1.1 * len(plain)  # lower, slower
    assert median_f0(scared) > 1.05 * median_f0(plain) and len(scared) < 0.95 * len(plain)  # higher, faster
