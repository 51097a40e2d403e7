"""Sticker post-processing: captions, the AI label, outlines, animation and the GIF byte cap."""
import io

import numpy as np
import pytest
from PIL import Image

from backend.emotions import expression_for
from backend.engines import sticker_post


def noisy_sticker(size=240, seed=3):
    """A colourful RGBA image that is hard to compress (worst case for the GIF cap)."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (size, size, 4), dtype=np.uint8)
    pixels[..., 3] = 255
    pixels[:20, :20, 3] = 0
    return Image.fromarray(pixels, "RGBA")


def test_caption_drops_emoji_and_wraps():
    assert sticker_post.caption_text("开心😀大笑👍🏻\u200d！") == "开心大笑!"
    image = Image.new("RGBA", (512, 512), (0, 0, 0, 0))
    sticker_post.draw_caption(image, "这是一个很长很长的标题需要分成两行来显示才行")
    alpha = np.asarray(image)[..., 3]
    rows = np.nonzero(alpha.max(axis=1))[0]
    assert rows.min() > 512 * 0.74 and rows.max() < 512 * 0.98  # inside the caption band
    size, lines = sticker_post.fit_caption("这是一个很长很长的标题需要分成两行来显示才行", 492, 107)
    assert len(lines) == 2 and size >= 20
    assert len(sticker_post.fit_caption("加油", 492, 107)[1]) == 1
    assert np.asarray(image)[..., :3][alpha == 255].min() == 0  # black stroke present


def test_ai_label_is_visible_at_animated_size():
    image = Image.new("RGBA", (240, 240), (255, 255, 255, 255))
    sticker_post.draw_ai_label(image)
    corner = np.asarray(image)[:30, 150:]
    assert (corner[..., :3].sum(axis=2) < 400).sum() > 100  # the dark box
    assert (corner[..., 3] == 255).all()


def test_outline_surrounds_the_shape():
    rgba = np.zeros((100, 100, 4), np.uint8)
    rgba[40:60, 40:60] = (200, 0, 0, 255)
    out = sticker_post.add_outline(rgba, 6)
    assert tuple(out[50, 35, :3]) == (255, 255, 255) and out[50, 35, 3] == 255  # white border
    assert tuple(out[50, 50, :3]) == (200, 0, 0)
    assert out[5, 5, 3] == 0


@pytest.mark.parametrize("animation", sticker_post.ANIMATIONS)
def test_animations_make_distinct_frames(animation):
    frames = sticker_post.animate(sticker_post.fit_square(noisy_sticker(), 240), animation)
    assert 8 <= len(frames) <= 12
    arrays = [np.asarray(f) for f in frames]
    assert all(not np.array_equal(a, b) for a, b in zip(arrays, arrays[1:]))
    encoded = sticker_post.encode_animated(frames, "gif", max_bytes=None)
    gif = Image.open(io.BytesIO(encoded.data))
    assert gif.n_frames == len(frames) and gif.info["transparency"] is not None


def test_gif_is_shrunk_under_the_cap_not_failed():
    frames = sticker_post.animate(noisy_sticker(), "shake")
    full = sticker_post.encode_animated(frames, "gif", max_bytes=None)
    capped = sticker_post.encode_animated(frames, "gif", max_bytes=len(full.data) // 3)
    assert len(capped.data) < len(full.data)
    assert Image.open(io.BytesIO(capped.data)).n_frames >= 6
    tiny = sticker_post.encode_animated(frames, "gif", max_bytes=10)  # impossible: best effort, never an error
    assert Image.open(io.BytesIO(tiny.data)).n_frames >= 1


@pytest.mark.parametrize("text, expression", [
    ("开心大笑", "laugh"), ("哈哈哈", "laugh"), ("好开心", "smile"), ("什么？！", "surprise"),
    ("气死我了", "angry"), ("呜呜好难过", "sad"), ("收到", "none"), ("", "none")])
def test_expression_from_text(text, expression):
    assert expression_for(text) == expression
