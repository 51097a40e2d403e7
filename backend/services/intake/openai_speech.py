"""OpenAI-compatible speech: a `POST /v1/audio/speech` body becomes an ordinary TTS job of the key's account
(the same engines, cache, moderation, ledger and labels as `POST /api/v1/tts`)."""
from backend.errors import ApiError
from backend.schemas import OpenAISpeechIn
from backend.services.backoffice import voices
from backend.services.intake import tts, uploads

OPENAI_FIELDS = {"text": "input", "voice_id": "voice", "instruct": "instructions", "format": "response_format"}
BUILT_IN_VOICES = ("alloy", "ash", "ballad", "coral", "echo", "sage", "shimmer", "verse", "marin", "cedar", "fable",
                   "onyx", "nova")


def request_speech(user, body):
    """Validate an OpenAI speech request and submit it as the account's TTS job."""
    args = uploads.load(OpenAISpeechIn, body)
    if args["voice"] in BUILT_IN_VOICES:
        raise ApiError("not_found", f"voice {args['voice']!r} is one of OpenAI's built-in voices, which this "
                       "service does not have: send the id of a voice saved with POST /api/v1/voices (v_...).",
                       "voice")
    try:
        voices.usable(user, args["voice"])  # 404 for another account's voice, before anything else
    except ApiError as error:
        error.field = "voice"
        raise
    instructions = (args["instructions"] or "").strip() or None
    fields = {"text": args["input"], "voice_id": args["voice"], "speed": args["speed"],
              "format": args["response_format"], "mode": "instruct" if instructions else "zero_shot",
              "instruct": instructions}
    try:
        return tts.request_speech(user, fields)
    except ApiError as error:  # the errors name this API's fields, not the TTS request's they were passed as
        error.field = OPENAI_FIELDS.get(error.field, error.field)
        raise
