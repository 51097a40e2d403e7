"""The embedded voice engine: follows the reference, honours instructions, reports what it ignored."""
import numpy as np
import pytest
from media_samples import median_f0

from backend.engines.espeak_text import number_to_chinese, split_segments, to_pinyin, to_sichuanese_pinyin
from backend.engines.instructions import parse_instruction
from backend.engines.tts_espeak_world import EspeakWorldTTS, analyze_reference, find_warp, warp_envelope

TEXT = "今天天气真好，我们一起去公园散步吧。"


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    return EspeakWorldTTS(profile_dir=tmp_path_factory.mktemp("profiles"))


def test_output_follows_references_an_octave_apart(engine, low_voice, high_voice):
    for reference, target in ((low_voice, 110.0), (high_voice, 220.0)):
        assert abs(median_f0(reference) - target) / target < 0.05  # the references are what we think
        out = engine.synthesize(TEXT, reference, 16000)
        assert out.sample_rate == 16000 and out.audio.dtype == np.float32
        assert abs(median_f0(out.audio) - target) / target < 0.10
        assert 0.05 < np.sqrt(np.mean(out.audio**2)) < 0.3 and np.abs(out.audio).max() <= 0.9


def test_vocal_tract_warp_is_found(low_voice, high_voice):
    low, high = analyze_reference(low_voice), analyze_reference(high_voice)
    assert find_warp(low.mean_log_envelope, high.mean_log_envelope) > 1.08
    assert find_warp(high.mean_log_envelope, low.mean_log_envelope) < 0.93
    assert find_warp(low.mean_log_envelope, low.mean_log_envelope) == 1.0


def test_warp_moves_a_peak_up():
    frame = np.zeros((1, 513))
    frame[0, 100] = 1.0
    assert np.argmax(warp_envelope(frame, 1.2)[0]) == 120


def test_profile_cached_on_disk(engine, high_voice, tmp_path):
    engine.voice_profile(high_voice, "cafe" * 16)
    fresh = EspeakWorldTTS(profile_dir=engine.profile_dir)
    profile = fresh._load_profile("cafe" * 16)
    assert profile is not None and abs(profile.f0_median - 220) / 220 < 0.1


def test_forget_drops_a_recordings_profile_from_memory_and_disk(engine, high_voice, low_voice):
    gone, kept = "dead" * 16, "beef" * 16
    engine.voice_profile(high_voice, gone)
    engine.voice_profile(low_voice, kept)
    engine.forget(gone)
    assert gone not in engine._profiles and engine._load_profile(gone) is None
    assert kept in engine._profiles and engine._load_profile(kept) is not None


def test_instructions_change_prosody(engine, high_voice):
    plain = engine.synthesize(TEXT, high_voice, 16000)
    sad = engine.synthesize(TEXT, high_voice, 16000, mode="instruct", instruct="悲伤地说")
    fast = engine.synthesize(TEXT, high_voice, 16000, mode="instruct", instruct="speak fast")
    loud = engine.synthesize(TEXT, high_voice, 16000, mode="instruct", instruct="大声说")
    assert sad.instruct_applied == ["sad"] and median_f0(sad.audio) < 0.95 * median_f0(plain.audio)
    assert len(sad.audio) > 1.1 * len(plain.audio)
    assert len(fast.audio) < 0.85 * len(plain.audio)
    rms = lambda x: np.sqrt(np.mean(x**2))  # noqa: E731
    assert rms(loud.audio) > 1.3 * rms(plain.audio)
    zero_shot = engine.synthesize(TEXT, high_voice, 16000, mode="zero_shot", instruct="悲伤地说")
    assert zero_shot.instruct_applied == []  # instructions belong to instruct mode


def test_languages(engine, high_voice):
    assert engine.synthesize(TEXT, high_voice, 16000, mode="instruct", instruct="用粤语说").language == "yue"
    assert engine.synthesize(TEXT, high_voice, 16000, mode="instruct", instruct="in English").language == "en"
    assert engine.synthesize("Hello, 世界", high_voice, 16000).language == "en+cmn"
    sichuan = engine.synthesize(TEXT, high_voice, 16000, mode="instruct", instruct="用四川话说")
    assert sichuan.instruct_applied == ["sichuanese"] and sichuan.language == "cmn"


def test_check_inputs(engine, high_voice):
    with pytest.raises(ValueError, match="text"):
        engine.synthesize("   ", high_voice, 16000)
    with pytest.raises(ValueError, match="mode"):
        engine.synthesize("你好", high_voice, 16000, mode="sing")
    with pytest.raises(ValueError, match="speed"):
        engine.synthesize("你好", high_voice, 16000, speed=3.0)
    with pytest.raises(ValueError, match="prompt_sample_rate"):
        engine.synthesize("你好", high_voice, 22050)
    with pytest.raises(ValueError, match="nothing speakable"):
        engine.synthesize("😀😀", high_voice, 16000)


def test_text_front_end():
    assert to_pinyin("你好，世界") == "ni3 hao3, shi4 jie4"
    assert to_pinyin("2026年有100天") == "er4 ling2 er4 liu4 nian2 you3 yi4 bai3 tian1"
    assert [number_to_chinese(n) for n in ("10", "105", "10010")] == ["十", "一百零五", "一万零一十"]
    assert to_sichuanese_pinyin("wo3 shi4 si4 chuan1 ren2") == "wo4 si3 si3 cuan1 zen3"
    assert [(s.language, s.text) for s in split_segments("我爱Python😀！")] == [("cmn", "我爱"), ("en", "Python!")]


@pytest.mark.parametrize("text, styles, ignored", [
    ("用四川话说", ["sichuanese"], []),
    ("悲伤地说", ["sad"], []),
    ("用开心的语气慢慢说", ["happy", "slow"], []),
    ("Say it sadly and slowly", ["sad", "slow"], []),
    ("小声一点，像机器人一样", ["whisper"], ["像机器人一样"]),
    ("in the voice of a pirate", [], ["of pirate"]),
])
def test_instruction_parsing(text, styles, ignored):
    parsed = parse_instruction(text)
    assert sorted(parsed.styles) == sorted(styles)
    assert parsed.ignored == ignored
