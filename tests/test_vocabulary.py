"""The sticker vocabulary is defined once (backend/vocabulary.py): the API accepts exactly it, and the
engines and post-processing serve every word of it."""
import numpy as np
import pytest
from PIL import Image

from backend import vocabulary
from backend.engines import sticker_post
from backend.schemas import StickerIn, SwapIn, TaskListQuery, TtsIn, VoiceIn


def choices(schema, name):
    return tuple(schema().fields[name].validate.choices)


def test_the_api_accepts_exactly_the_vocabulary():
    assert choices(StickerIn, "style") == vocabulary.STYLES
    assert choices(StickerIn, "expression") == ("auto",) + vocabulary.EXPRESSIONS
    assert choices(StickerIn, "animation") == vocabulary.ANIMATIONS
    assert choices(StickerIn, "format") == tuple(vocabulary.IMAGE_FORMATS)
    assert choices(SwapIn, "format") == vocabulary.SWAP_FORMATS
    assert set(vocabulary.PHOTO_STYLES) <= set(vocabulary.STYLES)
    assert set(vocabulary.ANIMATED_FORMATS) <= set(vocabulary.IMAGE_FORMATS)
    assert choices(VoiceIn, "audio_format") == vocabulary.AUDIO_FORMATS
    assert choices(TtsIn, "mode") == vocabulary.TTS_MODES and choices(TtsIn, "format") == vocabulary.SPEECH_FORMATS
    assert choices(TaskListQuery, "kind") == ("tts", "emoji", "swap", "pack", "talking")  # the API's job kinds
    assert {vocabulary.KIND_BY_API_KIND.get(kind, kind) for kind in vocabulary.API_JOB_KINDS} == set(
        vocabulary.JOB_KINDS)


def test_every_job_kind_has_an_engine_family_and_a_renderer():
    from backend.celery_tasks import RENDERERS
    from backend.engine_choice.lineup import FAMILY_BY_KIND

    assert set(FAMILY_BY_KIND) == set(vocabulary.JOB_KINDS) == set(RENDERERS)


def test_the_decoder_knows_every_audio_format():
    from backend.services.media import audio

    assert tuple(audio.DEMUXERS) == vocabulary.AUDIO_FORMATS


@pytest.mark.parametrize("animation", vocabulary.ANIMATIONS)
@pytest.mark.parametrize("fmt", vocabulary.ANIMATED_FORMATS)
def test_every_animation_in_every_animated_format(animation, fmt):
    frame = Image.fromarray(np.full((240, 240, 4), (200, 80, 80, 255), np.uint8), "RGBA")
    encoded = sticker_post.encode_animated(sticker_post.animate(frame, animation), fmt, 500 * 1024)
    assert encoded.mime == vocabulary.IMAGE_FORMATS[fmt] and encoded.frames > 1


def test_the_embedded_engine_checks_against_the_vocabulary():
    from backend import builtin_templates
    from backend.engines.sticker_classic import ClassicStickerEngine

    engine = ClassicStickerEngine.__new__(ClassicStickerEngine)  # check_inputs needs no model
    photo = np.zeros((64, 64, 3), np.uint8)
    for style in vocabulary.CLASSIC_STYLES:
        for expression in vocabulary.EXPRESSIONS:
            template = builtin_templates.get("wanted") if style == "template" else None
            engine.check_inputs(style, expression, photo, template)
    with pytest.raises(ValueError, match="style must be one of"):
        engine.check_inputs("sd", "none", photo, None)
    with pytest.raises(ValueError, match="expression must be one of"):
        engine.check_inputs("cutout", "auto", photo, None)


def test_every_kind_and_status_has_a_label():
    assert set(vocabulary.LEDGER_KIND_LABELS) == set(vocabulary.LEDGER_KINDS)
    assert set(vocabulary.KIND_LABELS) == set(vocabulary.API_JOB_KINDS)
