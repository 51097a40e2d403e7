"""Benchmark of the classic sticker engine, plus the memory of a real sticker worker.

Prints the median milliseconds per sticker for each style, static (PNG) and animated
(GIF), on one core with the engine warm, for the whole pipeline a worker runs (face
analysis, style, expression, decorations, caption, label, animation, encoding). Saves
one static and one animated sample per style to bench/out/ for looking at, and a contact sheet of every
style x emotion for two photos (bench/out/contact-sheet-*.png). Then starts
a real stack, makes 50 stickers through the API and prints the RSS of the worker's pool
processes after 25 and after 50 (peak and current). Targets: <= 250 ms static,
<= 600 ms animated, <= 600 MB peak, no growth from 25 to 50. Never fails on time.
"""
import base64
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from api_client import Api  # noqa: E402
from media_samples import encode_image, hopper_photo  # noqa: E402
from process_stats import child_pids, rss_mb  # noqa: E402
from stack_process import Stack  # noqa: E402

from backend import builtin_templates, emotions  # noqa: E402
from backend.emotions import DECORATION_BY_EXPRESSION  # noqa: E402
from backend.engines import sticker_post  # noqa: E402
from backend.engines.sticker_classic import ClassicStickerEngine  # noqa: E402
from backend.engines.sticker_decorations import decorate  # noqa: E402

OUT = ROOT / "bench" / "out"
RUNS = 9
CASES = [("cutout", None, "smile"), ("comic", None, "laugh"), ("panda", "panda", "surprise"),
         ("template", "astronaut", "none"), ("template", "wanted", "angry")]


def one_sticker(engine, photo, style, template_id, expression, animated):
    template = builtin_templates.get(template_id) if template_id else None
    out = engine.generate(image=photo, template=template, style=style, expression=expression)
    decorate(out.image, out.face, DECORATION_BY_EXPRESSION.get(out.expression, "none"))
    size = sticker_post.ANIMATED_SIZE if animated else sticker_post.STATIC_SIZE
    frame = sticker_post.finish_frame(out.image, "开心大笑就完事了", size, out.caption_box)
    if animated:
        frames = sticker_post.label(sticker_post.animate(frame, "bounce"), True)
        return sticker_post.encode_animated(frames, "gif", 500 * 1024)
    return sticker_post.encode_static(sticker_post.label([frame], True)[0], "png")


def engine_timings():
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    import cv2

    cv2.setNumThreads(1)
    engine = ClassicStickerEngine()
    engine.warm_up()
    photo = hopper_photo()
    OUT.mkdir(parents=True, exist_ok=True)
    print(f"classic engine, one core, warm, median of {RUNS} (whole worker pipeline)")
    for style, template_id, expression in CASES:
        label = f"{style}" + (f"/{template_id}" if style == "template" else "")
        row = []
        for animated in (False, True):
            encoded = one_sticker(engine, photo, style, template_id, expression, animated)  # warm this path
            times = []
            for _ in range(RUNS):
                started = time.perf_counter()
                one_sticker(engine, photo, style, template_id, expression, animated)
                times.append(time.perf_counter() - started)
            name = f"{label.replace('/', '-')}-{'animated.gif' if animated else 'static.png'}"
            (OUT / name).write_bytes(encoded.data)
            row.append(f"{'animated gif' if animated else 'static png  '} {statistics.median(times) * 1000:6.1f} ms "
                       f"({len(encoded.data) // 1024} KB, {encoded.frames} frame{'s' if encoded.frames > 1 else ''})")
        print(f"  {label:<18} " + "   ".join(row))
    print(f"  samples in {OUT}")


SHEET_STYLES = [("cutout", None), ("comic", None), ("panda", "panda"), ("template", "astronaut"),
                ("template", "wanted")]
SHEET_EMOTIONS = (None,) + emotions.EMOTIONS


def contact_sheet(photo_name="hopper"):
    """Every style x emotion (its expression and decoration) on one photo, as the worker makes them: bench/out/contact-sheet-<photo>.png."""
    from media_samples import astronaut_photo
    from PIL import Image, ImageDraw

    photo = {"hopper": hopper_photo, "astronaut": astronaut_photo}[photo_name]()
    engine = ClassicStickerEngine()
    tile = 200
    sheet = Image.new("RGB", (tile * len(SHEET_EMOTIONS), (tile + 20) * len(SHEET_STYLES)), "white")
    draw = ImageDraw.Draw(sheet)
    for row, (style, template_id) in enumerate(SHEET_STYLES):
        template = builtin_templates.get(template_id) if template_id else None
        for column, emotion in enumerate(SHEET_EMOTIONS):
            expression = emotion.expression if emotion else "none"
            out = engine.generate(image=photo, template=template, style=style, expression=expression)
            decorate(out.image, out.face, emotion.decoration if emotion else "none")
            frame = sticker_post.finish_frame(out.image, emotion.name if emotion else "", sticker_post.STATIC_SIZE,
                                              out.caption_box)
            labelled = sticker_post.label([frame], True)[0]
            image = (labelled if isinstance(labelled, Image.Image) else Image.fromarray(labelled))
            image = image.convert("RGBA").resize((tile, tile))
            x, y = column * tile, row * (tile + 20)
            sheet.paste(image, (x, y + 20), image)
            draw.text((x + 4, y + 2), f"{style}{'/' + template_id if style == 'template' else ''} · {emotion.id if emotion else 'none'}",
                      fill="black")
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"contact-sheet-{photo_name}.png"
    sheet.save(path)
    print(f"contact sheet: {path}")


def worker_memory(count=50):
    with tempfile.TemporaryDirectory() as root, Stack(root, VOXMOJI_SIGNUP_GRANT="10000") as stack:
        api = Api(stack.base_url, "bench-stickers")
        photo = base64.b64encode(encode_image(hopper_photo())).decode()
        readings = {}
        for number in range(1, count + 1):
            style, template_id, _ = CASES[number % len(CASES)]
            body = {"face_consent": True, "image": photo, "style": style, "text": f"第{number}张", "animated": number % 3 == 0}
            if template_id:
                body["template_id"] = template_id
            task = api.wait_task(api.post("/api/v1/emoji", json=body).json()["task_id"])
            assert task["status"] == "succeeded", task
            if number in (25, count):
                pool = child_pids(stack.processes["worker"].pid)
                readings[number] = {pid: (rss_mb(pid, "VmRSS"), rss_mb(pid, "VmHWM")) for pid in pool}
        print(f"sticker worker pool processes, {count} stickers through the stack (RSS now / peak)")
        for pid in readings[count]:
            at25 = readings[25].get(pid, (0, 0))
            at50 = readings[count][pid]
            print(f"  pid {pid:<7} after 25: {at25[0]:6.1f} / {at25[1]:6.1f} MB   after {count}: "
                  f"{at50[0]:6.1f} / {at50[1]:6.1f} MB   growth {at50[0] - at25[0]:+.1f} MB")


if __name__ == "__main__":
    if "--memory-only" not in sys.argv:
        engine_timings()
        contact_sheet("hopper")
        contact_sheet("astronaut")
    if "--timings-only" not in sys.argv:
        worker_memory()
