"""Test media: reference voices generated with espeak-ng + WORLD, public-domain photos from packages, and
independent decoders (ffmpeg) to check what the service produced."""
import io
import subprocess
import time
from pathlib import Path

import numpy as np
import pyworld
import soundfile
from scipy.signal import resample_poly

# -- generated reference voices -------------------------------------------------

def espeak_speech(text, voice="cmn-latn-pinyin", rate=16000):
    wav = subprocess.run(["espeak-ng", "-v", voice, "--stdout", text], capture_output=True, check=True).stdout
    samples, source_rate = soundfile.read(io.BytesIO(wav), dtype="float64")
    return resample_poly(samples, rate, source_rate)


def reference_voice(median_f0, text="wo3 men5 jin1 tian1 qu4 gong1 yuan2 wan2, ran2 hou4 hui2 jia1 chi1 fan4 le5.",
                    formant_shift=1.0):
    """A speech recording with a chosen median pitch (espeak-ng re-pitched by WORLD), 16 kHz."""
    return revoice(espeak_speech(text), 16000, median_f0, formant_shift)


def revoice(samples, rate, median_f0, formant_shift=1.0):
    """Speech re-voiced by WORLD: its pitch moved to a median F0 and its spectral envelope stretched."""
    x = np.asarray(samples, np.float64)
    f0, times = pyworld.dio(x, rate, frame_period=5.0)
    f0 = pyworld.stonemask(x, f0, times, rate)
    sp = pyworld.cheaptrick(x, f0, times, rate)
    ap = pyworld.d4c(x, f0, times, rate)
    voiced = f0 > 0
    log_f0 = np.log(f0[voiced])
    f0[voiced] = np.exp(log_f0 - np.median(log_f0) + np.log(median_f0))
    if formant_shift != 1.0:
        bins = np.arange(sp.shape[1])
        sp = np.ascontiguousarray(np.array([np.interp(bins / formant_shift, bins, frame) for frame in sp]))
    y = pyworld.synthesize(f0, sp, ap, rate, 5.0)
    return (0.5 * y / np.abs(y).max()).astype(np.float32)


def unrelated_voice(text="wo3 men5 jin1 tian1 qu4 gong1 yuan2 wan2, ran2 hou4 hui2 jia1 chi1 fan4 le5."):
    """A recording espeak-world cannot imitate (espeak-ng's robotic `anikaRobot` variant, 16 kHz): its results
    score 0.52-0.58 against it, what another person's recording scores (docs/similarity.md)."""
    x = espeak_speech(text, voice="cmn-latn-pinyin+anikaRobot")
    return (0.5 * x / np.abs(x).max()).astype(np.float32)


def wav_bytes(samples, rate=16000):
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def median_f0(samples, rate=16000):
    """Median F0 by Harvest (a different estimator from the engine's DIO)."""
    x = np.asarray(samples, dtype=np.float64)
    f0, _ = pyworld.harvest(x, rate, f0_floor=50, f0_ceil=700, frame_period=5.0)
    return float(np.median(f0[f0 > 0]))


def decode_file(data):
    """Decode any audio bytes with ffmpeg to 16 kHz float samples (independent of the backend)."""
    done = subprocess.run(["ffmpeg", "-v", "error", "-i", "pipe:0", "-ac", "1", "-ar", "16000", "-f", "f32le", "pipe:1"],
                          input=data, capture_output=True, check=True)
    return np.frombuffer(done.stdout, dtype="<f4")


def ffprobe_duration(data, suffix=".mp3", tmp_path=None):
    path = Path(tmp_path or "/tmp") / f"probe-{time.monotonic_ns()}{suffix}"
    path.write_bytes(data)
    try:
        out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(path)],
                             capture_output=True, text=True, check=True).stdout
        return float(out.strip())
    finally:
        path.unlink(missing_ok=True)


# -- test photos (public domain, bundled in packages) ------------------------------------

def astronaut_photo():
    from skimage import data

    return data.astronaut()


def hopper_photo():
    import matplotlib.cbook
    from PIL import Image

    with Image.open(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)) as image:
        return np.asarray(image.convert("RGB"))


def landscape_photo(width=640, height=420):
    """Sky, sun and hills: no face anywhere."""
    y, x = np.mgrid[0:height, 0:width]
    sky = np.stack([110 + 60 * y / height, 160 + 40 * y / height, 235 - 20 * y / height], axis=-1)
    hills = y > height * 0.6 + 40 * np.sin(x / 70.0)
    image = np.where(hills[..., None], np.array([60, 140, 70]), sky)
    sun = (x - width * 0.8) ** 2 + (y - height * 0.2) ** 2 < 40**2
    image[sun] = (250, 220, 90)
    return image.astype(np.uint8)


def encode_image(pixels, fmt="JPEG", **options):
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=fmt, **options)
    return buffer.getvalue()
