"""Talking stickers through the running stack: a saved voice says the text and the photo's mouth moves with
it. Measured on the MP4: H.264 + AAC of the same duration, and the mouth region's change from frame to frame
follows the audio's loudness."""
import base64
import json
import subprocess

import numpy as np
import pytest
import requests
from api_client import task_of
from media_samples import astronaut_photo, encode_image, landscape_photo

from backend.engines.face_analysis import FaceAnalyzer

TEXT = "你好，今天天气真好，我们一起去公园散步吧！"


@pytest.fixture(scope="module")
def astronaut_b64():
    return base64.b64encode(encode_image(astronaut_photo(), "PNG")).decode()


@pytest.fixture
def voice_id(api, low_voice_wav):
    created = api.post("/api/v1/voices", files={"audio": ("me.wav", low_voice_wav, "audio/wav")},
                       data={**api.consent(), "prompt_text": "我们今天去公园玩"})
    assert created.status_code == 201, created.text
    return created.json()["voice"]["voice_id"]


def probe(path):
    done = subprocess.run(["ffprobe", "-v", "error", "-show_streams", "-show_format", "-of", "json", str(path)],
                          capture_output=True, text=True, timeout=30)
    return json.loads(done.stdout)


def video_frames(path, size):
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
                         capture_output=True, timeout=60).stdout
    return np.frombuffer(raw, np.uint8).reshape(-1, size, size, 3)


def audio_samples(path, rate=16000):
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-f", "s16le", "-ac", "1", "-ar", str(rate), "-"],
                         capture_output=True, timeout=60).stdout
    return np.frombuffer(raw, "<i2").astype(np.float32) / 32768


def test_the_mouth_moves_with_the_voice(api, voice_id, astronaut_b64, tmp_path):
    answer = api.post("/api/v1/talking-stickers?wait=20", json={
        "image": astronaut_b64, "face_consent": True, "text": TEXT, "voice_id": voice_id, "emotion": "happy"})
    task_of(answer)
    task = api.wait_task(answer.json()["task_id"], timeout=120)
    assert task["status"] == "succeeded", task
    assert task["kind"] == "talking" and task["engine"] == "espeak-world"
    mp4 = tmp_path / "sticker.mp4"
    served = requests.get(task["video_url"], timeout=30)
    assert served.status_code == 200 and served.headers["Content-Type"] == "video/mp4"
    mp4.write_bytes(served.content)
    (__import__("pathlib").Path(__file__).resolve().parent / "artifacts").mkdir(exist_ok=True)
    (__import__("pathlib").Path(__file__).resolve().parent / "artifacts" / "talking-sticker.mp4").write_bytes(served.content)

    info = probe(mp4)
    streams = {s["codec_type"]: s for s in info["streams"]}
    assert streams["video"]["codec_name"] == "h264" and streams["audio"]["codec_name"] == "aac"
    assert streams["video"]["pix_fmt"] == "yuv420p" and streams["video"]["width"] == 480
    video_seconds, audio_seconds = float(streams["video"]["duration"]), float(streams["audio"]["duration"])
    assert abs(video_seconds - audio_seconds) < 0.1, (video_seconds, audio_seconds)
    assert 1.5 < video_seconds <= 10.0 and abs(task["duration"] - video_seconds) < 0.15
    assert "VoxMoji" in info["format"]["tags"].get("comment", "")  # the hidden label

    frames = video_frames(mp4, 480)
    samples = audio_samples(mp4)
    fps = len(frames) / video_seconds
    window = 16000 / fps
    loudness = np.array([np.sqrt(np.mean(samples[int(i * window):int((i + 1) * window)] ** 2) + 1e-12)
                         for i in range(len(frames))])
    analyzer = FaceAnalyzer()
    try:
        face = analyzer.faces(np.ascontiguousarray(frames[0]))[0]
    finally:
        analyzer.close()
    x0, y0 = (face.mouth - face.eye_distance * 0.6).astype(int)
    x1, y1 = (face.mouth + face.eye_distance * 0.6).astype(int)
    mouth = frames[:, max(0, y0):y1, max(0, x0):x1].astype(np.float32)
    quiet = mouth[int(np.argmin(loudness))]
    motion = np.abs(mouth - quiet).mean(axis=(1, 2, 3))  # how far each frame's mouth is from the closed one
    correlation = float(np.corrcoef(motion, loudness)[0, 1])
    assert correlation > 0.5, correlation
    assert motion.max() > 8  # the mouth visibly opens

    gif = requests.get(task["image_url"], timeout=30)
    assert gif.status_code == 200 and gif.headers["Content-Type"] == "image/gif"
    import io

    from PIL import Image
    image = Image.open(io.BytesIO(gif.content))
    assert image.size == (240, 240) and image.n_frames > 10 and b"VoxMoji" in image.info.get("comment", b"")
    assert task["result"]["parts"]["sticker.gif"] == task["image_url"]


@pytest.mark.parametrize("change, status, code, field", [
    ({"text": "长" * 31}, 422, "text_too_long", "text"), ({"text": ""}, 400, "invalid_request", "text"),
    ({"voice_id": "v_missing"}, 404, "not_found", "voice_id"), ({"voice_id": "v" * 65}, 400, "invalid_request", "voice_id"),
    ({"face_consent": False}, 422, "consent_required", "face_consent"), ({"emotion": "joy"}, 400, "invalid_request", "emotion"),
    ({"style": "sd"}, 400, "invalid_request", "style")])
def test_bad_talking_stickers_are_refused(api, voice_id, astronaut_b64, change, status, code, field):
    body = {"image": astronaut_b64, "face_consent": True, "text": TEXT, "voice_id": voice_id, **change}
    answer = api.post("/api/v1/talking-stickers", json=body)
    assert answer.status_code == status, answer.text
    assert answer.json()["error"]["code"] == code and answer.json()["error"]["field"] == field
    assert api.get("/api/v1/me").json()["user"]["held"] == 0


def test_another_users_voice_is_not_found(api, other_api, voice_id, astronaut_b64):
    answer = other_api.post("/api/v1/talking-stickers", json={
        "image": astronaut_b64, "face_consent": True, "text": TEXT, "voice_id": voice_id})
    assert answer.status_code == 404 and answer.json()["error"]["field"] == "voice_id"


def test_a_photo_without_a_face_fails_and_costs_nothing(api, voice_id):
    before = api.get("/api/v1/me").json()["user"]["balance"]
    landscape = base64.b64encode(encode_image(landscape_photo())).decode()
    answer = api.post("/api/v1/talking-stickers?wait=20", json={"image": landscape, "face_consent": True,
                                                                "text": "你好", "voice_id": voice_id})
    if answer.status_code < 400:
        task = api.wait_task(answer.json()["task_id"])
        assert task["status"] == "failed" and task["refunded"] > 0
        answer = api.get(f"/api/v1/tasks/{task['task_id']}")
        error = task["error"]
    else:
        error = answer.json()["error"]
    assert error["code"] == "no_face_detected" and error["field"] == "image", error
    assert api.get("/api/v1/me").json()["user"]["balance"] == before


def test_the_panda_template_talks(api, voice_id):
    answer = api.post("/api/v1/talking-stickers?wait=20", json={"template_id": "panda", "text": "你好呀", "voice_id": voice_id,
                                                                "emotion": "smug"})
    task = api.wait_task(answer.json()["task_id"])
    assert task["status"] == "succeeded" and task["result"]["emotion"] == "smug"
    assert task["result"]["instruct_applied"] == ["smug"]  # the emotion's voice too


def test_deleting_the_voice_deletes_its_talking_stickers(api, voice_id):
    """F2: a talking sticker is made from the voice's recording, so it goes with the voice: the task is deleted
    and its video, GIF and parts are no longer served."""
    answer = api.post("/api/v1/talking-stickers?wait=20", json={
        "template_id": "panda", "text": "删掉声音就没了", "voice_id": voice_id})
    task = api.wait_task(answer.json()["task_id"], timeout=120)
    assert task["status"] == "succeeded", task
    links = [task["video_url"], *task["result"]["parts"].values()]
    assert all(requests.get(url, timeout=30).status_code == 200 for url in links)

    assert api.delete(f"/api/v1/voices/{voice_id}").status_code == 204

    shown = api.get(f"/api/v1/tasks/{task['task_id']}").json()
    assert shown["status"] == "deleted" and shown["result"] is None and shown["error"]["code"] == "gone"
    assert [requests.get(url, timeout=30).status_code for url in links] == [404] * len(links)
