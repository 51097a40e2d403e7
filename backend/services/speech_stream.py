"""Speech handed out while it is made. The worker appends each encoded piece of a TTS job's audio to a Redis
stream named by the job's fingerprint (so identical requests that follow one computation read the same
stream); `POST /api/v1/tts/stream` reads it and sends the pieces on as they come. The finished file is
stored as for every job; the stream is a short-lived copy (STREAM_TTL seconds after its last piece)."""
import struct
import time

from flask import current_app

from backend.extensions import db, get_redis
from backend.services import media

STREAMED_FORMATS = ("mp3", "wav")  # chunked MP3, or 16-bit PCM behind a WAV header of unknown length
KEY = "vm:speech:"
STREAM_TTL = 120
MAX_ENTRIES = 4000
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
        import numpy as np

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
        from backend.renders.labels import label_audio

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


def pieces(job, max_seconds):
    """Web side: the job's audio bytes as they are made, in order. Ends after the last piece; early (what was
    sent is all there is) when the job failed, or after max_seconds. A job finished before its stream could be
    read (an earlier identical request, or a stream expired) is sent from its stored file."""
    key = KEY + job.cache_key
    redis = get_redis()
    last, sent, deadline = "0-0", False, time.monotonic() + max_seconds
    while time.monotonic() < deadline:
        try:
            answer = redis.xread({key: last}, count=64, block=500)
        except Exception:  # noqa: BLE001 - Redis gone: only the stored file can still be sent
            answer = []
            time.sleep(0.5)
        for _name, entries in answer:
            for entry_id, fields in entries:
                last = entry_id
                kind = fields[b"kind"]
                if kind in (b"end", b"error"):
                    return
                sent = True
                if fields[b"data"]:
                    yield fields[b"data"]
        if answer:
            continue
        db.session.commit()  # a fresh read of the job, and no transaction held while streaming
        db.session.refresh(job)
        finished, succeeded = job.finished, job.status == "succeeded"
        db.session.commit()
        if finished:
            if succeeded and not sent:
                yield from _stored(job)
            return


def _stored(job, size=64 * 1024):
    data = media.read(job.result_path)
    for start in range(0, len(data), size):
        yield data[start:start + size]
