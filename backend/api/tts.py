"""Text to speech: the v1 task API, speech streamed while it is made, and the seed-compatible synchronous /tts."""
from contextlib import ExitStack

from apiflask import APIBlueprint, FileSchema
from flask import Response, current_app, stream_with_context

from backend.api.common import job_endpoint, present, raise_if_failed
from backend.auth import token_auth
from backend.errors import ApiError
from backend.extensions import db
from backend.models import Job
from backend.ratelimit import job_limit
from backend.schemas import SeedTtsIn, SeedTtsOut, TtsIn
from backend.services.intake import tts, uploads
from backend.services.jobs import waiting
from backend.services.media import speech_stream

bp = APIBlueprint("tts", __name__, tag="Voice cloning")


@job_endpoint(bp, "/api/v1/tts", TtsIn, tts.request_speech, ["prompt_audio"], "AUDIO_MAX_BYTES")
def create_tts():
    """Say `text` in the voice of a saved voice or an inline recording."""


@bp.post("/api/v1/tts/stream")
@bp.auth_required(token_auth)
@job_limit
@bp.input(TtsIn, location="json", validation=False, arg_name="_documented")
@bp.output(FileSchema(type="string", format="binary"), content_type="audio/mpeg",
           description="the audio while it is made (chunked transfer): audio/mpeg, or audio/wav (a header with "
                       "unknown sizes, then 16-bit PCM) for format=wav")
def stream_tts(_documented):
    """Like POST /api/v1/tts, but the answer is the audio itself, sent piece by piece as it is made."""
    user = token_auth.current_user
    fields = uploads.body_fields(["prompt_audio"], current_app.config["AUDIO_MAX_BYTES"])
    fmt = fields.get("format") or "mp3"
    if fmt not in speech_stream.STREAMED_FORMATS:
        raise ApiError("invalid_request", f"Streams are {' or '.join(speech_stream.STREAMED_FORMATS)}; use "
                       "POST /api/v1/tts for other formats.", "format")
    # A stream occupies a thread of this process: one of its wait slots, and one of the user's, for as long as
    # the speech may take (pieces ends it then) and its last write may wait on the reader (Nginx cuts it then).
    config = current_app.config
    held = ExitStack()
    if not held.enter_context(waiting.wait_slot(user.id, config["JOB_HARD_TIME_LIMIT"] + config["STREAM_SEND_TIMEOUT"])):
        held.close()
        raise ApiError("rate_limited", "Too many streams at once; wait for one to finish, or use POST /api/v1/tts.",
                       headers={"Retry-After": "2"})
    try:
        job = tts.request_speech(user, {**fields, "format": fmt})
        pieces = speech_stream.pieces(job, config["JOB_HARD_TIME_LIMIT"])
        first = next(pieces, None)
        if first is None:  # nothing was said: the job's own error
            job = db.session.get(Job, job.id, populate_existing=True)  # read again (the job may be a copy)
            raise_if_failed(job, "The speech failed; retry.")
            raise ApiError("engine_failed", "The speech did not start in time; retry.")
    except BaseException:
        held.close()
        raise

    def body():
        with held:
            yield first
            yield from pieces

    return Response(stream_with_context(body()), mimetype="audio/mpeg" if fmt == "mp3" else "audio/wav", headers={
        "X-VoxMoji-Task": job.id, "X-Accel-Buffering": "no", "Cache-Control": "no-store"})


@bp.post("/tts")
@bp.auth_required(token_auth)
@job_limit
@bp.input(SeedTtsIn, location="json", validation=False, arg_name="_documented")
@bp.output(SeedTtsOut)
def seed_tts(_documented):
    """Seed-compatible: `{text, prompt_audio, mode, instruct}`, waits for the audio URL. Its body cannot say that
    the speaker agreed, so it clones only where the operator turned it on (VOXMOJI_SEED_TTS_CLONING; on in the
    dev mode only)."""
    if not current_app.config["SEED_TTS_CLONING"]:
        raise ApiError("consent_required", "This server does not clone recordings on /tts, whose body cannot carry "
                       "the speaker's consent; use POST /api/v1/tts with voice_consent: true.", "prompt_audio")
    fields = uploads.body_fields(["prompt_audio"], current_app.config["AUDIO_MAX_BYTES"])
    job = tts.request_speech(token_auth.current_user, fields, operator_consent=True)
    job = waiting.wait(job, current_app.config["SEED_TTS_WAIT"])
    raise_if_failed(job, "The task failed.")
    task = present(job)
    body = {"success": True, "audio_url": task.get("audio_url"), "task_id": job.id,
            "duration": task.get("duration"), "status": job.status}
    return body, 200 if job.finished else 202
