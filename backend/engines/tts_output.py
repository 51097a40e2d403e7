"""What every TTS engine returns."""
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
