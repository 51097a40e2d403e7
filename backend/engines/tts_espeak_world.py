"""`espeak-world`: the embedded TTS fallback. espeak-ng speaks, WORLD moves it toward the reference.

This is not voice cloning. It follows the reference's pitch (log-F0 median and spread),
vocal-tract size (a frequency warp found by search) and average timbre (a capped
spectral-envelope correction); everything else is espeak-ng's robot voice. Production
deployments use the `cosyvoice3` engine.
"""
import hashlib
import io
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyworld
import soundfile
from scipy.signal import resample_poly

from backend import emotions
from backend.engines.espeak_text import Segment, split_segments, to_pinyin, to_sichuanese_pinyin
from backend.engines.instructions import parse_instruction
from backend.engines.tts_output import SpeechOutput, check_speech_inputs

SAMPLE_RATE = 16000  # WORLD runs at 16 kHz: a quarter of the work of 22.05 kHz, same intelligibility
FRAME_PERIOD = 5.0  # ms
FFT_SIZE = 1024
F0_FLOOR, F0_CEIL = 50.0, 700.0
ESPEAK_WPM = 165
FEMALE_ABOVE_HZ = 165.0
TARGET_RMS_DB = -20.0
ENVELOPE_CAP = np.log(10 ** (6 / 10))  # +-6 dB, in natural-log power units
WARP_GRID = np.round(np.arange(0.80, 1.2501, 0.01), 3)

# style -> (pitch factor, pitch-range factor, speed factor, gain dB)
PROSODY = {
    **{emotion.id: (emotion.prosody.pitch, emotion.prosody.spread, emotion.prosody.pace, emotion.prosody.gain_db)
       for emotion in emotions.EMOTIONS},
    "slow": (1.0, 1.0, 0.72, 0.0),
    "fast": (1.0, 1.0, 1.35, 0.0),
    "loud": (1.02, 1.1, 1.0, 6.0),
    "whisper": (1.0, 1.0, 0.95, -8.0),
}


@dataclass
class VoiceProfile:
    """Reference statistics the conversion aims at; computed once per reference audio."""

    f0_median: float  # Hz
    lf0_median: float
    lf0_iqr: float
    mean_log_envelope: np.ndarray  # (FFT_SIZE // 2 + 1,), level-normalized


class EspeakWorldTTS:
    """espeak-ng synthesis converted toward a reference voice with the WORLD vocoder."""

    name = "espeak-world"
    profile_version = "1"  # bump when analyze_reference changes

    def __init__(self, profile_dir=None, espeak_binary="espeak-ng", timeout=30.0):
        self.profile_dir = Path(profile_dir) if profile_dir else None
        self.espeak_binary = espeak_binary
        self.timeout = timeout
        self._profiles = {}
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, config):
        """Build the engine from the app configuration."""
        return cls(profile_dir=config.get("VOICE_PROFILE_DIR"))

    def check_inputs(self, text, mode, prompt_audio, prompt_sample_rate, speed):
        """Raise ValueError naming the bad value (the shared checks, then WORLD's rate and a speakable text)."""
        if prompt_sample_rate != SAMPLE_RATE:
            raise ValueError(f"prompt_sample_rate must be {SAMPLE_RATE}, got {prompt_sample_rate!r}")
        check_speech_inputs(text, mode, prompt_audio, prompt_sample_rate, speed)
        if not split_segments(text):
            raise ValueError(f"text has nothing speakable: {text!r}")

    def synthesize(
        self,
        text,
        prompt_audio,
        prompt_sample_rate=SAMPLE_RATE,
        *,
        mode="zero_shot",
        prompt_text=None,
        prompt_key=None,
        instruct=None,
        speed=1.0,
        progress=None,
        emotion=None,
        on_audio=None,
    ):
        """Speak `text` in (an approximation of) the voice of `prompt_audio`."""
        self.check_inputs(text, mode, prompt_audio, prompt_sample_rate, speed)
        report = progress or (lambda fraction: None)
        timings = {}
        started = time.perf_counter()
        profile = self.voice_profile(prompt_audio, prompt_key)
        timings["profile"] = time.perf_counter() - started

        instruction = parse_instruction(instruct if mode == "instruct" else None, emotion)
        styles = instruction.styles
        pitch, spread, pace, gain = 1.0, 1.0, speed, 0.0
        for style in styles:
            if style in PROSODY:
                p, s, v, g = PROSODY[style]
                pitch, spread, pace, gain = pitch * p, spread * s, pace * v, gain + g
        female = profile.f0_median >= FEMALE_ABOVE_HZ

        started = time.perf_counter()
        segments = self._segments(text, styles)
        speech = self._espeak(segments, female, pace)
        timings["synthesis"] = time.perf_counter() - started
        report(0.4)

        started = time.perf_counter()
        audio = self._convert(speech, profile, pitch, spread, whisper="whisper" in styles)
        audio = _normalize_loudness(audio, TARGET_RMS_DB + gain)
        timings["conversion"] = time.perf_counter() - started
        report(0.9)

        language = "+".join(dict.fromkeys(s.language for s in segments))
        notes = ["embedded fallback: follows the reference's pitch and vocal size; not real voice cloning"]
        out = SpeechOutput(
            audio=audio.astype(np.float32),
            sample_rate=SAMPLE_RATE,
            language=language,
            instruct_applied=list(styles),
            instruct_ignored=list(instruction.ignored),
            notes=notes,
            timings=timings,
        )
        if on_audio:  # no streaming of its own: the whole speech at once (callers stream sentence by sentence)
            on_audio(out.audio, out.sample_rate)
        return out

    # -- reference analysis -------------------------------------------------

    def voice_profile(self, prompt_audio, prompt_key=None):
        """The reference statistics, cached in memory and on disk by content hash."""
        key = prompt_key or hashlib.sha256(np.ascontiguousarray(prompt_audio, dtype=np.float32).tobytes()).hexdigest()
        with self._lock:
            if key in self._profiles:
                return self._profiles[key]
        profile = self._load_profile(key)
        if profile is None:
            profile = analyze_reference(prompt_audio)
            self._store_profile(key, profile)
        with self._lock:
            self._profiles[key] = profile
        return profile

    def forget(self, prompt_key):
        """Drop everything derived from a recording (memory and disk), e.g. when its voice is deleted."""
        with self._lock:
            self._profiles.pop(prompt_key, None)
        if self.profile_dir is not None:
            for path in self.profile_dir.glob(f"v*/{prompt_key[:2]}/{prompt_key}.npz"):
                path.unlink(missing_ok=True)

    def _profile_path(self, key):
        return self.profile_dir / f"v{self.profile_version}" / key[:2] / f"{key}.npz" if self.profile_dir else None

    def _load_profile(self, key):
        path = self._profile_path(key)
        if path is None or not path.exists():
            return None
        try:
            with np.load(path) as data:
                return VoiceProfile(
                    float(data["f0_median"]), float(data["lf0_median"]), float(data["lf0_iqr"]),
                    data["mean_log_envelope"].copy(),
                )
        except (OSError, KeyError, ValueError):
            return None  # a damaged cache file is recomputed

    def _store_profile(self, key, profile):
        path = self._profile_path(key)
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{threading.get_ident()}.partial.npz")
        np.savez(partial, f0_median=profile.f0_median, lf0_median=profile.lf0_median,
                 lf0_iqr=profile.lf0_iqr, mean_log_envelope=profile.mean_log_envelope)
        partial.replace(path)

    # -- synthesis ----------------------------------------------------------

    def _segments(self, text, styles):
        segments = split_segments(text)
        out = []
        for segment in segments:
            if segment.language != "cmn":
                out.append(segment)
            elif "cantonese" in styles:
                out.append(Segment("yue", segment.text))
            elif "english" in styles:
                # An English speaker reading the pinyin: the honest meaning of "say it in English"
                # for an engine that cannot translate.
                out.append(Segment("en", to_pinyin(segment.text, tones=False)))
            elif "sichuanese" in styles:
                out.append(Segment("cmn", to_sichuanese_pinyin(to_pinyin(segment.text))))
            else:
                out.append(Segment("cmn", to_pinyin(segment.text)))
        return out

    def _espeak(self, segments, female, pace):
        voices = {"cmn": "cmn-latn-pinyin", "yue": "yue", "en": "en-us"}
        variant = "+f3" if female else "+m3"
        pieces = []
        for segment in segments:
            command = [
                self.espeak_binary, "-v", voices[segment.language] + variant,
                "-s", str(int(ESPEAK_WPM * pace)), "--stdout", "--", segment.text,
            ]
            try:
                done = subprocess.run(command, capture_output=True, timeout=self.timeout, check=True)
            except subprocess.TimeoutExpired as exc:
                raise RuntimeError(f"espeak-ng took longer than {self.timeout:.0f} s") from exc
            except subprocess.CalledProcessError as exc:
                raise RuntimeError(f"espeak-ng failed: {exc.stderr.decode(errors='replace')[:200]}") from exc
            wave, rate = soundfile.read(io.BytesIO(done.stdout), dtype="float64")
            pieces.append(resample_poly(wave, SAMPLE_RATE, rate) if rate != SAMPLE_RATE else wave)
            pieces.append(np.zeros(int(0.12 * SAMPLE_RATE)))
        return np.concatenate(pieces[:-1]) if pieces else np.zeros(SAMPLE_RATE // 10)

    # -- conversion ---------------------------------------------------------

    def _convert(self, speech, profile, pitch, spread, whisper):
        # espeak's own speech is clean: a decimated F0 search finds the same contour in half the time.
        f0, sp, ap = _world_analyze(speech, dio_speed=2)
        voiced = f0 > 0
        out_f0 = np.zeros_like(f0)
        if voiced.any() and not whisper:
            lf0 = np.log(f0[voiced])
            src_median = np.median(lf0)
            src_iqr = max(_iqr(lf0), 1e-3)
            ratio = np.clip(profile.lf0_iqr / src_iqr, 0.5, 2.5) * spread
            mapped = (lf0 - src_median) * ratio + profile.lf0_median + np.log(pitch)
            out_f0[voiced] = np.maximum(np.exp(mapped), F0_FLOOR)
        if whisper:
            ap = np.ones_like(ap)

        log_sp = np.log(np.maximum(sp, 1e-16))
        source_mean = _mean_log_envelope(log_sp, voiced)
        alpha = find_warp(source_mean, profile.mean_log_envelope)
        warped = warp_envelope(log_sp, alpha)
        correction = profile.mean_log_envelope - _level_normalized(warp_envelope(source_mean[None, :], alpha)[0])
        correction = np.clip(_smooth(correction, 9), -ENVELOPE_CAP, ENVELOPE_CAP)
        out_sp = np.ascontiguousarray(np.exp(warped + correction))
        return pyworld.synthesize(out_f0, out_sp, np.ascontiguousarray(ap), SAMPLE_RATE, FRAME_PERIOD)


def analyze_reference(audio):
    """Robust log-F0 statistics and the mean spectral envelope of a 16 kHz reference."""
    f0, sp, _ = _world_analyze(np.asarray(audio, dtype=np.float64), aperiodicity=False)
    voiced = f0 > 0
    if voiced.sum() < 10:
        raise ValueError("the reference has almost no voiced speech; record a few seconds of talking")
    lf0 = np.log(f0[voiced])
    log_sp = np.log(np.maximum(sp, 1e-16))
    median = float(np.median(lf0))
    return VoiceProfile(float(np.exp(median)), median, float(_iqr(lf0)), _mean_log_envelope(log_sp, voiced))


def find_warp(source_mean, target_mean):
    """The vocal-tract-length warp factor that best maps the source envelope onto the target's."""
    band = _band(80, 5000)
    target = target_mean[band] - target_mean[band].mean()
    best, best_error = 1.0, np.inf
    for alpha in WARP_GRID:
        candidate = warp_envelope(source_mean[None, :], alpha)[0][band]
        error = np.mean((candidate - candidate.mean() - target) ** 2)
        if error < best_error:
            best, best_error = float(alpha), error
    return best


def warp_envelope(log_sp, alpha):
    """Stretch each frame's log envelope along frequency: formants move up by `alpha`."""
    bins = log_sp.shape[1]
    source = np.clip(np.arange(bins) / alpha, 0, bins - 1)
    low = np.floor(source).astype(int)
    high = np.minimum(low + 1, bins - 1)
    weight = source - low
    return log_sp[:, low] * (1 - weight) + log_sp[:, high] * weight


def _world_analyze(x, aperiodicity=True, dio_speed=1):
    f0, times = pyworld.dio(
        x, SAMPLE_RATE, f0_floor=F0_FLOOR, f0_ceil=F0_CEIL, frame_period=FRAME_PERIOD, speed=dio_speed
    )
    f0 = pyworld.stonemask(x, f0, times, SAMPLE_RATE)
    sp = pyworld.cheaptrick(x, f0, times, SAMPLE_RATE, fft_size=FFT_SIZE)
    ap = pyworld.d4c(x, f0, times, SAMPLE_RATE, fft_size=FFT_SIZE) if aperiodicity else None
    return f0, sp, ap


def _mean_log_envelope(log_sp, voiced):
    frames = log_sp[voiced] if voiced.sum() >= 5 else log_sp
    return _level_normalized(frames.mean(axis=0))


def _level_normalized(envelope):
    return envelope - envelope[_band(80, 5000)].mean()


def _band(low_hz, high_hz):
    hz_per_bin = SAMPLE_RATE / FFT_SIZE
    return slice(int(low_hz / hz_per_bin), int(high_hz / hz_per_bin))


def _smooth(values, width):
    kernel = np.ones(width) / width
    return np.convolve(np.pad(values, width // 2, mode="edge"), kernel, mode="valid")


def _iqr(values):
    q75, q25 = np.percentile(values, [75, 25])
    return float(q75 - q25)


def _normalize_loudness(audio, target_db):
    """Scale to a target RMS over the non-silent part; soft-limit peaks so loud stays loud."""
    frame = SAMPLE_RATE // 50
    usable = audio[: len(audio) // frame * frame].reshape(-1, frame) if len(audio) >= frame else audio[None, :]
    energy = np.sqrt((usable**2).mean(axis=1))
    active = energy[energy > energy.max() * 0.05] if energy.max() > 0 else energy
    rms = float(np.sqrt((active**2).mean())) if active.size else 0.0
    if rms > 0:
        audio = audio * (10 ** (target_db / 20) / rms)
    return _soft_limit(audio)


def _soft_limit(audio, knee=0.6, ceiling=0.89):
    """Identity below the knee, a tanh curve above it that never exceeds the ceiling."""
    magnitude = np.abs(audio)
    over = magnitude > knee
    if over.any():
        room = ceiling - knee
        magnitude = magnitude.copy()
        magnitude[over] = knee + room * np.tanh((magnitude[over] - knee) / room)
        audio = np.sign(audio) * magnitude
    return audio
