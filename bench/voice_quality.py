"""How much of the user's voice each TTS engine carries, and how fast, on one core.

No human recordings can be downloaded here, so the bench makes its speakers two ways, and scores each set apart:

- "espeak speakers": espeak-ng speech re-pitched and formant-shifted by WORLD, five voices from low/dark to
  high/bright. They are made from the very source espeak-world speaks with, so they flatter espeak-world.
- "held-out speakers": five of mellotron-zh's own voices (two male, three female, F0 120-310 Hz), each a
  recorded person the model was trained on. For each, mellotron-zh runs with that voice taken out of its bank,
  so it has never heard the speaker it is asked to match: the leave-one-out test of how it does for a new user.
  This set needs models/mellotron-zh (`make mellotron`); without it only the first set runs.

Each engine gets one reference recording per speaker, says 12 Mandarin sentences, and every result is scored
with the speaker encoder of result.similarity against a held-out recording of the same speaker (other words
than the reference). Prints per engine and set: mean, min and max similarity, the real-time factor (compute
seconds per second of audio) on one core, and runaways (results longer than 3x the text's expected length).
Engines that cannot run here are listed with the reason. Targets for a neural CPU engine (issue 13): mean
similarity >= 0.80, RTF <= 0.30, no runaways.
"""
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent.parent), str(Path(__file__).resolve().parent.parent / "tests")]

from media_samples import reference_voice  # noqa: E402

from backend.engine_choice import served  # noqa: E402
from backend.engines.speaker_encoder import SpeakerEncoder  # noqa: E402

SPEAKERS = {"low-dark": (105.0, 0.86), "low": (130.0, 0.94), "mid": (170.0, 1.0), "high": (220.0, 1.1),
            "high-bright": (260.0, 1.18)}
HELD_OUT_VOICES = ("Aicheng", "Xiaoyun", "Xiaoxue", "Aina", "Xiaobei")
REFERENCE_SENTENCE = "我们今天去公园玩，然后回家吃饭了。"
HELD_OUT_SENTENCE = "明天早上八点，我要去图书馆看书。"
REFERENCE_TEXT = "wo3 men5 jin1 tian1 qu4 gong1 yuan2 wan2, ran2 hou4 hui2 jia1 chi1 fan4 le5."
HELD_OUT_TEXT = "ming2 tian1 zao3 shang4 ba1 dian3, wo3 yao4 qu4 tu2 shu1 guan3 kan4 shu1."
SENTENCES = [
    "今天天气真好，我们一起去公园散步吧。", "这家店的奶茶特别好喝，下次再来。", "明天早上八点，我们在学校门口见面。",
    "谢谢你送我的生日礼物，我非常喜欢。", "周末想去看一场电影，你有空吗？", "这道题有点难，我们再想一想。",
    "外面下雨了，出门记得带伞。", "我刚刚做完作业，现在可以休息一下。", "妈妈做的红烧肉是世界上最好吃的。",
    "火车马上就要开了，请大家抓紧时间上车。", "你好，很高兴认识你。", "祝你新年快乐，万事如意！",
]


def main():
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core
    encoder = SpeakerEncoder.shared()
    from backend.config import load_config

    config = load_config()
    sets = {"espeak speakers": espeak_speakers(encoder)}
    try:
        sets["held-out speakers"] = held_out_speakers(served.load("tts", "mellotron-zh", config), encoder)
    except Exception as error:  # noqa: BLE001 - without the model the first set still runs
        print(f"held-out speakers not made here: {str(error).splitlines()[0][:160]}")
    print(f"{len(SENTENCES)} Mandarin sentences per speaker, one core, similarity against a held-out recording "
          "of each speaker")
    for name in served.SPECS["tts"]:
        try:
            with tempfile.TemporaryDirectory() as scratch:
                os.environ.setdefault("VOXMOJI_VAR_DIR", scratch)
                engine = served.load("tts", name, config)
                for set_name, speakers in sets.items():
                    run(name, set_name, engine, speakers)
        except Exception as error:  # noqa: BLE001 - an engine this machine cannot run is reported, not fatal
            print(f"{name:<14} not run here: {str(error).splitlines()[0][:160]}")


def espeak_speakers(encoder):
    """{speaker: (reference audio, its rate, held-out embedding, engine view)}."""
    speakers = {}
    for name, (f0, shift) in SPEAKERS.items():
        held_out = encoder.embed(reference_voice(f0, HELD_OUT_TEXT, shift), 16000)
        speakers[name] = (reference_voice(f0, REFERENCE_TEXT, shift), 16000, held_out, lambda engine: engine)
    return speakers


def held_out_speakers(mellotron, encoder):
    """Five of mellotron-zh's voices; mellotron-zh is asked to match each without it in its bank."""
    from scipy.signal import resample_poly

    from backend.engines.tts_mellotron_zh import SAMPLE_RATE, MellotronZhTTS

    speakers = {}
    for voice in HELD_OUT_VOICES:
        held_out = encoder.embed(mellotron.speak_as(voice, HELD_OUT_SENTENCE), SAMPLE_RATE)
        reference = resample_poly(mellotron.speak_as(voice, REFERENCE_SENTENCE), 320, 441).astype("float32")
        speakers[voice] = (reference, 16000, held_out,
                           lambda engine, voice=voice: engine.without_voices([voice])
                           if isinstance(engine, MellotronZhTTS) else engine)
    return speakers


def run(name, set_name, engine, speakers):
    encoder = SpeakerEncoder.shared()
    scores, compute, audio_seconds, runaways = [], 0.0, 0.0, 0
    for speaker, (reference, rate, held_out, view) in speakers.items():
        speaker_engine = view(engine)
        key = f"bench-{set_name}-{speaker}"
        speaker_engine.synthesize(SENTENCES[0], reference, rate, prompt_key=key)  # analyse the reference once
        for text in SENTENCES:
            started = time.perf_counter()
            speech = speaker_engine.synthesize(text, reference, rate, prompt_key=key)
            compute += time.perf_counter() - started
            seconds = len(speech.audio) / speech.sample_rate
            audio_seconds += seconds
            runaways += seconds > 3 * 0.3 * len(text)  # ~0.3 s a syllable is natural speech
            scores.append(float(encoder.embed(speech.audio, speech.sample_rate) @ held_out))
    print(f"{name:<14} {set_name:<18} similarity mean {statistics.mean(scores):.3f} (min {min(scores):.3f}, "
          f"max {max(scores):.3f}) · RTF {compute / audio_seconds:.3f} · runaways {runaways}/{len(scores)}")


if __name__ == "__main__":
    main()
