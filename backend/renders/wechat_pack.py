"""A sticker pack laid out as WeChat's sticker open platform (微信表情开放平台, sticker.weixin.qq.com) asks for a
submission, as a zip. The platform's published requirements (its 表情制作指引; docs/engines.md, "Sticker packs", says
which check enforces which rule):

- 表情主图 main images: 8, 16 or 24; 240 x 240; animated GIF (or static PNG); each at most 500 KB
- 表情缩略图 thumbnails: one per main image, the same number; 120 x 120 PNG; each at most 50 KB
- 表情封面图 cover: 240 x 240 PNG, at most 500 KB
- 聊天页图标 chat-panel icon: 50 x 50 PNG, at most 100 KB
- 详情页横幅 detail-page banner: 750 x 400 PNG or JPEG, at most 500 KB, opaque
- 表情名称 pack name at most 8 characters; 表情介绍 introduction at most 80; 含义词 meaning words at most 4
  characters each; RGB colour

Names: main/01.gif … and thumbs/01.png … numbered alike (one thumbnail per main image), cover.png, icon.png,
banner.png, manifest.json (name, introduction, meanings, the files, the AI-generated declaration). Every image
carries the hidden label and exactly one visible 「AI生成」, drawn at the size the image has (thumbnails, icon
and banner are made from the unlabelled frames and labelled once).
"""
import io
import json
import zipfile

from PIL import Image, ImageDraw

from backend.engines import sticker_post
from backend.vocabulary import PACK_INTRO_MAX, PACK_MEANING_MAX, PACK_NAME_MAX

MAIN_SIZE, THUMB_SIZE, ICON_SIZE, BANNER_SIZE = 240, 120, 50, (750, 400)  # the cover is a main image's size
MAX_BYTES = {"main": 500 * 1024, "thumb": 50 * 1024, "cover": 500 * 1024, "icon": 100 * 1024, "banner": 500 * 1024}
FRAME_MS = 100  # 10 frames a second, under the 12 the platform accepts


def main_image(frames, animated, hidden_label):
    """A main image's bytes and file extension: an animated GIF under the byte cap, or a PNG."""
    if animated:
        encoded = sticker_post.encode_animated(frames, "gif", MAX_BYTES["main"], duration_ms=FRAME_MS,
                                               hidden_label=hidden_label)
        return encoded.data, "gif"
    return sticker_post.encode_static(frames[0], "png", hidden_label=hidden_label).data, "png"


def assemble(stickers, name, intro, hidden_label, visible_label=True):
    """The zip's bytes. `stickers`: [(frames (240 x 240 RGBA, not labelled), main image bytes (labelled),
    extension, meaning)] in order; `visible_label`: draw 「AI生成」 (once) on every image made here."""
    def labelled(image):
        return sticker_post.draw_ai_label(image.convert("RGBA")) if visible_label else image.convert("RGBA")

    files, manifest_items = {}, []
    for number, (frames, data, extension, meaning) in enumerate(stickers, start=1):
        main_name, thumb_name = f"main/{number:02d}.{extension}", f"thumbs/{number:02d}.png"
        files[main_name] = data
        files[thumb_name] = _png(labelled(frames[0].resize((THUMB_SIZE,) * 2, Image.Resampling.LANCZOS)),
                                 MAX_BYTES["thumb"], hidden_label)
        manifest_items.append({"main": main_name, "thumbnail": thumb_name, "meaning": meaning[:PACK_MEANING_MAX]})
    first = stickers[0][0][0]
    files["cover.png"] = _png(labelled(first.copy()), MAX_BYTES["cover"], hidden_label)
    files["icon.png"] = _png(labelled(first.resize((ICON_SIZE,) * 2, Image.Resampling.LANCZOS)), MAX_BYTES["icon"],
                             hidden_label)
    files["banner.png"] = _png(labelled(_banner([frames[0] for frames, *_ in stickers[:4]], name)),
                               MAX_BYTES["banner"], hidden_label, opaque=True)
    files["manifest.json"] = json.dumps({
        "platform": "微信表情开放平台 (sticker.weixin.qq.com)", "name": name[:PACK_NAME_MAX], "introduction": intro[:PACK_INTRO_MAX],
        "count": len(stickers), "stickers": manifest_items, "cover": "cover.png", "icon": "icon.png",
        "banner": "banner.png", "ai_generated": True, "label": "AI生成", "hidden_label": json.loads(hidden_label),
    }, ensure_ascii=False, indent=2).encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for file_name, data in files.items():
            archive.writestr(file_name, data)
    return buffer.getvalue()


def _png(image, max_bytes, hidden_label, opaque=False):
    """PNG under max_bytes: full colour first, then fewer palette colours (transparency kept)."""
    image = image.convert("RGB" if opaque else "RGBA")
    for colours in (None, 256, 128, 64, 32):
        candidate = image.quantize(colors=colours, method=Image.Quantize.FASTOCTREE) if colours else image
        data = sticker_post.encode_static(candidate, "png", hidden_label).data
        if len(data) <= max_bytes:
            break
    return data


def _banner(firsts, name):
    """750 x 400, opaque: a soft gradient, the pack's name and up to four of its stickers."""
    width, height = BANNER_SIZE
    banner = Image.new("RGBA", BANNER_SIZE, (255, 244, 214, 255))
    draw = ImageDraw.Draw(banner)
    for y in range(height):
        shade = int(30 * y / height)
        draw.line([(0, y), (width, y)], fill=(255, 236 - shade, 200 - shade, 255))
    size = 170
    gap = (width - size * len(firsts)) // (len(firsts) + 1)
    for index, first in enumerate(firsts):
        banner.alpha_composite(first.resize((size, size), Image.Resampling.LANCZOS),
                               (gap + index * (size + gap), height - size - 40))
    title = sticker_post.font(64)
    text_width = draw.textlength(name, font=title)
    draw.text(((width - text_width) / 2, 40), name, font=title, fill=(90, 60, 20, 255))
    return banner
