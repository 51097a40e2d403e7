"""The optional audible AI label of speech results (GB 45438-2025, explicit labels for audio: a spoken label or
a rhythm cue at the start, the end or in the middle). VoxMoji plays the rhythm cue, Morse code for "AI"
(short-long, short-short) in 800 Hz tones, at the start or the end of the speech: VOXMOJI_AUDIO_LABEL = start |
end | off (the default). It is part of the request's fingerprint, so a result made without it is not served
with it on."""
import numpy as np

POSITIONS = ("off", "start", "end")
TONE_HZ = 800
DOT, DASH, SYMBOL_GAP, LETTER_GAP = 0.08, 0.24, 0.08, 0.24  # seconds
MORSE_AI = ((DOT, DASH), (DOT, DOT))
PAUSE = 0.3  # between the cue and the speech


def cue(rate):
    """The rhythm cue as float samples at `rate`, with the pause that separates it from the speech."""
    parts = []
    for letter_index, letter in enumerate(MORSE_AI):
        if letter_index:
            parts.append(np.zeros(int(LETTER_GAP * rate), np.float32))
        for symbol_index, seconds in enumerate(letter):
            if symbol_index:
                parts.append(np.zeros(int(SYMBOL_GAP * rate), np.float32))
            parts.append(_tone(seconds, rate))
    return np.concatenate(parts).astype(np.float32)


def lead(rate):
    """What goes before the speech at `start`: the cue, then the pause."""
    return np.concatenate([cue(rate), np.zeros(int(PAUSE * rate), np.float32)])


def tail(rate):
    """What goes after the speech at `end`: the pause, then the cue."""
    return np.concatenate([np.zeros(int(PAUSE * rate), np.float32), cue(rate)])


def attach(samples, rate, position):
    """The speech with the cue at `position` (start, end; off or None: unchanged)."""
    if position == "start":
        return np.concatenate([lead(rate), samples]).astype(np.float32)
    if position == "end":
        return np.concatenate([samples, tail(rate)]).astype(np.float32)
    return samples


def _tone(seconds, rate):
    t = np.arange(int(seconds * rate)) / rate
    ramp = np.minimum(1.0, np.minimum(t, seconds - t) / 0.01)  # 10 ms fades: no clicks
    return (0.4 * np.sin(2 * np.pi * TONE_HZ * t) * ramp).astype(np.float32)
