"""The explicit label (「AI生成」 legible in every frame) and the implicit one (metadata naming AI generation,
the service and the job) on every kind of output, read back from what the service serves."""
import base64
import io
import json
import time

import numpy as np
import pytest
import requests
from api_client import Api
from media_samples import encode_image, hopper_photo, wav_bytes
from PIL import Image, ImageSequence

from backend.engines import sticker_post
from backend.renders.labels import hidden_label, label_audio


def label_box(size):
    """Where draw_ai_label puts the label on a size x size frame (top-right corner)."""
    return np.s_[: size // 8, size // 2:]


@pytest.mark.parametrize("animation", ["bounce", "shake", "zoom"])
def test_the_visible_label_is_identical_and_whole_in_every_frame(animation):
    sticker = Image.new("RGBA", (240, 240), (0, 0, 0, 0))
    sticker.paste((230, 90, 90, 255), (20, 60, 220, 220))  # below the label, in every frame of every animation
    frames = sticker_post.label(sticker_post.animate(sticker, animation), True)
    boxes = [np.asarray(frame)[label_box(240)] for frame in frames]
    reference = np.asarray(sticker_post.draw_ai_label(Image.new("RGBA", (240, 240), (0, 0, 0, 0))))[label_box(240)]
    drawn = reference[..., 3] > 0
    assert drawn.sum() > 300
    for box in boxes:  # the label's own pixels are exactly the same in every frame: not rotated, scaled or cut
        assert np.array_equal(box[drawn][:, 3], reference[drawn][:, 3])
        assert (np.abs(box[drawn][:, :3].astype(int) - reference[drawn][:, :3].astype(int)) <= 2).mean() > 0.97


def read_hidden_label(data, mime):
    if mime == "audio/mpeg":
        from mutagen.id3 import ID3

        return ID3(io.BytesIO(data)).getall("TXXX:AIGC")[0].text[0]
    if mime == "audio/wav":
        from mutagen.wave import WAVE

        return WAVE(io.BytesIO(data)).tags.getall("TXXX:AIGC")[0].text[0]
    image = Image.open(io.BytesIO(data))
    if mime == "image/png":
        return image.info["AIGC"]
    if mime == "image/gif":
        return image.info["comment"].decode()
    xmp = image.info["xmp"]
    xmp = xmp.decode() if isinstance(xmp, bytes) else xmp
    value = xmp.split('TC260:AIGC="', 1)[1].split('"', 1)[0]
    return value.replace("&quot;", '"').replace("&amp;", "&")


def test_the_hidden_label_survives_encoding_of_every_format():
    frame = Image.new("RGBA", (64, 64), (10, 200, 10, 255))
    text = hidden_label("t_example")
    for fmt in ("png", "webp", "gif"):
        encoded = sticker_post.encode_static(frame, fmt, hidden_label=text)
        assert json.loads(read_hidden_label(encoded.data, encoded.mime))["ProduceID"] == "t_example", fmt
    for fmt in ("webp", "gif"):
        encoded = sticker_post.encode_animated([frame, frame], fmt, None, hidden_label=text)
        assert json.loads(read_hidden_label(encoded.data, encoded.mime))["Label"] == "1", fmt
    from backend.services.media import audio

    tone = (0.2 * np.sin(np.arange(16000) / 16000 * 2 * np.pi * 220)).astype(np.float32)
    for fmt, mime in (("mp3", "audio/mpeg"), ("wav", "audio/wav")):
        data = label_audio(audio.encode(tone, 16000, fmt).data, fmt, text)
        assert json.loads(read_hidden_label(data, mime))["ContentProducer"] == "VoxMoji", fmt
        decoded = audio.decode(data, fmt, None, max_seconds=30, timeout=20, field="x")  # still plays
        assert abs(decoded.duration - 1.0) < 0.1


@pytest.mark.parametrize("request_body, kind", [
    ({"template_id": "panda", "text": "标签", "format": "png"}, "emoji"),
    ({"template_id": "wanted", "text": "标签", "animated": True, "animation": "shake", "format": "gif"}, "emoji"),
    ({"template_id": "panda", "text": "标签", "animated": True, "animation": "zoom", "format": "webp"}, "emoji"),
    ({"text": "标签测试。", "format": "mp3"}, "tts"),
    ({"text": "标签测试。", "format": "wav"}, "tts"),
])
def test_every_served_output_carries_the_hidden_label(stack, high_voice, request_body, kind):
    api = Api(stack.base_url, f"labels-{time.monotonic_ns()}")
    if kind == "tts":
        request_body = {**request_body, "voice_consent": True, "prompt_audio": base64.b64encode(wav_bytes(high_voice * 0.8)).decode()}
    answer = api.post(f"/api/v1/{kind}?wait=20", json=request_body)
    task = api.wait_task(answer.json()["task_id"])
    assert task["status"] == "succeeded", task
    served = requests.get(task["result"]["url"], timeout=10)
    label = json.loads(read_hidden_label(served.content, task["result"]["mime"]))
    assert label == {**label, "Label": "1", "ContentProducer": "VoxMoji", "ProduceID": task["task_id"]}
    if task["result"]["mime"] == "image/gif":  # legible in every frame of the served file: box opaque, text white
        size = task["result"]["width"]
        reference = np.asarray(sticker_post.draw_ai_label(Image.new("RGBA", (size, size), (0, 0, 0, 0))))
        box = reference[label_box(size)][..., 3] >= 128
        text = box & (reference[label_box(size)][..., :3].min(axis=2) > 200)
        frames = [np.asarray(f.convert("RGBA"))[label_box(size)] for f in ImageSequence.Iterator(Image.open(
            io.BytesIO(served.content)))]
        assert len(frames) > 1 and text.sum() > 50
        behind = box & ~text
        for frame in frames:  # (GIF's shared palette shifts colours a little: check the contrast)
            assert (frame[..., 3][box] == 255).all()
            brightness = frame[..., :3].astype(int).mean(axis=2)
            assert brightness[text].mean() > 170 and brightness[text].mean() - brightness[behind].mean() > 90


def test_a_swap_result_carries_both_labels(stack):
    api = Api(stack.base_url, f"labels-swap-{time.monotonic_ns()}")
    photo = base64.b64encode(encode_image(hopper_photo())).decode()
    answer = api.post("/api/v1/swap?wait=20", json={"face_consent": True, "source_image": photo, "template_id": "astronaut"})
    task = api.wait_task(answer.json()["task_id"])
    served = requests.get(task["result"]["url"], timeout=10).content
    assert json.loads(read_hidden_label(served, task["result"]["mime"]))["ProduceID"] == task["task_id"]


def test_every_image_of_an_exported_pack_has_exactly_one_visible_label():
    """Thumbnails, icon, cover and banner are labelled once at their own size: a scaled copy of a labelled main
    image would carry a second, garbled 「AI生成」 behind the real one. On a plain grey sticker one label is one
    shade of the label's backing; a label under a label would show a second, darker one."""
    import zipfile

    from backend.renders import wechat_pack

    frame = Image.new("RGBA", (240, 240), (200, 200, 200, 255))
    main = sticker_post.label([frame.copy()], True)
    data, extension = wechat_pack.main_image(main, False, hidden_label("t_label"))
    stickers = [([frame], data, extension, "开心")] * 8
    archive = zipfile.ZipFile(io.BytesIO(wechat_pack.assemble(stickers, "测试", "介绍", hidden_label("t_label"))))
    for name in ("thumbs/01.png", "icon.png", "cover.png", "main/01.png", "banner.png"):
        pixels = np.asarray(Image.open(io.BytesIO(archive.read(name))).convert("L")).astype(int)
        # grey 200 under the backing (0, 0, 0, 170) is about 67; under two backings it would be about 22
        assert 60 <= pixels.min() <= 75, (name, pixels.min())


@pytest.fixture(scope="module")
def audible_stack(tmp_path_factory):
    from stack_process import Stack

    with Stack(tmp_path_factory.mktemp("audible"), services=("redis", "web", "worker", "nginx"),
               VOXMOJI_AUDIO_LABEL="start") as stack:
        yield stack


def _cue_pattern(samples, rate=16000):
    """Whether each 40 ms window of the first 0.9 s is an 800 Hz tone (True) or quiet (False)."""
    import numpy as np

    windows = []
    for start in range(0, int(0.88 * rate), int(0.04 * rate)):
        window = samples[start:start + int(0.04 * rate)]
        spectrum = np.abs(np.fft.rfft(window * np.hanning(len(window))))
        tone = spectrum[int(780 * len(window) / rate):int(820 * len(window) / rate) + 1].sum()
        windows.append(bool(tone > 0.5 * spectrum.sum() and np.abs(window).max() > 0.05))
    return windows


def test_the_operator_can_switch_on_an_audible_label(audible_stack, stack, high_voice_b64):
    """GB 45438-2025's rhythm cue for audio (Morse "AI": short-long, short-short) at the start of the speech
    when VOXMOJI_AUDIO_LABEL=start; off by default."""
    import soundfile

    body = {"text": "听得见的标识。", "voice_consent": True, "prompt_audio": high_voice_b64, "format": "wav"}
    heard = {}
    for name, where in (("on", audible_stack), ("off", stack)):
        api = Api(where.base_url, f"audible-{name}-{time.monotonic_ns()}")
        task = api.wait_task(api.post("/api/v1/tts", json=body).json()["task_id"])
        samples, rate = soundfile.read(io.BytesIO(requests.get(task["audio_url"], timeout=30).content), dtype="float32")
        heard[name] = _cue_pattern(samples if rate == 16000 else _resample(samples, rate))
    # 40 ms windows: dot (2 on), gap, dash (6 on), letter gap, dot, gap, dot
    expected = [True] * 2 + [False] * 2 + [True] * 6 + [False] * 6 + [True] * 2 + [False] * 2 + [True] * 2
    assert sum(a == b for a, b in zip(heard["on"], expected)) >= len(expected) - 3, heard["on"]
    assert sum(heard["off"]) <= 3  # speech, not the cue


def _resample(samples, rate):
    import numpy as np

    positions = np.arange(0, len(samples), rate / 16000)
    return np.interp(positions, np.arange(len(samples)), samples).astype(np.float32)
