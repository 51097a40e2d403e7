"""Speech handed out while it is made. The worker appends each encoded piece of a TTS job's audio to a Redis
stream named by the job's fingerprint (renders/speech_writer.py; identical requests that follow one
computation read the same stream); `POST /api/v1/tts/stream` reads it here and sends the pieces on as they
come. The finished file is stored as for every job; the stream is a short-lived copy (STREAM_TTL seconds after
its last piece)."""
import time

import sqlalchemy as sa

from backend.extensions import db, get_redis
from backend.models import FINISHED, Job
from backend.services.media import files

STREAMED_FORMATS = ("mp3", "wav")  # chunked MP3, or 16-bit PCM behind a WAV header of unknown length
KEY = "vm:speech:"
STREAM_TTL = 120
MAX_ENTRIES = 4000


def pieces(job, max_seconds):
    """Web side: the job's audio bytes as they are made, in order. Ends after the last piece; early (what was
    sent is all there is) when the job failed, or after max_seconds, however slowly the pieces are taken (a
    slow reader is cut then). A job finished before its stream could be read (an earlier identical request, or
    a stream expired) is sent from its stored file.

    The response sends these after the view has returned, in an app context (and database session) of its own:
    the job is read again by its id, never through the view's instance."""
    deadline = time.monotonic() + max_seconds
    for piece in _pieces(job.id, KEY + job.cache_key, deadline):
        if time.monotonic() >= deadline:
            return
        yield piece


def _pieces(job_id, key, deadline):
    redis = get_redis()
    last, sent = "0-0", False
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
        status, result_path = db.session.execute(
            sa.select(Job.status, Job.result_path).where(Job.id == job_id)).one()
        db.session.commit()
        if status in FINISHED:
            if status == "succeeded" and not sent:
                yield from _stored(result_path)
            return


def _stored(result_path, size=64 * 1024):
    data = files.read(result_path)
    for start in range(0, len(data), size):
        yield data[start:start + size]
