"""Render a sticker pack job: every sticker of the pack (progress per sticker), then the WeChat submission zip.
The zip is the result; each main image is also stored beside it as a part, for previews and moderation."""
import time

from flask import current_app

from backend import metrics
from backend.engine_choice import served
from backend.engines import sticker_post
from backend.renders import wechat_pack
from backend.renders.labels import hidden_label
from backend.renders.sticker import make_frames, sources
from backend.services.media import files


def render(job, progress):
    params = job.params
    engine = served.load("sticker", job.engine, current_app.config)
    photo, template = sources(params)
    hidden = hidden_label(job.id)
    started = time.perf_counter()
    stickers, described = [], []
    for index, item in enumerate(params["stickers"]):
        animation = item["animation"] if params["animated"] else None
        out, frames = make_frames(engine, photo, template, params, item["text"], item["expression"],
                                  item["decoration"], wechat_pack.MAIN_SIZE, animation)
        data, extension = wechat_pack.main_image(sticker_post.label([frame.copy() for frame in frames],
                                                                    params["ai_label"]), params["animated"], hidden)
        stickers.append((frames, data, extension, item["meaning"]))
        described.append({"part": f"{index + 1:02d}.{extension}", "text": item["text"], "emotion": item["emotion"],
                          "expression": out.expression, "bytes": len(data)})
        progress((index + 1) / (len(params["stickers"]) + 1))
    archive = wechat_pack.assemble(stickers, params["name"], params["intro"], hidden, params["ai_label"])
    path = files.result_path("pack", job.cache_key, "zip")
    for entry, (_frames, data, _extension, _meaning) in zip(described, stickers):
        files.write_atomic(files.part_path(path, entry["part"]), data)
    files.write_atomic(path, archive)
    metrics.ENGINE_SECONDS.labels(engine.name).observe(time.perf_counter() - started)
    return {
        "engine": engine.name, "result_path": path, "result_mime": "application/zip", "result_bytes": len(archive),
        "result_width": wechat_pack.MAIN_SIZE, "result_height": wechat_pack.MAIN_SIZE,
        "result_meta": {"name": params["name"], "count": len(stickers), "animated": params["animated"],
                        "stickers": described, "parts": [entry["part"] for entry in described],
                        "ai_label": params["ai_label"]},
    }
