"""Render a talking sticker: the voice says the text (the TTS engine, as a TTS job), and the face's mouth
opens with the speech's loudness, frame by frame (the embedded face code: a few mouth openings are warped once
and each video frame shows the one its audio calls for). Output: an MP4 (H.264 + AAC, 480 x 480, at most
MAX_SECONDS) and a silent GIF beside it (a part), both with the visible and the hidden AI label."""
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile
from flask import current_app
from PIL import Image

from backend import metrics
from backend.engine_choice import served
from backend.engines import sticker_post
from backend.engines.face_warp import apply_expression
from backend.engines.sticker_decorations import decorate
from backend.errors import ApiError
from backend.renders.labels import hidden_label
from backend.renders.sticker import generate, sources
from backend.renders.tts import speak
from backend.services.media import files, recordings

FPS, GIF_FPS = 15, 10
VIDEO_SIZE, GIF_SIZE = 480, 240
MAX_SECONDS = 10.0
JAW_LEVELS = np.linspace(0.0, 0.085, 7)  # mouth openings (face heights) warped once, shown frame by frame


def render(job, progress):
    params = job.params
    config = current_app.config
    voice = served.load("tts", job.engine, config)
    samples, rate = recordings.load_prompt(params["prompt_path"])
    started = time.perf_counter()
    speech = speak(voice, params, samples, rate, lambda fraction: progress(0.5 * fraction))
    audio, notes = _fitted(speech.audio, speech.sample_rate)
    progress(0.55)
    openings = mouth_openings(audio, speech.sample_rate, FPS)
    levels = _level_frames(params, config)
    progress(0.75)
    hidden = hidden_label(job.id)
    frames = [levels[level] for level in np.round(openings * (len(JAW_LEVELS) - 1)).astype(int)]
    video = _mp4(frames, audio, speech.sample_rate, hidden)
    gif = sticker_post.encode_animated(_subsample(frames, FPS, GIF_FPS, GIF_SIZE), "gif", config["GIF_MAX_BYTES"],
                                       duration_ms=1000 // GIF_FPS, hidden_label=hidden)
    path = files.result_path("talking", job.cache_key, "mp4")
    files.write_atomic(files.part_path(path, "sticker.gif"), gif.data)
    files.write_atomic(path, video)
    metrics.ENGINE_SECONDS.labels(voice.name).observe(time.perf_counter() - started)
    seconds = len(audio) / speech.sample_rate
    return {
        "engine": voice.name, "result_path": path, "result_mime": "video/mp4", "result_bytes": len(video),
        "result_duration": round(seconds, 3), "result_width": VIDEO_SIZE, "result_height": VIDEO_SIZE,
        "result_meta": {"parts": ["sticker.gif"], "gif_bytes": len(gif.data), "fps": FPS,
                        "notes": speech.notes + notes, "language": speech.language,
                        "instruct_applied": speech.instruct_applied, "emotion": params.get("emotion"),
                        "expression": params["expression"], "ai_label": params["ai_label"]},
    }


def mouth_openings(audio, rate, fps):
    """0-1 per video frame: the speech's loudness in that frame's window (RMS in dB above the quiet floor,
    scaled to the loud end), lightly smoothed so the mouth does not flicker."""
    window = rate / fps
    count = max(1, int(np.ceil(len(audio) / window)))
    rms = np.array([np.sqrt(np.mean(np.square(audio[int(i * window):int((i + 1) * window)] + 1e-12)))
                    for i in range(count)])
    level = 20 * np.log10(rms + 1e-6)
    floor, loud = np.percentile(level, 10), np.percentile(level, 95)
    opening = np.clip((level - floor - 6) / max(loud - floor - 6, 1e-6), 0, 1)
    opening[level < floor + 6] = 0.0  # silence: mouth closed
    return np.convolve(opening, [0.25, 0.5, 0.25], mode="same")


def _fitted(audio, rate):
    """The speech cut to MAX_SECONDS (a short fade), with a note when it was cut."""
    limit = int(MAX_SECONDS * rate)
    if len(audio) <= limit:
        return audio.astype(np.float32), []
    cut = audio[:limit].astype(np.float32).copy()
    fade = int(0.2 * rate)
    cut[-fade:] *= np.linspace(1, 0, fade, dtype=np.float32)
    return cut, [f"The speech was {len(audio) / rate:.1f} s; a talking sticker keeps the first {MAX_SECONDS:.0f} s."]


def _level_frames(params, config):
    """One finished RGB frame per mouth opening (JAW_LEVELS): the face with the emotion's expression and
    decoration, on white, captioned, with the visible AI label."""
    engine = served.load("sticker", "classic", config)
    photo, template = sources(params)
    out = generate(engine, photo, template, params, params["caption"], params["expression"])
    if out.face is None:
        raise ApiError("no_face_detected", "A talking sticker needs a face whose mouth can move; this template's "
                       "face is drawn. Use a photo or a photo template.", "template_id")
    frames = []
    for jaw in JAW_LEVELS:
        moved, face = apply_expression(out.image.copy(), out.face, "none", jaw=float(jaw))
        decorate(moved, face, params["decoration"])
        frame = sticker_post.finish_frame(moved, params["caption"], VIDEO_SIZE, out.caption_box)
        white = Image.new("RGBA", frame.size, (255, 255, 255, 255))
        white.alpha_composite(frame)
        frames.append(sticker_post.label([white], True)[0].convert("RGB"))
    return frames


def _subsample(frames, fps, gif_fps, size):
    """The GIF's frames: every (fps / gif_fps)-th video frame, scaled down."""
    step = fps / gif_fps
    picks = [frames[int(i * step)] for i in range(int(len(frames) / step))] or frames[:1]
    return [frame.resize((size, size), Image.Resampling.LANCZOS).convert("RGBA") for frame in picks]


def _mp4(frames, audio, rate, hidden):
    """H.264 (yuv420p, for every phone) + AAC in MP4, moov first; the audio padded to the frames' length so
    both streams last the same; the hidden label in the comment tag."""
    seconds = len(frames) / FPS
    padded = np.zeros(int(round(seconds * rate)), np.float32)
    padded[:min(len(audio), len(padded))] = audio[:len(padded)]
    with tempfile.TemporaryDirectory(prefix="voxmoji-talking-") as scratch:
        wav, out = Path(scratch) / "speech.wav", Path(scratch) / "sticker.mp4"
        soundfile.write(wav, padded, rate, subtype="PCM_16")
        command = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24",
                   "-s", f"{VIDEO_SIZE}x{VIDEO_SIZE}", "-r", str(FPS), "-i", "pipe:0", "-i", str(wav),
                   "-c:v", "libx264", "-preset", "veryfast", "-crf", "24", "-pix_fmt", "yuv420p",
                   "-c:a", "aac", "-b:a", "64k", "-ar", "44100", "-ac", "1", "-shortest", "-movflags", "+faststart",
                   "-metadata", f"comment={hidden}", "-metadata", "description=AI生成 (AI-generated) by VoxMoji",
                   str(out)]
        done = subprocess.run(command, input=b"".join(frame.tobytes() for frame in frames), capture_output=True,
                              timeout=120, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"ffmpeg could not make the video: {done.stderr.decode(errors='replace')[-300:]}")
        return out.read_bytes()
