"""Calibrate result.similarity (the speaker-embedding cosine) against same-speaker and different-speaker pairs,
and write backend/voice_similarity.json, the file the API reads to give each TTS result its band.

No human recordings can be downloaded here, so the speakers are made on this machine (docs/similarity.md):

- espeak speakers: espeak-ng's Mandarin voice with one of its variants (m1, f2, klatt, ...) re-pitched and
  formant-shifted by WORLD (tests/media_samples.py `revoice`, as `reference_voice` does). A speaker is (variant, median F0,
  formant shift); each of its utterances says another sentence at another speaking rate with its pitch moved by
  up to 6 %, the way one person varies from one recording to the next.
- mellotron voices: the named voices of the opt-in mellotron-zh model (each a recorded person it was trained on),
  each saying other sentences. Needs the model directory (MELLOTRON_MODEL_DIR, default models/mellotron-zh;
  `make mellotron`, or `python -m backend.engines.mellotron_weights DIR` from the installed wheel); without it
  only the espeak speakers are used.

Same-speaker pairs are two utterances of one speaker (different sentences); different-speaker pairs are
utterances of two speakers, within each family and across them. Every pair is scored with the encoder and the
clipping of result.similarity. A logistic curve P(same | score) is fitted with equal weight on both classes;
the thresholds are read off the empirical error rates. Also scored, for the report only: espeak-world's results
against their references (what a user of the embedded engine is shown) and plain espeak against each speaker.

    .venv/bin/python bench/similarity_calibration.py [--write] [--quick] [--scores FILE]

Prints the distributions, the EER, the fit and the chosen thresholds; --write updates the data file.
"""
import argparse
import itertools
import json
import os
import random
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from media_samples import espeak_speech, revoice  # noqa: E402

from backend.engines.speaker_encoder import SpeakerEncoder  # noqa: E402

DATA_FILE = ROOT / "backend" / "voice_similarity.json"
PINYIN = [
    "wo3 men5 jin1 tian1 qu4 gong1 yuan2 wan2, ran2 hou4 hui2 jia1 chi1 fan4 le5.",
    "ming2 tian1 zao3 shang4 ba1 dian3, wo3 yao4 qu4 tu2 shu1 guan3 kan4 shu1.",
    "zhe4 jia1 dian4 de5 nai3 cha2 te4 bie2 hao3 he1, xia4 ci4 zai4 lai2.",
    "wai4 mian4 xia4 yu3 le5, chu1 men2 ji4 de5 dai4 san3.",
]
HANZI = ["我们今天去公园玩，然后回家吃饭了。", "明天早上八点，我要去图书馆看书。", "这家店的奶茶特别好喝，下次再来。",
         "外面下雨了，出门记得带伞。"]
VARIANTS = ("m1", "m3", "m7", "f1", "f2", "f4", "klatt", "Andy", "Annie", "grandpa")
# (median F0 in Hz, formant shift): a low dark voice to a high bright one
SHAPES = ((105.0, 0.88), (150.0, 0.96), (205.0, 1.06), (260.0, 1.16))
ESPEAK_RATES = (145, 165, 185)
MAX_PAIRS_PER_GROUP = 4000


def espeak_speakers(quick, rng):
    """{speaker: [(utterance audio at 16 kHz, sentence index)]}: each says every sentence once, varied."""
    speakers = {}
    variants = VARIANTS[:4] if quick else VARIANTS
    for variant, (f0, shift) in itertools.product(variants, SHAPES):
        utterances = []
        for index, text in enumerate(PINYIN[:3] if quick else PINYIN):
            speed = rng.choice(ESPEAK_RATES)
            raw = _espeak(text, variant, speed)
            utterances.append((revoice(raw, 16000, f0 * rng.uniform(0.94, 1.06), shift), index))
        speakers[f"espeak:{variant}/{int(f0)}Hz/{shift}"] = utterances
    return speakers


def _espeak(text, variant, speed):
    import io
    import subprocess

    import soundfile
    from scipy.signal import resample_poly

    wav = subprocess.run(["espeak-ng", "-v", f"cmn-latn-pinyin+{variant}", "-s", str(speed), "--stdout", text],
                         capture_output=True, check=True).stdout
    samples, source_rate = soundfile.read(io.BytesIO(wav), dtype="float64")
    return resample_poly(samples, 16000, source_rate)


def mellotron_speakers(quick):
    """{speaker: [(utterance at 16 kHz, sentence index)]} from the mellotron-zh voice bank, or {} without it."""
    from scipy.signal import resample_poly

    from backend.engines.tts_mellotron_zh import MellotronZhTTS

    model_dir = os.environ.get("MELLOTRON_MODEL_DIR", str(ROOT / "models" / "mellotron-zh"))
    try:
        engine = MellotronZhTTS(model_dir, threads=max(1, len(os.sched_getaffinity(0))))
    except (FileNotFoundError, ImportError) as error:
        print(f"mellotron voices not made here: {str(error).splitlines()[0][:160]}")
        return {}
    speakers = {}
    for voice in engine.voices[:8] if quick else engine.voices:
        utterances = []
        for index, text in enumerate(HANZI[:3] if quick else HANZI):
            try:
                audio = engine.speak_as(voice["name"], text)
            except ValueError as error:  # a sentence this voice cannot say: left out, and said so
                print(f"  {error}")
                continue
            utterances.append((resample_poly(audio, 320, 441).astype(np.float32), index))
        if len(utterances) >= 2:
            speakers[f"mellotron:{voice['name']}"] = utterances
    return speakers


def score(a, b):
    """result.similarity's value: the cosine clipped to 0-1."""
    return max(0.0, min(1.0, float(a @ b)))


def pairs(speakers, embeddings, rng):
    """{group: [scores]}: same-speaker pairs (other sentences) and different-speaker pairs (other sentences)."""
    groups = {}
    names = sorted(speakers)
    for name in names:
        family = name.split(":")[0]
        for (i, si), (j, sj) in itertools.combinations(enumerate(s for _, s in speakers[name]), 2):
            if si != sj:
                groups.setdefault(f"same {family}", []).append(score(embeddings[name][i], embeddings[name][j]))
    for a, b in itertools.combinations(names, 2):
        group = "different " + "/".join(sorted({a.split(":")[0], b.split(":")[0]}))
        for (i, si), (j, sj) in itertools.product(enumerate(s for _, s in speakers[a]),
                                                  enumerate(s for _, s in speakers[b])):
            if si != sj:
                groups.setdefault(group, []).append(score(embeddings[a][i], embeddings[b][j]))
    return {group: rng.sample(values, min(len(values), MAX_PAIRS_PER_GROUP)) for group, values in groups.items()}


def engine_results(speakers, encoder, rng, count):
    """espeak-world's results against their references: what the embedded engine's users are shown."""
    from backend.engines.tts_espeak_world import EspeakWorldTTS

    engine = EspeakWorldTTS()
    scores = {}
    chosen = rng.sample(sorted(speakers), min(count, len(speakers)))
    for name in chosen:
        reference = speakers[name][0][0]
        result = engine.synthesize(HANZI[1], reference, 16000, prompt_key=name)
        family = name.split(":")[0]
        scores.setdefault(f"espeak-world result vs {family} reference", []).append(
            score(encoder.embed(reference, 16000), encoder.embed(result.audio, result.sample_rate)))
        plain = espeak_speech(PINYIN[1])
        scores.setdefault(f"plain espeak vs {family} reference", []).append(
            score(encoder.embed(reference, 16000), encoder.embed(plain, 16000)))
    return scores


def fit_logistic(same, different):
    """(a, b) of P(same | s) = 1 / (1 + exp(-(a s + b))), each class weighing half (equal priors)."""
    x = np.concatenate([same, different])
    y = np.concatenate([np.ones(len(same)), np.zeros(len(different))])
    w = np.concatenate([np.full(len(same), 0.5 / len(same)), np.full(len(different), 0.5 / len(different))])
    theta = np.zeros(2)
    features = np.stack([x, np.ones_like(x)], axis=1)
    for _ in range(100):  # Newton's method on the weighted log-loss (with a tiny ridge for separable data)
        p = 1 / (1 + np.exp(-(features @ theta)))
        gradient = features.T @ (w * (p - y)) + 1e-4 * theta
        hessian = (features * (w * p * (1 - p))[:, None]).T @ features + 1e-4 * np.eye(2)
        step = np.linalg.solve(hessian, gradient)
        theta -= step
        if np.abs(step).max() < 1e-10:
            break
    return float(theta[0]), float(theta[1])


def equal_error(same, different):
    """(threshold, rate) where false rejections of same speakers equal false acceptances of others."""
    candidates = np.unique(np.concatenate([same, different]))
    frr = np.array([(same < t).mean() for t in candidates])
    far = np.array([(different >= t).mean() for t in candidates])
    best = int(np.argmin(np.abs(frr - far)))
    return float(candidates[best]), float((frr[best] + far[best]) / 2)


def summary(values):
    v = np.asarray(values)
    q = np.percentile(v, [1, 5, 25, 50, 75, 95, 99])
    return (f"n={len(v):<5} mean {v.mean():.3f}  min {v.min():.3f}  p1 {q[0]:.3f}  p5 {q[1]:.3f}  p25 {q[2]:.3f}  "
            f"median {q[3]:.3f}  p75 {q[4]:.3f}  p95 {q[5]:.3f}  p99 {q[6]:.3f}  max {v.max():.3f}")


def histogram(same, different, bins=np.arange(0.30, 1.0001, 0.05)):
    lines = ["score        same  different"]
    for low, high in zip(bins[:-1], bins[1:]):
        lines.append(f"{low:.2f}-{high:.2f}  {((same >= low) & (same < high)).mean():5.1%}  "
                     f"{((different >= low) & (different < high)).mean():9.1%}")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help=f"write {DATA_FILE.relative_to(ROOT)}")
    parser.add_argument("--quick", action="store_true", help="fewer speakers and sentences (a smoke run)")
    parser.add_argument("--seed", type=int, default=22)
    parser.add_argument("--scores", help="a JSON file keeping every pair's score: written if absent, else refitted from")
    args = parser.parse_args()
    if args.scores and Path(args.scores).exists():  # refit from the scores of an earlier run
        saved = json.loads(Path(args.scores).read_text())
        groups, extra, counts = saved["groups"], saved["extra"], saved["counts"]
    else:
        rng = random.Random(args.seed)
        started = time.perf_counter()
        encoder = SpeakerEncoder.shared()
        speakers = {**espeak_speakers(args.quick, rng), **mellotron_speakers(args.quick)}
        embeddings = {name: [encoder.embed(audio, 16000) for audio, _ in utterances]
                      for name, utterances in speakers.items()}
        groups = pairs(speakers, embeddings, rng)
        extra = engine_results(speakers, encoder, rng, 8 if args.quick else 24)
        counts = {family: sum(name.startswith(family + ":") for name in speakers)
                  for family in sorted({name.split(":")[0] for name in speakers})}
        counts["utterances"] = sum(len(u) for u in speakers.values())
        print(f"made and scored in {time.perf_counter() - started:.0f} s")
        if args.scores:
            Path(args.scores).write_text(json.dumps({"groups": groups, "extra": extra, "counts": counts}))
    families = [family for family in counts if family != "utterances"]
    speakers_made = sum(counts[family] for family in families)
    print(f"{speakers_made} speakers ({', '.join(f'{counts[f]} {f}' for f in families)}), "
          f"{counts['utterances']} utterances")
    for group, values in sorted({**groups, **extra}.items()):
        print(f"{group:<44} {summary(values)}")

    same = np.concatenate([v for g, v in groups.items() if g.startswith("same")])
    different = np.concatenate([v for g, v in groups.items() if g.startswith("different")])
    print(histogram(same, different))
    eer_threshold, eer = equal_error(same, different)
    a, b = fit_logistic(same, different)
    # close: at most 1 % of other speakers reach it; unlike: below the fitted curve's 50 % point, where a score is
    # likelier another speaker's than the same speaker's (so the band and similarity_calibrated agree)
    close = float(np.ceil(np.percentile(different, 99) * 1000) / 1000)
    unlike = float(round(-b / a, 3))
    print(f"EER {eer:.1%} at {eer_threshold:.3f}; logistic P(same) = 1 / (1 + exp(-({a:.2f} s {b:+.2f}))), "
          f"50 % at {-b / a:.3f}")
    for name, t in (("close", close), ("unlike", unlike)):
        print(f"threshold {name:<6} {t:.3f}: same speakers below {(same < t).mean():.1%}, "
              f"other speakers at or above {(different >= t).mean():.1%}")
    p = 1 / (1 + np.exp(-(a * np.concatenate([same, different]) + b)))
    y = np.concatenate([np.ones(len(same)), np.zeros(len(different))])
    print("calibration (weighted, equal priors): predicted vs observed share of same-speaker pairs")
    for low in np.arange(0, 1, 0.2):
        inside = (p >= low) & (p < low + 0.2 + 1e-9 * (low >= 0.8))
        if inside.any():
            weights = np.where(y[inside] == 1, 0.5 / len(same), 0.5 / len(different))
            print(f"  P {low:.1f}-{low + 0.2:.1f}: mean predicted {np.average(p[inside], weights=weights):.2f}, "
                  f"observed {np.average(y[inside], weights=weights):.2f} ({inside.sum()} pairs)")
    for group, values in sorted(extra.items()):
        v = np.asarray(values)
        print(f"{group:<44} bands: close {(v >= close).mean():.0%}, somewhat {((v >= unlike) & (v < close)).mean():.0%},"
              f" unlike {(v < unlike).mean():.0%}")
    if args.write:
        data = {
            "about": "Calibration of result.similarity, written by bench/similarity_calibration.py (docs/similarity.md)",
            "encoder": "resemblyzer-ge2e (backend/engines/speaker_encoder.py)",
            "thresholds": {"close": close, "unlike": unlike},
            "logistic": {"slope": round(a, 4), "intercept": round(b, 4)},
            "figures": {"same_pairs": int(len(same)), "different_pairs": int(len(different)),
                        "speakers": speakers_made, "eer": round(eer, 4), "eer_threshold": round(eer_threshold, 3),
                        "seed": args.seed, "families": families},
        }
        DATA_FILE.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
        print(f"wrote {DATA_FILE.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
