"""`mellotron-zh`: a neural Mandarin voice for CPU machines, opt-in.

A multi-speaker Mandarin Mellotron (24 named voices, 22,050 Hz) and a MelGAN vocoder from the `ttskit` wheel,
converted once to safetensors (backend/engines/mellotron_weights.py) and run by our own torch code
(backend/engines/mellotron_model.py). It is not cloning: it speaks with the bank voice nearest to the reference
(or a blend of the three nearest, the speaker input being continuous) by speaker embedding, the same encoder
that scores result.similarity. What it cannot do goes to `espeak-world` with the reason in `notes`: text with
Latin letters (it would spell English letter by letter), Cantonese, Sichuanese or English instructions, and a
sentence whose decoder runs away (no stop within its syllable budget) or stops too early with every seed tried.
Speed, tempo, pitch and loudness instructions are applied to the neural output (mel frames are time-stretched,
F0 scaled by WORLD, the waveform scaled), with the same per-style settings as `espeak-world`.
"""
import copy
import functools
import hashlib
import json
import re
import threading
import time
import unicodedata
from pathlib import Path

import numpy as np

from backend.engines.instructions import parse_instruction
from backend.engines.speaker_encoder import SpeakerEncoder
from backend.engines.tts_espeak_world import PROSODY, EspeakWorldTTS
from backend.engines.tts_output import SpeechOutput, split_sentences

SAMPLE_RATE = 22050
REQUIRED_FILES = ("hparams.json", "mellotron.safetensors", "melgan.safetensors", "text.json", "bank.json")
MAX_FRAMES_PER_SYLLABLE = 30  # ~0.35 s: a decoder still talking past this has run away
MIN_FRAMES_PER_SYLLABLE = 6  # ~0.07 s: a decoder stopping before this has cut the sentence off
SEEDS = (1234, 7, 99)  # one dropout layer stays active at inference: seeded, retried with the next seed
BLEND = 3  # voices blended toward the reference
_LATIN = re.compile(r"[A-Za-z]")
_FALLBACK_STYLES = ("cantonese", "sichuanese", "english")


def missing_files(model_dir):
    path = Path(model_dir)
    return [name for name in REQUIRED_FILES if not (path / name).is_file()]


class MellotronZhTTS:
    """synthesize(text, prompt_audio, rate, ...) -> SpeechOutput, like every TTS engine."""

    name = "mellotron-zh"

    def __init__(self, model_dir, fallback=None, max_frames_per_syllable=MAX_FRAMES_PER_SYLLABLE, threads=1,
                 with_bank=True, quantize=True):
        import torch
        from safetensors.torch import load_file

        from backend.engines.mellotron_model import MelGAN, Mellotron

        self._torch = torch
        path = self._model_dir = Path(model_dir)
        missing = [name for name in missing_files(path) if with_bank or name != "bank.json"]
        if missing:
            raise FileNotFoundError(f"MELLOTRON_MODEL_DIR={path} lacks {', '.join(missing)}; run `make mellotron`")
        hparams = json.loads((path / "hparams.json").read_text())
        self.model = Mellotron(hparams)
        self.model.load_state_dict(load_file(str(path / "mellotron.safetensors")), strict=True)
        self.model.eval()
        if quantize:
            self.model = _quantized(self.model)
        self.vocoder = MelGAN(hparams["n_mel_channels"])
        self.vocoder.load_state_dict(load_file(str(path / "melgan.safetensors")), strict=True)
        self.vocoder.eval()
        text = json.loads((path / "text.json").read_text())
        self.symbol_ids = {symbol: index for index, symbol in enumerate(text["symbols"])}
        self.syllables, self.characters = text["syllables"], text["characters"]
        bank = json.loads((path / "bank.json").read_text()) if with_bank else {"voices": []}
        self.voices = [voice for voice in bank["voices"] if voice["ok"]]
        self.voice_embeddings = np.array([voice["embedding"] for voice in self.voices], dtype=np.float32)
        self.max_frames_per_syllable = max_frames_per_syllable
        self.fallback = fallback or EspeakWorldTTS()
        self.encoder = SpeakerEncoder.shared()
        self._choices = {}
        self._lock = threading.Lock()
        torch.set_num_threads(threads)

    @classmethod
    def from_config(cls, config):
        return cls(config["MELLOTRON_MODEL_DIR"], EspeakWorldTTS.from_config(config),
                   int(config.get("MELLOTRON_MAX_FRAMES_PER_SYLLABLE", MAX_FRAMES_PER_SYLLABLE)),
                   int(config.get("MELLOTRON_THREADS", 1)), quantize=bool(config.get("MELLOTRON_QUANTIZE", True)))

    def check_inputs(self, text, mode, prompt_audio, prompt_sample_rate, speed):
        """Raise ValueError naming the bad value (the same rules as the other TTS engines)."""
        self.fallback.check_inputs(text, mode, prompt_audio, prompt_sample_rate, speed)

    def forget(self, prompt_key):
        with self._lock:
            self._choices.pop(prompt_key, None)
        self.fallback.forget(prompt_key)

    # -- the text --------------------------------------------------------------------------------

    def symbols(self, text):
        """Mandarin text -> symbol ids: pinyin (pypinyin, tone 5 for the neutral tone) split into initial,
        final and tone as the model was trained (each syllable or mark followed by '-', then '~' '_')."""
        from pypinyin import Style, lazy_pinyin

        text = _to_simplified().convert(unicodedata.normalize("NFKC", text))
        phonemes = []
        for unit in lazy_pinyin(_spell_digits(text), style=Style.TONE3, neutral_tone_with_five=True,
                                errors=lambda chars: list(chars)):
            if unit[-1:].isdigit() and unit[:-1] in self.syllables:
                phonemes += self.syllables[unit[:-1]].split() + [unit[-1]]
            else:
                phonemes += [self.characters[c] for c in unit if c in self.characters]
            phonemes.append("-")
        phonemes += ["~", "_"]
        return [self.symbol_ids[p] for p in phonemes if p in self.symbol_ids]

    # -- the voice ---------------------------------------------------------------------------------

    def voice_for(self, prompt_audio, prompt_sample_rate, prompt_key=None):
        """(speaker vector, names and weights of the voices blended) nearest to the reference."""
        key = prompt_key or hashlib.sha256(np.ascontiguousarray(prompt_audio, np.float32).tobytes()).hexdigest()
        with self._lock:
            if key in self._choices:
                return self._choices[key]
        reference = self.encoder.embed(prompt_audio, prompt_sample_rate)
        scores = self.voice_embeddings @ reference
        nearest = np.argsort(scores)[::-1][:BLEND]
        weights = np.exp(20 * (scores[nearest] - scores[nearest].max()))
        weights /= weights.sum()
        vector = sum(w * np.array(self.voices[i]["vector"], np.float32) for w, i in zip(weights, nearest))
        choice = (vector.astype(np.float32), [(self.voices[i]["name"], round(float(w), 3)) for w, i in
                                              zip(weights, nearest)])
        with self._lock:
            self._choices[key] = choice
        return choice

    def without_voices(self, names):
        """The same engine (shared weights) with these voices left out of its bank: what it does for a speaker
        it has never heard (the bench's held-out speakers)."""
        other = copy.copy(self)
        keep = [i for i, voice in enumerate(self.voices) if voice["name"] not in set(names)]
        other.voices = [self.voices[i] for i in keep]
        other.voice_embeddings = self.voice_embeddings[keep]
        other._choices, other._lock = {}, threading.Lock()
        return other

    def speak_as(self, name, text):
        """One Mandarin sentence in a named voice of the model (22,050 Hz), or ValueError if it fails."""
        syllables = max(1, sum(1 for c in text if "\u4e00" <= c <= "\u9fff"))
        mel, why = self.speak_sentence(self.symbols(text), np.array(speaker_vector(name), np.float32), syllables)
        if mel is None:
            raise ValueError(f"{name} could not say {text!r}: {why}")
        return self._vocode(mel)

    # -- speaking ------------------------------------------------------------------------------------

    def speak_sentence(self, symbols, vector, syllables):
        """(waveform, None) or (None, why it failed) for one sentence, trying each seed."""
        torch = self._torch
        budget = max(40, syllables * self.max_frames_per_syllable)
        why = None
        for seed in SEEDS:
            torch.manual_seed(seed)
            mel, stopped = self.model.synthesize(torch.tensor(symbols), torch.from_numpy(vector), budget)
            frames = mel.shape[1]
            if not stopped:
                why = f"the decoder ran away (no stop within {budget} frames)"
            elif frames < syllables * MIN_FRAMES_PER_SYLLABLE:
                why = f"the decoder stopped after {frames} frames for {syllables} syllables"
            else:
                return mel, None
        return None, why

    def synthesize(self, text, prompt_audio, prompt_sample_rate=16000, *, mode="zero_shot", prompt_text=None,
                   prompt_key=None, instruct=None, speed=1.0, progress=None, emotion=None, on_audio=None):
        self.check_inputs(text, mode, prompt_audio, prompt_sample_rate, speed)
        options = {"mode": mode, "prompt_text": prompt_text, "prompt_key": prompt_key, "instruct": instruct,
                   "speed": speed, "progress": progress, "emotion": emotion, "on_audio": on_audio}
        report = progress or (lambda fraction: None)
        instruction = parse_instruction(instruct if mode == "instruct" else None, emotion)
        reason = self._not_for_me(text, instruction.styles, mode)
        if reason:
            return self._fall_back(reason, text, prompt_audio, prompt_sample_rate, options)
        timings = {}
        started = time.perf_counter()
        vector, blend = self.voice_for(prompt_audio, prompt_sample_rate, prompt_key)
        timings["voice"] = time.perf_counter() - started
        pitch, pace, gain_db, applied, ignored = 1.0, speed, 0.0, [], list(instruction.ignored)
        for style in instruction.styles:
            if style in PROSODY:
                style_pitch, _spread, style_pace, style_gain = PROSODY[style]
                pitch, pace, gain_db = pitch * style_pitch, pace * style_pace, gain_db + style_gain
                applied.append(style)
            elif style != "mandarin":
                ignored.append(style)
        sentences = split_sentences(text)
        pieces, started = [], time.perf_counter()
        for index, sentence in enumerate(sentences):
            symbols = self.symbols(sentence)
            syllables = max(1, sum(1 for c in sentence if "\u4e00" <= c <= "\u9fff"))
            mel, why = self.speak_sentence(symbols, vector, syllables)
            if mel is None:
                return self._fall_back(f"mellotron-zh could not speak {sentence!r}: {why}", text, prompt_audio,
                                       prompt_sample_rate, options)
            pieces.append(self._vocode(_stretch(mel, pace)))
            report((index + 1) / len(sentences))
        timings["synthesis"] = time.perf_counter() - started
        audio = np.concatenate([np.concatenate([piece, np.zeros(int(0.12 * SAMPLE_RATE), np.float32)])
                                for piece in pieces])
        if abs(pitch - 1.0) > 1e-3:
            started = time.perf_counter()
            audio = _shift_pitch(audio, pitch)
            timings["pitch"] = time.perf_counter() - started
        audio = np.clip(audio * 10 ** (gain_db / 20), -1, 1).astype(np.float32)
        voices = " + ".join(f"{name} {weight:.0%}" for name, weight in blend)
        notes = [f"Neural Mandarin voice nearest to the reference ({voices}); not a clone of it."]
        if on_audio:  # the whole speech at once (callers stream sentence by sentence)
            on_audio(audio, SAMPLE_RATE)
        return SpeechOutput(audio, SAMPLE_RATE, "cmn", applied, ignored, notes, timings)

    def _vocode(self, mel):
        return self.vocoder.vocode(mel).numpy().astype(np.float32)

    def _not_for_me(self, text, styles, mode):
        if _LATIN.search(unicodedata.normalize("NFKC", text)):
            return "mellotron-zh speaks Mandarin only and would spell Latin letters one by one"
        other = [style for style in styles if style in _FALLBACK_STYLES]
        if other:
            return f"mellotron-zh speaks Mandarin only, not {', '.join(other)}"
        if mode == "cross_lingual":
            return "mellotron-zh speaks Mandarin only (cross_lingual)"
        return None

    def _fall_back(self, reason, text, prompt_audio, prompt_sample_rate, options):
        out = self.fallback.synthesize(text, prompt_audio, prompt_sample_rate, **options)
        out.notes = [f"Spoken by espeak-world: {reason}."] + out.notes
        return out


def _quantized(model):
    """The decoder's LSTM cells and linear layers in int8 (dynamic quantization): the autoregressive loop is
    about 2.5x faster on one core. (torch marks this eager-mode API for migration to torchao; it still works.)"""
    import warnings

    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.ao.quantization.quantize_dynamic(model, {torch.nn.LSTM, torch.nn.LSTMCell, torch.nn.Linear},
                                                      dtype=torch.qint8)


def _shift_pitch(audio, factor):
    """The same speech with its F0 scaled (WORLD analysis and resynthesis; timbre kept)."""
    import pyworld

    x = audio.astype(np.float64)
    f0, times = pyworld.dio(x, SAMPLE_RATE, frame_period=5.0)
    f0 = pyworld.stonemask(x, f0, times, SAMPLE_RATE)
    envelope = pyworld.cheaptrick(x, f0, times, SAMPLE_RATE)
    aperiodicity = pyworld.d4c(x, f0, times, SAMPLE_RATE)
    y = pyworld.synthesize(f0 * factor, envelope, aperiodicity, SAMPLE_RATE, 5.0)
    return y[:len(audio)].astype(np.float32)


def _stretch(mel, pace):
    """Mel frames resampled in time: pace > 1 speaks faster, pitch unchanged."""
    if abs(pace - 1.0) < 1e-3:
        return mel
    import torch

    frames = max(2, int(round(mel.shape[1] / pace)))
    return torch.nn.functional.interpolate(mel[None], size=frames, mode="linear", align_corners=True)[0]


@functools.lru_cache(maxsize=1)
def _to_simplified():
    from opencc import OpenCC

    return OpenCC("t2s")


_DIGITS = "零一二三四五六七八九"


def _spell_digits(text):
    """Digits read one by one in Chinese (pypinyin has no reading for them)."""
    return re.sub(r"\d", lambda m: _DIGITS[int(m.group())], text)


# -- the voice bank (built once at conversion) ------------------------------------------------------

BANK_SENTENCE = "今天天气真好，我们一起去公园散步吧。"
SPEAKERS = ("Aibao", "Aicheng", "Aida", "Aijia", "Aijing", "Aimei", "Aina", "Aiqi", "Aitong", "Aiwei", "Aixia",
            "Aiya", "Aiyu", "Aiyue", "Siyue", "Xiaobei", "Xiaogang", "Xiaomei", "Xiaomeng", "Xiaowei", "Xiaoxue",
            "Xiaoyun", "Yina", "biaobei")


def speaker_vector(name):
    """How the model was trained to know a speaker: the 32 hex digits of md5(name), each (d - 7) / 10."""
    return [(int(digit, 16) - 7) / 10 for digit in hashlib.md5(name.encode()).hexdigest()]


def build_bank(engine):
    """Each named voice speaks a test sentence; voices that fail the sanity checks (stops, time per syllable,
    voicing, no clipped clause) are kept out. Returns bank.json's content."""
    import pyworld

    syllables = sum(1 for c in BANK_SENTENCE if "\u4e00" <= c <= "\u9fff")
    voices = []
    for name in SPEAKERS:
        vector = np.array(speaker_vector(name), np.float32)
        mel, why = engine.speak_sentence(engine.symbols(BANK_SENTENCE), vector, syllables)
        entry = {"name": name, "vector": [float(v) for v in vector]}
        if mel is None:
            voices.append({**entry, "ok": False, "why": why, "embedding": [0.0] * 256})
            continue
        audio = engine._vocode(mel)
        seconds = len(audio) / SAMPLE_RATE
        f0, times = pyworld.dio(audio.astype(np.float64), SAMPLE_RATE)
        voiced = float((f0 > 0).mean())
        per_syllable = seconds / syllables
        problems = []
        if not 0.12 <= per_syllable <= 0.4:
            problems.append(f"{per_syllable:.2f} s a syllable")
        if voiced < 0.4:
            problems.append(f"only {voiced:.0%} voiced")
        tail = audio[-int(0.05 * SAMPLE_RATE):]
        if np.abs(tail).max() > 0.3:
            problems.append("the last clause is cut off")
        voices.append({**entry, "ok": not problems, "why": "; ".join(problems) or None,
                       "seconds_per_syllable": round(per_syllable, 3), "voiced": round(voiced, 2),
                       "median_f0": round(float(np.median(f0[f0 > 0])) if voiced else 0.0, 1),
                       "embedding": [float(v) for v in engine.encoder.embed(audio, SAMPLE_RATE)]})
    return {"sentence": BANK_SENTENCE, "voices": voices}

