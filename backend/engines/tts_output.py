"""What every TTS engine returns, and how a text is spoken piece by piece (sentences)."""
import re
from dataclasses import dataclass, field

import numpy as np


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
