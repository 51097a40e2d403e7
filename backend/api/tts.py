"""Text to speech: the v1 task API and the seed-compatible synchronous /tts."""
from apiflask import APIBlueprint
from flask import current_app

from backend.api.common import task_response
from backend.auth import token_auth
from backend.ratelimit import job_limit
from backend.errors import ApiError
from backend.schemas import SeedTtsIn, SeedTtsOut, TaskOut, TtsIn, WaitQuery
from backend.services import jobs, tts, uploads

bp = APIBlueprint("tts", __name__, tag="Voice cloning")


@bp.post("/api/v1/tts")
@bp.auth_required(token_auth)
@job_limit
@bp.input(WaitQuery, location="query", arg_name="query")
@bp.input(TtsIn, location="json", validation=False, arg_name="_documented")
@bp.output(TaskOut, status_code=202)
def create_tts(query, _documented):
    """Say `text` in the voice of a saved voice or an inline recording."""
    fields = uploads.body_fields(["prompt_audio"], current_app.config["AUDIO_MAX_BYTES"])
    job = tts.request_speech(token_auth.current_user, fields)
    return task_response(job, query["wait"])


@bp.post("/tts")
@bp.auth_required(token_auth)
@job_limit
@bp.input(SeedTtsIn, location="json", validation=False, arg_name="_documented")
@bp.output(SeedTtsOut)
def seed_tts(_documented):
    """Seed-compatible: `{text, prompt_audio, mode, instruct}`, waits for the audio URL."""
    fields = uploads.body_fields(["prompt_audio"], current_app.config["AUDIO_MAX_BYTES"])
    job = tts.request_speech(token_auth.current_user, fields)
    job = jobs.wait(job, current_app.config["SEED_TTS_WAIT"])
    if job.status in ("failed", "canceled"):
        raise ApiError(job.error_code or "engine_failed", job.error_message or "The task failed.", job.error_field)
    task = jobs.present(job)
    body = {"success": True, "audio_url": task.get("audio_url"), "task_id": job.id,
            "duration": task.get("duration"), "status": job.status}
    return body, 200 if job.finished else 202
