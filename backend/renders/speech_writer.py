"""Worker side of streamed speech: each piece of a TTS job's audio, encoded as it is made, appended to the
job's Redis stream (services/media/speech_stream.py reads it for `POST /api/v1/tts/stream`)."""
import struct

import numpy as np
from flask import current_app

from backend.extensions import get_redis
from backend.renders.labels import label_audio
from backend.services.media.speech_stream import KEY, MAX_ENTRIES, STREAM_TTL

_UNKNOWN_LENGTH = 0xFFFFFFFF


class SpeechWriter:
    """Worker side: audio(samples, rate) for each piece in order, then end() (or fail())."""

    def __init__(self, fingerprint, fmt, hidden_label):
        self.key = KEY + fingerprint
        self.fmt = fmt
        self.hidden_label = hidden_label
        self._encoder = None
        self._rate = None

    def audio(self, samples, rate):
        if self._rate is None:
            self._start(rate)
        pcm = (np.clip(np.asarray(samples, np.float32), -1, 1) * 32767).astype("<i2").tobytes()
        self._add("audio", bytes(self._encoder.encode(pcm)) if self._encoder else pcm)

    def end(self):
        if self._rate is None:
            return
        if self._encoder:
            self._add("audio", bytes(self._encoder.flush()))
        self._add("end")

    def fail(self):
        if self._rate is not None:
            self._add("error")

    def _start(self, rate):
        self._rate = int(rate)
        try:
            get_redis().delete(self.key)  # a retried job starts its stream again
        except Exception:  # noqa: BLE001 - streaming is best effort: the job's file is what counts
            pass
        if self.fmt == "mp3":
            import lameenc

            self._encoder = lameenc.Encoder()
            self._encoder.set_bit_rate(64)
            self._encoder.set_in_sample_rate(self._rate)
            self._encoder.set_channels(1)
            self._encoder.set_quality(5)
            self._add("head", label_audio(b"", "mp3", self.hidden_label))  # the ID3 tag with the AI label
        else:
            self._add("head", wav_header(self._rate))

    def _add(self, kind, data=b""):
        try:
            pipe = get_redis().pipeline()
            pipe.xadd(self.key, {"kind": kind, "data": data}, maxlen=MAX_ENTRIES, approximate=True)
            pipe.expire(self.key, STREAM_TTL)
            pipe.execute()
        except Exception:  # noqa: BLE001
            current_app.logger.warning("could not stream a piece of %s", self.key, exc_info=True)


def wav_header(rate):
    """A 16-bit mono WAV header whose sizes say "unknown" (0xFFFFFFFF), as streaming players expect."""
    return (b"RIFF" + struct.pack("<I", _UNKNOWN_LENGTH) + b"WAVEfmt " +
            struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16) + b"data" + struct.pack("<I", _UNKNOWN_LENGTH))
