"""Request and response schemas: they validate input and describe the API in /openapi.json."""
from apiflask import Schema
from apiflask.fields import Boolean, Dict, Float, Integer, List, Nested, String
from apiflask.validators import Length, OneOf, Range

from backend.emotions import IDS as EMOTION_IDS
from backend.vocabulary import (
    ANIMATIONS,
    API_JOB_KINDS,
    AUDIO_FORMATS,
    EXPRESSIONS,
    IMAGE_FORMATS,
    PACK_INTRO_MAX,
    PACK_NAME_MAX,
    PCM_RATES,
    REPORT_CATEGORIES,
    REPORT_REASON_MAX,
    SPEECH_FORMATS,
    STYLES,
    SWAP_FORMATS,
    TALKING_STYLES,
    TTS_MODES,
)

ID_MAX = 64  # every public id (t_…, v_…, template ids) is shorter
TTS_TEXT_HARD_MAX = 1000  # VOXMOJI_TEXT_MAX_CHARS (default 200) is checked as well, before normalisation
CAPTION_HARD_MAX = 200  # VOXMOJI_CAPTION_MAX_CHARS (default 40) likewise
BIGINT_MAX = 2**63 - 1


class Text(String):
    """Free text with a character limit that is checked before anything else reads it (422 text_too_long);
    the limit is also the field's maxLength in /openapi.json."""

    def __init__(self, max_chars, **kwargs):
        self.max_chars = max_chars
        super().__init__(validate=Length(max=max_chars), **kwargs)


def Id(**kwargs):  # noqa: N802 - reads like a field class
    """A public id or cursor: at most ID_MAX characters."""
    return String(validate=Length(max=ID_MAX), **kwargs)


class ErrorDetail(Schema):
    code = String(required=True, metadata={"description": "snake_case error code (docs/API.md)"})
    message = String(required=True, metadata={"description": "what went wrong and what to do"})
    field = String(required=True, allow_none=True, metadata={"description": "the request field, if one"})


class ErrorOut(Schema):
    """The one error shape of the API."""

    success = Boolean(required=True, metadata={"description": "always false"})
    error = Nested(ErrorDetail, required=True)


class LoginIn(Schema):
    code = String(required=True, validate=Length(min=1, max=128), metadata={"description": "the code from wx.login()"})


class RefreshIn(Schema):
    refresh_token = String(required=True, validate=Length(min=1, max=128),
                           metadata={"description": "refresh_token from the login (or the last refresh)"})


class UserOut(Schema):
    id = String()
    balance = Integer()
    held = Integer()
    created_at = String()


class LoginOut(Schema):
    success = Boolean()
    access_token = String()
    token_type = String()
    expires_in = Integer()
    refresh_token = String()
    refresh_expires_in = Integer()
    user = Nested(UserOut)


class MeOut(Schema):
    success = Boolean()
    user = Nested(UserOut)


class ReportIn(Schema):
    job_id = String(load_default=None, validate=Length(max=ID_MAX), metadata={"description": "your task"})
    media_url = String(load_default=None, validate=Length(max=2000),
                       metadata={"description": "a result link this service signed (expired links too)"})
    category = String(required=True, validate=OneOf(REPORT_CATEGORIES))
    reason = Text(REPORT_REASON_MAX, load_default="")


class ReportOut(Schema):
    success = Boolean()
    report = Dict(metadata={"example": {"report_id": 12, "job_id": "t_…", "category": "abuse", "status": "open"}})


class ErasureOut(Schema):
    success = Boolean()
    status = String(metadata={"example": "erasing"})


class VoiceIn(Schema):
    audio = String(required=True, metadata={"description": "base64 (or a multipart file part)"})
    audio_format = String(validate=OneOf(AUDIO_FORMATS), load_default=None)
    sample_rate = Integer(validate=OneOf(PCM_RATES), load_default=None)
    prompt_text = Text(500, load_default=None, metadata={"description": "what the recording says (default: the "
                                                                       "consent sentence)"})
    name = Text(64, load_default=None)
    consent_token = String(load_default=None, validate=Length(max=2000),
                           metadata={"description": "from GET /api/v1/voices/consent; the recording is its sentence"})


class ConsentOut(Schema):
    success = Boolean()
    text = String(metadata={"example": "我是本人，我同意用我的声音生成语音。今天是2026年11月24日。"})
    consent_token = String()
    expires_at = String()


class VoiceConsent(Schema):
    text = String()
    at = String()
    audio_sha256 = String()
    status = String(metadata={"description": "verified (the recording says the sentence) | reviewing (waits for a "
                                             "moderator) | unverified (a local stack that does not check)"})
    checked_by = String(allow_none=True, metadata={"description": "asr (speech recognition) | moderator | null"})


class Voice(Schema):
    voice_id = String()
    name = String()
    duration = Float()
    prompt_text = String(allow_none=True)
    created_at = String()
    usable = Boolean(metadata={"description": "false while its consent recording waits for a moderator"})
    consent = Nested(VoiceConsent, allow_none=True)


class VoiceOut(Schema):
    success = Boolean()
    voice = Nested(Voice)


class VoiceListOut(Schema):
    success = Boolean()
    voices = List(Nested(Voice))


EMOTION = {"description": "an emotion of GET /api/v1/emotions: how the voice says it, or how the face shows it"}


class TtsIn(Schema):
    text = Text(TTS_TEXT_HARD_MAX, required=True, metadata={"description": "1-200 characters by default"})
    mode = String(load_default="zero_shot", validate=OneOf(TTS_MODES))
    voice_id = Id(load_default=None)
    prompt_audio = String(metadata={"description": "base64 (or a multipart file part); instead of voice_id"})
    prompt_audio_format = String(validate=OneOf(AUDIO_FORMATS), load_default=None)
    sample_rate = Integer(validate=OneOf(PCM_RATES), load_default=None)
    prompt_text = Text(500, load_default=None, metadata={"description": "what the recording says"})
    instruct = Text(100, load_default=None,
                    metadata={"description": "e.g. 用四川话说, 悲伤地说; required for mode=instruct"})
    speed = Float(load_default=1.0, validate=Range(0.5, 2.0))
    format = String(load_default="mp3", validate=OneOf(SPEECH_FORMATS))
    emotion = String(load_default=None, validate=OneOf(EMOTION_IDS), metadata=EMOTION)
    voice_consent = Boolean(load_default=False, metadata={
        "description": "must be true with prompt_audio: the user declares that the speaker agreed to their voice "
                       "being cloned; recorded with the task"})


class OpenAIVoiceField(String):
    """OpenAI's `voice`: a string, or a custom voice object `{"id": "..."}`; here a saved voice id."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, dict) and set(value) == {"id"}:
            value = value["id"]
        return super()._deserialize(value, attr, data, **kwargs)


class OpenAISpeechIn(Schema):
    model = String(required=True, validate=Length(min=1, max=ID_MAX),
                   metadata={"description": "any model name (tts-1, gpt-4o-mini-tts, ...): the service picks the "
                                            "engine; recorded with the task"})
    input = Text(TTS_TEXT_HARD_MAX, required=True, metadata={"description": "the text; VOXMOJI_TEXT_MAX_CHARS"})
    voice = OpenAIVoiceField(required=True, validate=Length(min=1, max=ID_MAX),
                             metadata={"description": "a saved voice id of the key's account (v_...), or {id}"})
    instructions = Text(100, load_default=None, metadata={"description": "how to say it (悲伤地说, 用四川话说)"})
    response_format = String(load_default="mp3", validate=OneOf(SPEECH_FORMATS))
    speed = Float(load_default=1.0, validate=Range(0.5, 2.0), metadata={"description": "0.5-2.0 here"})
    stream_format = String(load_default="audio", validate=OneOf(("audio",)),
                           metadata={"description": "`audio` only (the whole file; see POST /api/v1/tts/stream)"})


class SeedTtsIn(Schema):
    text = Text(TTS_TEXT_HARD_MAX, required=True)
    prompt_audio = String(required=True)
    mode = String(load_default="zero_shot", validate=OneOf(TTS_MODES))
    instruct = Text(100, load_default=None)


class SeedTtsOut(Schema):
    success = Boolean()
    audio_url = String(allow_none=True)
    task_id = String()
    duration = Float(allow_none=True)
    status = String()


class WaitQuery(Schema):
    wait = Float(load_default=0, validate=Range(0, 20))


class TaskListQuery(Schema):
    kind = String(load_default=None, validate=OneOf(API_JOB_KINDS))
    limit = Integer(load_default=20, validate=Range(1, 100))
    before = Id(load_default=None)


class TaskOut(Schema):
    success = Boolean()
    task_id = String()
    kind = String()
    status = String()
    progress = Integer()
    engine = String()
    cached = Boolean()
    cost = Integer()
    refunded = Integer()
    created_at = String()
    finished_at = String(allow_none=True)
    text = String(allow_none=True, metadata={"description": "what was to be said (TTS) or the caption (sticker)"})
    result = Dict(allow_none=True)
    error = Dict(allow_none=True)
    audio_url = String()
    duration = Float()
    image_url = String()
    video_url = String(metadata={"description": "a finished talking sticker's MP4"})
    zip_url = String(metadata={"description": "a finished sticker pack's WeChat submission zip"})


class TaskListOut(Schema):
    success = Boolean()
    tasks = List(Nested(TaskOut))
    next = String(allow_none=True)


FACE_CONSENT = {"description": "the user confirms the person in the photo agreed (required with a photo; "
                               "recorded with the job)"}


class StickerIn(Schema):
    image = String(metadata={"description": "base64 (or a multipart file part); or use template_id"})
    template_id = Id(load_default=None)
    text = Text(CAPTION_HARD_MAX, load_default="",
                metadata={"description": "caption and/or description, at most 40 characters"})
    style = String(load_default=None, validate=OneOf(STYLES),
                   metadata={"description": "default: template with template_id, else cutout"})
    expression = String(load_default="auto", validate=OneOf(("auto",) + EXPRESSIONS))
    emotion = String(load_default=None, validate=OneOf(EMOTION_IDS),
                     metadata={"description": "an emotion of GET /api/v1/emotions (its expression and decoration); "
                                              "instead of expression"})
    animated = Boolean(load_default=False)
    animation = String(load_default="bounce", validate=OneOf(ANIMATIONS))
    format = String(load_default=None, validate=OneOf(list(IMAGE_FORMATS)),
                    metadata={"description": "default: png, or gif when animated"})
    face_index = Integer(load_default=None, validate=Range(0, 9))
    face_consent = Boolean(load_default=False, metadata=FACE_CONSENT)


class PackStickerIn(Schema):
    text = Text(CAPTION_HARD_MAX, load_default="", metadata={"description": "the caption, at most 40 characters"})
    emotion = String(load_default=None, validate=OneOf(EMOTION_IDS),
                     metadata={"description": "default: the emotion the caption names, else none"})


class PackIn(Schema):
    image = String(metadata={"description": "the photo (base64); or use template_id"})
    template_id = Id(load_default=None)
    style = String(load_default=None, validate=OneOf(STYLES), metadata={"description": "as POST /api/v1/emoji"})
    name = Text(PACK_NAME_MAX, load_default="我的表情", metadata={"description": "表情名称, at most 8 characters"})
    intro = Text(PACK_INTRO_MAX, load_default="", metadata={"description": "表情介绍, at most 80 characters"})
    stickers = List(Nested(PackStickerIn), required=True, validate=Length(min=8, max=24),
                    metadata={"description": "8, 16 or 24 stickers (the counts WeChat's platform accepts)"})
    animated = Boolean(load_default=True, metadata={"description": "animated GIF main images (else PNG)"})
    face_index = Integer(load_default=None, validate=Range(0, 9))
    face_consent = Boolean(load_default=False, metadata=FACE_CONSENT)


class TalkingIn(Schema):
    TEXT_MAX = 30  # about 10 s of speech, the most a talking sticker keeps
    text = Text(TEXT_MAX, required=True, metadata={"description": "what the face says, at most 30 characters"})
    voice_id = Id(required=True, metadata={"description": "a saved voice (POST /api/v1/voices)"})
    image = String(metadata={"description": "the photo (base64); or use template_id"})
    template_id = Id(load_default=None)
    style = String(load_default="cutout", validate=OneOf(TALKING_STYLES),
                   metadata={"description": "with a photo: cutout or comic"})
    emotion = String(load_default=None, validate=OneOf(EMOTION_IDS), metadata=EMOTION)
    face_index = Integer(load_default=None, validate=Range(0, 9))
    face_consent = Boolean(load_default=False, metadata=FACE_CONSENT)


class SwapIn(Schema):
    source_image = String(required=True, metadata={"description": "the face (base64 or a multipart file part)"})
    target_image = String(metadata={"description": "the photo to put it on; or use template_id"})
    template_id = Id(load_default=None)
    blend = Float(load_default=1.0, validate=Range(0, 1))
    mask_blur = Float(load_default=None, validate=Range(0, 64))
    enhance_output = Boolean(load_default=False)
    format = String(load_default="png", validate=OneOf(SWAP_FORMATS))
    face_index = Integer(load_default=None, validate=Range(0, 9))
    face_consent = Boolean(load_default=False, metadata=FACE_CONSENT)


class TemplateOut(Schema):
    template_id = String()
    name = String()
    tags = List(String())
    styles = List(String())
    preview_url = String(allow_none=True)
    caption_box = List(Float())
    size = List(Integer())
    face_anchors = Dict()
    source = String()


class EmotionVoiceOut(Schema):
    pitch = Float()
    pitch_range = Float()
    rate = Float()
    gain_db = Float()
    instruct = String()


class EmotionOut(Schema):
    emotion = String()
    name = String()
    synonyms = List(String())
    expression = String()
    decoration = String()
    voice = Nested(EmotionVoiceOut)


class EmotionListOut(Schema):
    success = Boolean()
    emotions = List(Nested(EmotionOut))


class Choice(Schema):
    id = String(metadata={"description": "what the API takes"})
    label = String(metadata={"description": "what a client shows (Chinese)"})


class StatusChoice(Choice):
    finished = Boolean(metadata={"description": "the task will not change any more"})


class OptionsOut(Schema):
    success = Boolean()
    styles = List(Nested(Choice), metadata={"description": "sticker styles the fleet serves now (sd only with "
                                                           "the Stable Diffusion engine)"})
    tts_modes = List(Nested(Choice))
    kinds = List(Nested(Choice), metadata={"description": "task kinds, as the API names them"})
    statuses = List(Nested(StatusChoice))
    speech_formats = List(String())
    image_formats = List(String())
    animations = List(String())
    pack_counts = List(Integer())
    pack_default_emotions = List(String(), metadata={"description": "ids of GET /api/v1/emotions"})
    limits = Dict(metadata={"description": "characters: tts_text, caption, talking_text, pack_name, pack_intro, "
                                           "report_reason; seconds: link_seconds (how long a result link works)"})
    costs = Dict(metadata={"description": "tokens: sticker, animated_sticker, sd_sticker, swap; tts_chars_per_token "
                                          "(a TTS task costs ceil(characters / it)); talking_extra (on top of its "
                                          "speech)"})


class TemplateListOut(Schema):
    success = Boolean()
    templates = List(Nested(TemplateOut))


class RechargeItem(Schema):
    user = String(required=True, validate=Length(min=1, max=ID_MAX), metadata={"description": "openid or user id"})
    amount = Integer(required=True, validate=Range(1, BIGINT_MAX))


class RechargeIn(Schema):
    items = List(Nested(RechargeItem), metadata={"description": "or: users + amount"})
    users = List(String(validate=Length(min=1, max=ID_MAX)))
    amount = Integer(validate=Range(1, BIGINT_MAX))
    reason = Text(500, required=True)


class RechargeOut(Schema):
    success = Boolean()
    batch_id = String()
    succeeded = List(Dict())
    failed_users = List(Dict())


class LedgerQuery(Schema):
    limit = Integer(load_default=20, validate=Range(1, 100))
    before = Integer(load_default=None, validate=Range(1, BIGINT_MAX))


class LedgerOut(Schema):
    success = Boolean()
    entries = List(Dict())
    next = Integer(allow_none=True)


class PushQuery(Schema):
    """The query WeChat signs a message push (and the server URL check) with."""
    signature = String(required=True, validate=Length(min=1, max=64))
    timestamp = String(required=True, validate=Length(min=1, max=16))
    nonce = String(required=True, validate=Length(min=1, max=64))
    echostr = String(load_default=None, validate=Length(max=128))
    encrypt_type = String(load_default=None, validate=OneOf(("aes",)), metadata={"description": "safe mode"})
    msg_signature = String(load_default=None, validate=Length(max=64),
                           metadata={"description": "safe mode: the signature over the encrypted body"})


class CheckFetchQuery(Schema):
    expires = Integer(required=True, validate=Range(min=0, max=2**40))
    sig = String(required=True, validate=Length(min=1, max=64))
