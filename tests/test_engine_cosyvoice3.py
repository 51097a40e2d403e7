"""The CosyVoice3 engine's real loading and inference code against the stand-in `cosyvoice` package."""
import sys
from pathlib import Path

import numpy as np
import pytest
from tiny_models import STANDINS, write_cosyvoice_model_dir


@pytest.fixture
def model_dir(tmp_path):
    return write_cosyvoice_model_dir(tmp_path / "Fun-CosyVoice3-0.5B")


@pytest.fixture
def config(model_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "path", list(sys.path))  # the engine adds the checkout to sys.path
    for name in [m for m in sys.modules if m == "cosyvoice" or m.startswith("cosyvoice.")]:
        monkeypatch.delitem(sys.modules, name)
    return {"COSYVOICE_ROOT": str(STANDINS), "COSYVOICE_MODEL_DIR": str(model_dir), "COSYVOICE_FP16": True,
            "COSYVOICE_TRT": False, "COSYVOICE_VLLM": False, "COSYVOICE_TIMEOUT": 5.0,
            "COSYVOICE_SPEAKER_DIR": str(tmp_path / "speakers")}


@pytest.fixture
def engine(config):
    from backend.engines.tts_cosyvoice3 import CosyVoice3TTS

    return CosyVoice3TTS.from_config(config)


@pytest.fixture
def calls():
    def get():
        from cosyvoice.cli.cosyvoice import CALLS

        return CALLS

    yield get
    get().clear()


@pytest.fixture(scope="module")
def prompt():
    t = np.arange(16000 * 3) / 16000
    return (0.3 * np.sin(2 * np.pi * 150 * t)).astype(np.float32)


def test_prompt_building():
    from backend.engines.tts_cosyvoice3 import instruct_prompt, zero_shot_prompt

    assert zero_shot_prompt("希望你以后能够做的比我还好呦。") == \
        "You are a helpful assistant.<|endofprompt|>希望你以后能够做的比我还好呦。"
    assert instruct_prompt(["sichuanese"]) == "You are a helpful assistant. 请用四川话表达。<|endofprompt|>"
    assert instruct_prompt(["sad", "slow"]) == \
        "You are a helpful assistant. 请非常伤心地说一句话。请用尽可能慢地语速说一句话。<|endofprompt|>"


def test_zero_shot_registers_the_speaker_once(engine, prompt, calls):
    out = engine.synthesize("今天天气真好。我们去散步吧。", prompt, 16000, prompt_text="这是我的声音", prompt_key="voice-a")
    assert out.sample_rate == 24000 and out.audio.dtype == np.float32
    assert len(out.audio) > 24000  # two sentences, concatenated
    again = engine.synthesize("再说一句。", prompt, 16000, prompt_text="这是我的声音", prompt_key="voice-a")
    assert len(again.audio) > 0
    names = [name for name, _ in calls()]
    assert names == ["add_zero_shot_spk", "inference_zero_shot", "inference_zero_shot"]
    first = calls()[1][1]
    assert first["prompt_text"] == "You are a helpful assistant.<|endofprompt|>这是我的声音"
    assert first["zero_shot_spk_id"] == calls()[2][1]["zero_shot_spk_id"] != ""


def test_speakers_are_shared_between_workers(config, prompt, calls):
    from backend.engines.tts_cosyvoice3 import CosyVoice3TTS

    first, second = CosyVoice3TTS.from_config(config), CosyVoice3TTS.from_config(config)
    first.synthesize("第一个进程。", prompt, 16000, prompt_text="我的声音", prompt_key="voice-b")
    second.synthesize("第二个进程。", prompt, 16000, prompt_text="我的声音", prompt_key="voice-b")
    assert [name for name, _ in calls()].count("add_zero_shot_spk") == 1
    assert len(list(Path(config["COSYVOICE_SPEAKER_DIR"]).glob("*.pt"))) == 1


def test_without_transcript_falls_back_to_cross_lingual(engine, prompt, calls):
    out = engine.synthesize("没有文本的参考音频。", prompt, 16000, prompt_text=None)
    assert calls()[-1][0] == "inference_cross_lingual"
    assert calls()[-1][1]["tts_text"] == "You are a helpful assistant.<|endofprompt|>没有文本的参考音频。"
    assert "cross-lingual" in out.notes[0]


def test_cross_lingual_and_instruct_modes(engine, prompt, calls):
    engine.synthesize("Hello there.", prompt, 16000, mode="cross_lingual", prompt_text="有文本也走跨语种")
    assert calls()[-1][0] == "inference_cross_lingual"
    out = engine.synthesize("慢慢说。", prompt, 16000, mode="instruct", instruct="用四川话、悲伤地说，像机器人", speed=1.2)
    name, args = calls()[-1]
    assert name == "inference_instruct2" and args["speed"] == 1.2
    assert args["instruct_text"] == "You are a helpful assistant. 请用四川话表达。请非常伤心地说一句话。<|endofprompt|>"
    assert sorted(out.instruct_applied) == ["sad", "sichuanese"] and out.instruct_ignored == ["像机器人"]


def test_speed_changes_length(engine, prompt):
    normal = engine.synthesize("一样的句子。", prompt, 16000, mode="cross_lingual")
    fast = engine.synthesize("一样的句子。", prompt, 16000, mode="cross_lingual", speed=2.0)
    assert len(fast.audio) < 0.7 * len(normal.audio)


def test_timeout_inside_the_engine(engine, prompt):
    from backend.engines.tts_cosyvoice3 import EngineTimeout

    engine.timeout = 0.3
    engine.model.delay_per_chunk = 1.0
    with pytest.raises(EngineTimeout):
        engine.synthesize("太慢了。", prompt, 16000, mode="cross_lingual")


def test_progress_is_reported_from_the_calling_thread(engine, prompt):
    """A job's progress callback writes to the database through the job's app context: it must run in the
    thread that called synthesize, never in the thread that drains the model (a GPU job used to fail so)."""
    import threading

    engine.model.delay_per_chunk = 0.6
    threads = []
    engine.synthesize("第一句。第二句。第三句。", prompt, 16000, mode="cross_lingual",
                      progress=lambda fraction: threads.append((threading.get_ident(), fraction)))
    assert threads and {ident for ident, _ in threads} == {threading.get_ident()}
    assert [fraction for _, fraction in threads] == sorted(fraction for _, fraction in threads)


def test_out_of_memory_and_model_errors(engine, prompt):
    import torch

    engine.model.fail_with = torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
    with pytest.raises(RuntimeError, match="GPU ran out of memory"):
        engine.synthesize("内存不够。", prompt, 16000, mode="cross_lingual")
    engine.model.fail_with = None
    assert len(engine.synthesize("恢复了。", prompt, 16000, mode="cross_lingual").audio) > 0  # still serving


def test_check_inputs(engine, prompt):
    with pytest.raises(ValueError, match="mode"):
        engine.synthesize("你好", prompt, 16000, mode="sing")
    with pytest.raises(ValueError, match="at most 30 s"):
        engine.synthesize("你好", np.zeros(16000 * 31, np.float32), 16000)


def test_incomplete_model_dir_is_refused(config, model_dir):
    from backend.engines.tts_cosyvoice3 import CosyVoice3TTS

    (model_dir / "llm.pt").unlink()
    with pytest.raises(RuntimeError, match="lacks llm.pt"):
        CosyVoice3TTS.from_config(config)


def test_registry_reasons(config):
    from backend.engine_choice import served

    chosen, unavailable = served.resolve({**config, "WORKER_ENGINES": "tts:auto"})
    assert chosen == {"tts": "espeak-world"}
    reason = unavailable["tts"]["cosyvoice3"]
    assert "NVIDIA" in reason or "CUDA" in reason  # weights and package are there: only the GPU is missing
    with pytest.raises(ValueError, match="tts:cosyvoice3 cannot run here"):
        served.resolve({**config, "WORKER_ENGINES": "tts:cosyvoice3"})
    with pytest.raises(ValueError, match="not an engine family"):
        served.wanted({"WORKER_ENGINES": "voice:auto"})
    with pytest.raises(ValueError, match="not a tts engine"):
        served.wanted({"WORKER_ENGINES": "tts:bark"})


def test_a_configured_engine_that_cannot_run_stops_the_worker(tmp_path):
    import os
    import subprocess

    from stack_process import REPO

    env = {**os.environ, "VOXMOJI_VAR_DIR": str(tmp_path), "VOXMOJI_WORKER_ENGINES": "tts:cosyvoice3",
           "COSYVOICE_MODEL_DIR": str(tmp_path / "nothing")}
    done = subprocess.run([sys.executable, "-c", "import backend.worker"], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode != 0
    assert "VOXMOJI_WORKER_ENGINES=tts:cosyvoice3 cannot run here" in done.stderr and "lacks cosyvoice3.yaml" in done.stderr


def test_forget_drops_the_speakers_of_a_recording(config, prompt, calls):
    """A deleted voice: its registered speakers leave this process's model and the shared directory; other
    recordings' speakers stay."""
    from backend.engines.tts_cosyvoice3 import CosyVoice3TTS

    engine = CosyVoice3TTS.from_config(config)
    gone, kept = "a" * 64, "b" * 64
    for key, transcript in ((gone, "第一段"), (gone, "第二段"), (kept, "第三段")):
        engine.synthesize("说一句。", prompt, 16000, prompt_text=transcript, prompt_key=key)
    speakers = Path(config["COSYVOICE_SPEAKER_DIR"])
    assert len(list(speakers.glob("*.pt"))) == 3
    engine.forget(gone)
    assert len(list(speakers.glob("*.pt"))) == 1
    assert not any(name.startswith(f"vm_{'a' * 24}_") for name in engine.model.frontend.spk2info)
    assert any(name.startswith(f"vm_{'b' * 24}_") for name in engine.model.frontend.spk2info)
    engine.synthesize("再说一句。", prompt, 16000, prompt_text="第一段", prompt_key=gone)
    assert [name for name, _ in calls()].count("add_zero_shot_spk") == 4  # registered afresh, not from a cache


def test_streaming_hands_out_chunks_as_the_model_makes_them(engine, prompt, calls, monkeypatch):
    import time

    engine.model.delay_per_chunk = 0.2  # the model takes time per chunk, as a GPU does
    arrivals = []
    out = engine.synthesize("今天天气真好。我们去散步吧。", prompt, 16000, prompt_text="这是我的声音", prompt_key="voice-s",
                            on_audio=lambda samples, rate: arrivals.append((time.monotonic(), samples.copy(), rate)))
    assert calls()[-1][1]["stream"] is True  # CosyVoice3's own streaming
    assert len(arrivals) == 4  # two sentences, two chunks each
    assert all(rate == 24000 for _, _, rate in arrivals)
    np.testing.assert_array_equal(np.concatenate([samples for _, samples, _ in arrivals]), out.audio)
    assert arrivals[-1][0] - arrivals[0][0] > 0.4  # handed out while the rest was still being made
    plain = engine.synthesize("再说一句。", prompt, 16000, prompt_text="这是我的声音", prompt_key="voice-s")
    assert calls()[-1][1]["stream"] is False and len(plain.audio) > 0


def test_an_emotion_is_said_through_the_instruct_model(engine, prompt, calls):
    out = engine.synthesize("好委屈啊。", prompt, 16000, prompt_text="这是我的声音", emotion="wronged")
    name, kwargs = calls()[-1]
    assert name == "inference_instruct2" and "委屈" in kwargs["instruct_text"]
    assert out.instruct_applied == ["wronged"]
