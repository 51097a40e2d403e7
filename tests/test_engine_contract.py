"""One engine contract per family: every sticker engine answers `generate`, `swap` and `check_inputs` with the
same parameters, every TTS engine `synthesize`, `check_inputs` and `forget`; all are built by `from_config`
and return dataclasses. The renders call any engine of a family the same way."""
import dataclasses
import importlib
import inspect

import pytest

from backend.engine_choice import lineup, served

CALLS = {"sticker": ("generate", "swap", "check_inputs"), "tts": ("synthesize", "check_inputs", "forget"),
         "asr": ("transcribe",)}


def engine_class(family, name):
    module, _, cls = served.SPECS[family][name].target.partition(":")
    return getattr(importlib.import_module(module), cls)


def parameters(function):
    return [(p.name, p.kind) for p in inspect.signature(function).parameters.values()]


@pytest.mark.parametrize("family", lineup.FAMILIES)
def test_every_engine_of_a_family_has_the_same_calls(family):
    classes = {engine.name: engine_class(family, engine.name) for engine in lineup.ENGINES[family]}
    assert set(classes) == set(served.SPECS[family])  # the lineup and the served engines name the same engines
    for call in CALLS[family]:
        shapes = {name: parameters(getattr(cls, call)) for name, cls in classes.items()}
        assert len({tuple(shape) for shape in shapes.values()}) == 1, (call, shapes)
    for cls in classes.values():
        assert isinstance(inspect.getattr_static(cls, "from_config"), classmethod)


def test_outputs_are_dataclasses():
    from backend.engines.sticker_output import StickerOutput
    from backend.engines.tts_output import SpeechOutput

    assert dataclasses.is_dataclass(StickerOutput) and dataclasses.is_dataclass(SpeechOutput)
