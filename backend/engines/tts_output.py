"""What every TTS engine returns, and how a text is spoken piece by piece (sentences)."""
import re
from dataclasses import dataclass, field

import numpy as np

from backend.vocabulary import TTS_MODES


@dataclass
class SpeechOutput:
    """Synthesized speech plus what the engine did with the request."""

    audio: np.ndarray  # float32 mono in [-1, 1]
    sample_rate: int
    language: str
    instruct_applied: list[str] = field(default_factory=list)
    instruct_ignored: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    timings: dict = field(default_factory=dict)


def check_speech_inputs(text, mode, prompt_audio, prompt_sample_rate, speed, max_prompt_seconds=None):
    """The checks every TTS engine makes before speaking: raise ValueError naming the bad value."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"text must be a non-empty string, got {text!r}")
    if mode not in TTS_MODES:
        raise ValueError(f"mode must be one of {TTS_MODES}, got {mode!r}")
    if prompt_audio is None or np.asarray(prompt_audio).ndim != 1 or len(prompt_audio) < prompt_sample_rate // 2:
        raise ValueError("prompt_audio must be mono audio of at least 0.5 s")
    if max_prompt_seconds is not None and len(prompt_audio) > max_prompt_seconds * prompt_sample_rate:
        raise ValueError(f"prompt_audio must be at most {max_prompt_seconds} s")
    if not 0.5 <= speed <= 2.0:
        raise ValueError(f"speed must be within 0.5-2.0, got {speed!r}")


_SENTENCE_END = re.compile(r"(?<=[。！？!?；;\n])|(?<=\. )")
MIN_SENTENCE_CHARS = 4  # shorter pieces ("好！") join the sentence before them


def split_sentences(text):
    """The text's sentences, punctuation kept, in order; very short ones joined to the one before."""
    sentences = []
    for piece in _SENTENCE_END.split(text):
        if not piece.strip():
            continue
        if sentences and len(piece.strip()) < MIN_SENTENCE_CHARS:
            sentences[-1] += piece
        else:
            sentences.append(piece)
    return [sentence.strip() for sentence in sentences] or [text]


def join_outputs(pieces, gap_seconds):
    """One SpeechOutput from the pieces of a text spoken in turn (the same sample rate), `gap_seconds` of
    silence between them; what each piece applied, ignored and noted, each once."""
    rate = pieces[0].sample_rate
    gap = np.zeros(int(gap_seconds * rate), np.float32)
    audio = np.concatenate([part for piece in pieces for part in (gap, piece.audio)][1:]).astype(np.float32)
    timings = {}
    for piece in pieces:
        for name, seconds in piece.timings.items():
            timings[name] = timings.get(name, 0.0) + seconds
    return SpeechOutput(audio, rate, pieces[0].language, _once(p.instruct_applied for p in pieces),
                        _once(p.instruct_ignored for p in pieces), _once(p.notes for p in pieces), timings)


def _once(lists):
    return list(dict.fromkeys(item for items in lists for item in items))
