"""mellotron-zh, the opt-in neural Mandarin CPU voice: its weights read from the ttskit wheel by an
allow-listing unpickler and converted to safetensors, our own networks loading them strictly, the voice bank and
its sanity checks, the fallbacks to espeak-world (Latin text, other languages, a decoder that runs away), and the
engine serving TTS through a running stack."""
import json
import os
import pickle
import time

import numpy as np
import pytest
import torch
from api_client import Api
from media_samples import median_f0, reference_voice
from stack_process import Stack

from backend.engines import mellotron_weights
from backend.engines.speaker_encoder import similarity
from backend.engines.tts_mellotron_zh import SAMPLE_RATE, MellotronZhTTS

SENTENCE = "今天天气真好，我们一起去公园散步吧。"


@pytest.fixture(scope="module")
def engine(mellotron_dir):
    return MellotronZhTTS(mellotron_dir)


@pytest.fixture(scope="module")
def female():
    return reference_voice(240.0, formant_shift=1.12)


def test_the_weights_file_may_name_only_layers_and_tensors(tmp_path):
    forged = tmp_path / "forged.pt"
    torch.save({"weight": torch.zeros(2), "hook": os.system}, forged)
    with pytest.raises(pickle.UnpicklingError, match="refusing posix.system"):
        mellotron_weights.read_module(forged)


def test_converted_files_are_plain_tensors_loaded_strictly(mellotron_dir, engine):
    for name in ("mellotron.safetensors", "melgan.safetensors"):
        assert (mellotron_dir / name).read_bytes()[8:9] == b"{"  # a safetensors header, not a pickle
    from safetensors.torch import load_file

    assert sum(t.numel() for t in load_file(str(mellotron_dir / "mellotron.safetensors")).values()) > 7_000_000
    text = json.loads((mellotron_dir / "text.json").read_text())
    assert len(text["symbols"]) == 145 == engine.model.embedding.num_embeddings


def test_the_bank_keeps_only_voices_that_pass_the_sanity_checks(mellotron_dir):
    voices = json.loads((mellotron_dir / "bank.json").read_text())["voices"]
    assert len(voices) == 24
    kept = [v for v in voices if v["ok"]]
    assert len(kept) >= 20
    for voice in kept:
        assert 0.12 <= voice["seconds_per_syllable"] <= 0.4 and voice["voiced"] >= 0.4
    for voice in voices:
        if not voice["ok"]:
            assert voice["why"]  # docs/mellotron-zh.md lists them with this reason


def test_pinyin_is_spelled_as_the_model_was_trained(engine):
    ids = engine.symbols("你好。")
    inverse = {i: s for s, i in engine.symbol_ids.items()}
    assert " ".join(inverse[i] for i in ids) == "n i 3 - h ao 3 - . - ~ _"
    assert " ".join(inverse[i] for i in engine.symbols("一起")) == "ii i 4 - q i 3 - ~ _"  # tone sandhi of 一


def test_mandarin_is_spoken_by_the_neural_voice(engine, female):
    out = engine.synthesize(SENTENCE, female, 16000, prompt_key="female")
    seconds = len(out.audio) / out.sample_rate
    assert out.sample_rate == SAMPLE_RATE and out.language == "cmn"
    assert 17 * 0.12 < seconds < 17 * 0.4  # about natural speaking time for 17 syllables
    assert "Neural Mandarin voice" in out.notes[0]
    assert 150 < median_f0(out.audio, SAMPLE_RATE) < 400  # a female voice for a female reference


def test_a_low_reference_gets_a_low_voice(engine):
    low = reference_voice(105.0, formant_shift=0.86)
    _vector, blend = engine.voice_for(low, 16000, "low")
    bank = {v["name"]: v for v in json.loads((engine_dir(engine) / "bank.json").read_text())["voices"]}
    assert bank[blend[0][0]]["median_f0"] < 180, blend
    out = engine.synthesize("你好，很高兴认识你。", low, 16000, prompt_key="low")
    assert median_f0(out.audio, SAMPLE_RATE) < 180


def engine_dir(engine):
    return engine._model_dir


def test_latin_text_and_other_languages_go_to_espeak_world(engine, female):
    english = engine.synthesize("Hello world", female, 16000, prompt_key="female")
    assert english.sample_rate == 16000 and "Spoken by espeak-world" in english.notes[0]
    assert "Latin letters" in english.notes[0]
    cantonese = engine.synthesize("你好", female, 16000, mode="instruct", instruct="用粤语说", prompt_key="female")
    assert "cantonese" in cantonese.notes[0] and cantonese.language == "yue"


def test_a_runaway_decoder_falls_back_cleanly(mellotron_dir, female):
    starved = MellotronZhTTS(mellotron_dir, max_frames_per_syllable=1)  # 40 frames for 17 syllables: never stops
    out = starved.synthesize(SENTENCE, female, 16000, prompt_key="female")
    assert "ran away" in out.notes[0] and out.sample_rate == 16000 and len(out.audio) > 16000


def test_speed_and_loudness_instructions_shape_the_neural_output(engine, female):
    plain = engine.synthesize(SENTENCE, female, 16000, prompt_key="female")
    fast = engine.synthesize(SENTENCE, female, 16000, mode="instruct", instruct="说快一点", prompt_key="female")
    soft = engine.synthesize(SENTENCE, female, 16000, mode="instruct", instruct="小声说", prompt_key="female")
    assert len(fast.audio) < 0.85 * len(plain.audio) and fast.instruct_applied == ["fast"]
    assert np.sqrt(np.mean(soft.audio ** 2)) < 0.6 * np.sqrt(np.mean(plain.audio ** 2))
    assert similarity(plain.audio, SAMPLE_RATE, fast.audio, SAMPLE_RATE) > 0.7  # the same voice
    sad = engine.synthesize(SENTENCE, female, 16000, mode="instruct", instruct="悲伤地说", prompt_key="female")
    assert sad.instruct_applied == ["sad"] and len(sad.audio) > 1.1 * len(plain.audio)  # slower
    assert median_f0(sad.audio, SAMPLE_RATE) < 0.95 * median_f0(plain.audio, SAMPLE_RATE)  # and lower


@pytest.fixture(scope="module")
def mellotron_stack(tmp_path_factory, mellotron_dir):
    with Stack(tmp_path_factory.mktemp("mellotron-stack"), services=("redis", "web", "worker", "nginx"),
               VOXMOJI_WORKER_ENGINES="tts:mellotron-zh,sticker:classic", MELLOTRON_MODEL_DIR=str(mellotron_dir),
               VOXMOJI_SIGNUP_GRANT="100") as stack:
        yield stack


def test_through_the_stack_mandarin_by_mellotron_english_by_espeak(mellotron_stack, high_voice_b64):
    api = Api(mellotron_stack.base_url, f"mellotron-{time.monotonic_ns()}")
    ready = requests_json(mellotron_stack.base_url + "/readyz")
    assert ready["ready"]
    zh = api.wait_task(api.post("/api/v1/tts", json={"text": SENTENCE, "voice_consent": True, "prompt_audio": high_voice_b64}).json()["task_id"],
                       timeout=120)
    assert zh["status"] == "succeeded" and zh["engine"] == "mellotron-zh", zh
    assert "Neural Mandarin voice" in zh["result"]["notes"][0] and 0 <= zh["result"]["similarity"] <= 1
    en = api.wait_task(api.post("/api/v1/tts", json={"text": "Good morning", "voice_consent": True, "prompt_audio": high_voice_b64})
                       .json()["task_id"], timeout=120)
    assert en["status"] == "succeeded" and "Spoken by espeak-world" in en["result"]["notes"][0]


def requests_json(url):
    import requests

    return requests.get(url, timeout=10).json()


def test_through_the_stack_a_forced_runaway_falls_back_cleanly(tmp_path_factory, mellotron_dir, high_voice_b64):
    """A worker whose decoder budget is one frame a syllable: every Mandarin sentence runs away; the task still
    succeeds, spoken by espeak-world, with the reason, and is charged once."""
    with Stack(tmp_path_factory.mktemp("mellotron-starved"), services=("redis", "web", "worker", "nginx"),
               VOXMOJI_WORKER_ENGINES="tts:mellotron-zh,sticker:classic", MELLOTRON_MODEL_DIR=str(mellotron_dir),
               MELLOTRON_MAX_FRAMES_PER_SYLLABLE="1") as stack:
        api = Api(stack.base_url, f"starved-{time.monotonic_ns()}")
        task = api.wait_task(api.post("/api/v1/tts", json={"text": SENTENCE, "voice_consent": True, "prompt_audio": high_voice_b64})
                             .json()["task_id"], timeout=120)
        assert task["status"] == "succeeded" and task["engine"] == "mellotron-zh", task
        assert "ran away" in task["result"]["notes"][0] and task["duration"] > 1.0
        kinds = [row["kind"] for row in stack.query("SELECT kind FROM ledger_entries WHERE job_id = :j ORDER BY id",
                                                   j=task["task_id"])]
        assert kinds == ["hold", "capture"]
