"""What a TTS result's similarity score means: the raw speaker-embedding cosine (result.similarity) mapped to a
band the clients show (很像 / 有点像 / 不像) and to a same-speaker probability, by the calibration in
voice_similarity.json (written by bench/similarity_calibration.py; data, method and figures in docs/similarity.md).
Plain data and arithmetic, imported by the web tier.
"""
import functools
import json
import math
from pathlib import Path

DATA_FILE = Path(__file__).with_name("voice_similarity.json")
# band -> its Chinese label, as the clients show it; from most to least alike
BANDS = {"close": "很像", "somewhat": "有点像", "unlike": "不像"}


@functools.cache
def calibration():
    """The calibration file's content (read once per process)."""
    return json.loads(DATA_FILE.read_text())


def band(score):
    """"close", "somewhat" or "unlike" for a raw similarity score (0-1)."""
    thresholds = calibration()["thresholds"]
    if score >= thresholds["close"]:
        return "close"
    return "somewhat" if score >= thresholds["unlike"] else "unlike"


def same_speaker_probability(score):
    """P(same speaker | score) by the fitted logistic curve, with equal priors (0-1, three decimals)."""
    fit = calibration()["logistic"]
    return round(1.0 / (1.0 + math.exp(-(fit["slope"] * score + fit["intercept"]))), 3)


def describe(score):
    """The fields a TTS result carries besides its raw `similarity`."""
    named = band(score)
    return {"similarity_band": named, "similarity_label": BANDS[named],
            "similarity_calibrated": same_speaker_probability(score)}
