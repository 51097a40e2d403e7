"""Saved voices: reference recordings a user can reuse by voice_id."""
from apiflask import APIBlueprint
from flask import current_app

from backend.auth import token_auth
from backend.ratelimit import job_limit
from backend.schemas import ConsentOut, VoiceIn, VoiceListOut, VoiceOut
from backend.services.backoffice import media_moderation, voices
from backend.services.intake import consent, uploads

bp = APIBlueprint("voices", __name__, url_prefix="/api/v1", tag="Voices")


@bp.post("/voices")
@bp.auth_required(token_auth)
@job_limit  # ffmpeg runs in the web tier: the same limits as jobs
@bp.input(VoiceIn, location="json", validation=False, arg_name="_documented")
@bp.output(VoiceOut, status_code=201)
def create_voice(_documented):
    """Save a recording of the consent sentence (1-30 s; wav, mp3, aac, m4a or pcm) as a voice; whether it says
    the sentence is checked (docs/API.md, "Consent")."""
    limit = current_app.config["AUDIO_MAX_BYTES"]
    fields = uploads.body_fields(["audio"], limit)
    args = uploads.load(VoiceIn, fields, partial=("audio",))
    consented = consent.verify(token_auth.current_user, args["consent_token"])
    data = uploads.file_bytes(fields, "audio", limit)
    voice = consent.save_voice(token_auth.current_user, data, args["audio_format"], args["sample_rate"],
                               args["prompt_text"], args["name"], consented)
    media_moderation.register_voice(voice, token_auth.current_user)
    return {"success": True, "voice": voices.present(voice)}, 201


@bp.get("/voices/consent")
@bp.auth_required(token_auth)
@bp.output(ConsentOut)
def voice_consent():
    """The sentence a speaker reads to consent to their voice being cloned (with today's date), and the token
    that POST /api/v1/voices needs with that recording; valid for 30 minutes."""
    return {"success": True, **consent.offer(token_auth.current_user)}


@bp.get("/voices")
@bp.auth_required(token_auth)
@bp.output(VoiceListOut)
def list_voices():
    """The user's saved voices."""
    return {"success": True, "voices": [voices.present(v) for v in voices.list_for(token_auth.current_user)]}


@bp.delete("/voices/<voice_id>")
@bp.auth_required(token_auth)
@bp.output({}, status_code=204)
def delete_voice(voice_id):
    """Delete a saved voice."""
    voices.delete(token_auth.current_user, voice_id)
    return "", 204
