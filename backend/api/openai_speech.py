"""OpenAI-compatible speech (`POST /v1/audio/speech`): every tool that speaks OpenAI's API can use a cloned
voice. Authenticated with a speech API key made in the console; answers the audio itself."""
from apiflask import APIBlueprint, FileSchema
from flask import Response, current_app

from backend.api.common import raise_if_failed
from backend.errors import ApiError
from backend.ratelimit import job_limit
from backend.schemas import OpenAISpeechIn
from backend.services.backoffice.api_keys import speech_auth
from backend.services.intake import openai_speech, uploads
from backend.services.jobs import waiting
from backend.services.media import files

bp = APIBlueprint("openai_speech", __name__, tag="OpenAI-compatible")


@bp.post("/v1/audio/speech")
@bp.auth_required(speech_auth)
@job_limit
@bp.input(OpenAISpeechIn, location="json", validation=False, arg_name="_documented")
@bp.output(FileSchema(type="string", format="binary"), content_type="audio/mpeg",
           description="the audio, in response_format (audio/mpeg, audio/wav, audio/ogg (opus), audio/aac, "
                       "audio/flac, audio/pcm: 24 kHz 16-bit little-endian mono)")
def create_speech(_documented):
    """Say `input` in a saved voice, as OpenAI's `audio.speech.create` does; the audio is the answer."""
    user = speech_auth.current_user
    job = openai_speech.request_speech(user, uploads.json_object())
    job = waiting.wait(job, current_app.config["SEED_TTS_WAIT"])
    raise_if_failed(job, "The speech failed; retry.")
    if job.status != "succeeded":
        raise ApiError("service_unavailable", f"Still speaking (task {job.id}); send the same request again in a "
                       "few seconds to collect it, at no extra cost.", headers={"Retry-After": "3"})
    return Response(files.read(job.result_path), mimetype=job.result_mime,
                    headers={"X-VoxMoji-Task": job.id, "Cache-Control": "no-store"})
