"""Sticker post-processing shared by every sticker engine: outline, caption, "AI生成" label, animation, encoding."""
import io
import math
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from backend.vocabulary import ANIMATIONS, IMAGE_FORMATS

FONT_PATH = "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc"
FONT_FAMILY = "Noto Sans CJK SC"
STATIC_SIZE = 512
ANIMATED_SIZE = 240  # WeChat custom stickers
# Pictographs, dingbats, variation selectors and joiners: the CJK font has no glyphs for them.
_EMOJI = re.compile(r"[\U0001F000-\U0001FAFF\u2600-\u27BF\uFE0E\uFE0F\u200D\u20E3\U000E0020-\U000E007F]")


@dataclass
class EncodedSticker:
    """Encoded bytes plus what the task reports about them."""

    data: bytes
    mime: str
    width: int
    height: int
    frames: int


@lru_cache(maxsize=64)
def font(size):
    """Noto Sans CJK SC Bold at `size` px (the .ttc holds several faces; pick SC by name)."""
    for index in range(10):
        face = ImageFont.truetype(FONT_PATH, size, index=index)
        if face.getname()[0] == FONT_FAMILY:
            return face
    return ImageFont.truetype(FONT_PATH, size)


def caption_text(text):
    """What will be drawn: NFKC, emoji dropped, whitespace collapsed."""
    text = _EMOJI.sub("", unicodedata.normalize("NFKC", text or ""))
    text = "".join(ch for ch in text if unicodedata.category(ch)[0] != "C")
    return re.sub(r"\s+", " ", text).strip()


def _lines_for(text, width, draw, size):
    face = font(size)
    if draw.textlength(text, font=face) <= width:
        return [text]
    # two lines, split where the halves are most even
    best = None
    for cut in range(1, len(text)):
        a, b = text[:cut].strip(), text[cut:].strip()
        longest = max(draw.textlength(a, font=face), draw.textlength(b, font=face))
        if best is None or longest < best[0]:
            best = (longest, [a, b])
    return best[1] if best and best[0] <= width else None


def add_outline(rgba, width_px, colour=(255, 255, 255)):
    """The die-cut look: a solid border around the opaque shape, over a soft drop shadow."""
    radius = max(1, int(width_px))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    grown = cv2.dilate((rgba[..., 3] > 40).astype(np.uint8) * 255, kernel)
    grown = cv2.GaussianBlur(grown, (3, 3), 0).astype(np.float32)
    offset = radius // 2 + 1
    shadow = cv2.GaussianBlur(np.roll(grown, (offset, offset), axis=(0, 1)), (0, 0), radius * 0.6)
    border = np.zeros(rgba.shape, dtype=np.float32)
    border[..., :3] = colour
    border[..., 3] = grown
    shade = np.zeros(rgba.shape, dtype=np.float32)
    shade[..., 3] = shadow * 0.35
    return over(rgba.astype(np.float32), over(border, shade)).clip(0, 255).astype(np.uint8)


def over(top, bottom):
    """Porter-Duff `top over bottom` on float RGBA (0-255)."""
    top_alpha, bottom_alpha = top[..., 3:] / 255.0, bottom[..., 3:] / 255.0
    alpha = top_alpha + bottom_alpha * (1 - top_alpha)
    rgb = (top[..., :3] * top_alpha + bottom[..., :3] * bottom_alpha * (1 - top_alpha)) / np.maximum(alpha, 1e-6)
    return np.concatenate([rgb, alpha * 255.0], axis=2)


def fit_caption(text, width, height):
    """The largest font size (and its one or two lines) at which `text` fits in width x height."""
    draw = ImageDraw.Draw(Image.new("L", (1, 1)))
    size = int(height * 0.8)
    while size > 10:
        lines = _lines_for(text, width, draw, size)
        if lines and size * 1.15 * len(lines) <= height:
            return size, lines
        size -= 2
    return 10, _lines_for(text, width, draw, 10) or [text]


def draw_caption(image: Image.Image, text, box=None):
    """Bold CJK caption with a black stroke, fitted to the box width, one or two lines."""
    text = caption_text(text)
    if not text:
        return image
    width, height = image.size
    x0, y0, x1, y1 = box or (int(width * 0.04), int(height * 0.76), int(width * 0.96), int(height * 0.97))
    size, lines = fit_caption(text, x1 - x0, y1 - y0)
    draw = ImageDraw.Draw(image)
    face = font(size)
    stroke = max(2, size // 9)
    line_height = size * 1.15
    top = y0 + ((y1 - y0) - line_height * len(lines)) / 2
    for number, line in enumerate(lines):
        line_width = draw.textlength(line, font=face)
        draw.text(((x0 + x1 - line_width) / 2, top + number * line_height), line, font=face, fill=(255, 255, 255, 255),
                  stroke_width=stroke, stroke_fill=(0, 0, 0, 255))
    return image


def draw_ai_label(image: Image.Image):
    """A small, visible "AI生成" in the top-right corner (synthetic media must be labelled); the
    bottom belongs to the caption."""
    width, _ = image.size
    size = max(12, width // 22)
    face = font(size)
    overlay = Image.new("RGBA", image.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    label = "AI生成"
    text_width = draw.textlength(label, font=face)
    x, y = width - text_width - size * 0.5, size * 0.4
    draw.rounded_rectangle((x - size * 0.3, y - size * 0.05, x + text_width + size * 0.3, y + size * 1.25),
                           radius=size // 3, fill=(0, 0, 0, 170))  # opaque enough to survive GIF's 1-bit alpha
    draw.text((x, y), label, font=face, fill=(255, 255, 255, 240))
    image.alpha_composite(overlay)
    return image


def finish_frame(rgba, caption, size, caption_box=None):
    """Fit a sticker into a square canvas and caption it (the AI label goes on each final frame: `label`)."""
    image = Image.fromarray(rgba, "RGBA")
    image = fit_square(image, size, bottom_room=0.2 if caption and not caption_box else 0.0)
    if caption:
        box = None
        if caption_box:
            box = tuple(int(v * size) for v in caption_box)
        draw_caption(image, caption, box)
    return image


def label(frames, visible):
    """The visible "AI生成" on every final frame, in the same place and upright (drawn after animating, so no
    frame rotates, shrinks or cuts it off)."""
    return [draw_ai_label(frame) for frame in frames] if visible else frames


def fit_square(image: Image.Image, size, bottom_room=0.0):
    """Scale into size x size, centred, leaving `bottom_room` of the height free for a caption."""
    canvas = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    available = (size, int(size * (1 - bottom_room)))
    scale = min(available[0] / image.width, available[1] / image.height)
    resized = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))),
                           Image.Resampling.LANCZOS)
    canvas.alpha_composite(resized, ((size - resized.width) // 2, (available[1] - resized.height) // 2))
    return canvas


def animate(image: Image.Image, animation, frames=12):
    """`frames` RGBA frames of a looping bounce, shake or zoom of the (already captioned) sticker."""
    if animation not in ANIMATIONS:
        raise ValueError(f"animation must be one of {ANIMATIONS}, got {animation!r}")
    size = image.width
    out = []
    for number in range(frames):
        phase = 2 * math.pi * number / frames
        canvas = Image.new("RGBA", image.size, (0, 0, 0, 0))
        if animation == "bounce":
            lift = (1 - math.cos(phase)) / 2 * size * 0.08  # no two neighbouring frames alike
            squash = 0.06 * max(0.0, math.cos(phase)) ** 4  # squashed when it lands
            scaled = image.resize((round(size * 0.92 * (1 + squash)), round(size * 0.92 * (1 - squash))),
                                  Image.Resampling.BILINEAR)
            canvas.alpha_composite(scaled, ((size - scaled.width) // 2, int(size - scaled.height - lift)))
        elif animation == "shake":
            angle = 8 * math.sin(phase)
            shifted = image.rotate(angle, resample=Image.Resampling.BICUBIC, center=(size / 2, size * 0.8))
            canvas.alpha_composite(shifted, (int(size * 0.02 * math.sin(2 * phase)), 0))
        else:
            scale = 0.9 + 0.1 * (1 + math.sin(phase)) / 2 + 0.02
            scaled = image.resize((round(size * scale),) * 2, Image.Resampling.BILINEAR)
            offset = (size - scaled.width) // 2
            if offset >= 0:
                canvas.alpha_composite(scaled, (offset, offset))
            else:
                canvas.alpha_composite(scaled.crop((-offset, -offset, -offset + size, -offset + size)))
        out.append(canvas)
    return out


def xmp_packet(hidden_label):
    """An XMP packet carrying the hidden label (WebP's metadata)."""
    from xml.sax.saxutils import escape

    return ('<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/">'
            '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about="" '
            f'xmlns:TC260="http://www.tc260.org.cn/ns/AIGC/1.0/" TC260:AIGC="{escape(hidden_label, {chr(34): "&quot;"})}"/>'
            '</rdf:RDF></x:xmpmeta><?xpacket end="w"?>').encode()


def encode_static(image: Image.Image, fmt, hidden_label=None):
    """PNG or WebP (keeps transparency); a static GIF is a one-frame animation. `hidden_label` (a JSON text)
    goes into the file's metadata: a PNG iTXt chunk `AIGC`, WebP XMP, a GIF comment."""
    if fmt == "gif":
        return encode_animated([image], fmt, max_bytes=None, hidden_label=hidden_label)
    buffer = io.BytesIO()
    if fmt == "png":
        from PIL.PngImagePlugin import PngInfo

        info = PngInfo()
        if hidden_label:
            info.add_itxt("AIGC", hidden_label)
        image.save(buffer, format="PNG", optimize=False, compress_level=6, pnginfo=info)
    elif fmt == "webp":
        extra = {"xmp": xmp_packet(hidden_label)} if hidden_label else {}
        image.save(buffer, format="WEBP", quality=90, method=4, **extra)
    else:
        raise ValueError(f"format must be one of {tuple(IMAGE_FORMATS)}, got {fmt!r}")
    return EncodedSticker(buffer.getvalue(), IMAGE_FORMATS[fmt], image.width, image.height, 1)


def encode_animated(frames, fmt, max_bytes, duration_ms=80, hidden_label=None):
    """Animated GIF (one shared palette, transparency kept) or WebP; GIFs shrink to fit max_bytes. The hidden
    label goes into a GIF comment or WebP XMP."""
    if fmt == "webp":
        buffer = io.BytesIO()
        extra = {"xmp": xmp_packet(hidden_label)} if hidden_label else {}
        frames[0].save(buffer, format="WEBP", save_all=True, append_images=frames[1:], duration=duration_ms, loop=0,
                       quality=80, method=4, **extra)
        return EncodedSticker(buffer.getvalue(), IMAGE_FORMATS["webp"], frames[0].width, frames[0].height, len(frames))
    if fmt != "gif":
        raise ValueError(f"animated stickers are gif or webp, got {fmt!r}")
    attempts = [(255, frames), (128, frames), (64, frames), (64, frames[::2] if len(frames) >= 16 else frames),
                (32, frames), (16, frames)]
    data = None
    for colours, chosen in attempts:
        data = _gif(chosen, colours, duration_ms * len(frames) // len(chosen), hidden_label)
        if max_bytes is None or len(data) <= max_bytes:
            break
    return EncodedSticker(data, IMAGE_FORMATS["gif"], frames[0].width, frames[0].height, len(chosen))


def _gif(frames, colours, duration_ms, hidden_label=None):
    # One palette for all frames (no flicker), index `colours` reserved for transparency.
    strip = Image.new("RGB", (frames[0].width, frames[0].height * len(frames)))
    for number, frame in enumerate(frames):
        strip.paste(_flatten_for_palette(frame), (0, number * frame.height))
    palette_image = strip.quantize(colors=colours, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    palette = palette_image.getpalette()[: colours * 3]
    palette += [0, 0, 0] * (256 - colours)
    reference = Image.new("P", (1, 1))
    reference.putpalette(palette)
    indexed = []
    for frame in frames:
        quantized = frame.convert("RGB").quantize(palette=reference, dither=Image.Dither.NONE)
        pixels = np.array(quantized)
        pixels[np.array(frame)[..., 3] < 128] = colours
        paletted = Image.fromarray(pixels, "P")
        paletted.putpalette(palette)
        indexed.append(paletted)
    buffer = io.BytesIO()
    extra = {"comment": hidden_label.encode()} if hidden_label else {}
    indexed[0].save(buffer, format="GIF", save_all=True, append_images=indexed[1:], duration=duration_ms, loop=0,
                    transparency=colours, disposal=2, optimize=False, **extra)
    return buffer.getvalue()


def _flatten_for_palette(frame):
    rgba = np.array(frame)
    rgb = rgba[..., :3].copy()
    rgb[rgba[..., 3] < 128] = rgb[rgba[..., 3] >= 128].mean(axis=0) if (rgba[..., 3] >= 128).any() else 0
    return Image.fromarray(rgb)
