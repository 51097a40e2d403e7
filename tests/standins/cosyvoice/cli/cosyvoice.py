"""Stand-in for cosyvoice.cli.cosyvoice (CosyVoice3 part): same classes, methods and signatures."""
import os
import time

import numpy as np
import soundfile
import torch

CALLS = []  # (method, kwargs) of every call, for the tests


class _FrontEnd:
    def __init__(self, spk2info_path):
        self.spk2info = torch.load(spk2info_path, weights_only=False) if os.path.exists(spk2info_path) else {}


def _load_prompt(prompt_wav):
    samples, rate = soundfile.read(prompt_wav, dtype="float32")
    assert rate == 16000, f"the frontend expects 16 kHz prompts, got {rate}"
    return samples


class CosyVoice3:
    """Loads like the real class (cosyvoice3.yaml in model_dir), speaks in tones at 24 kHz."""

    def __init__(self, model_dir, load_trt=False, load_vllm=False, fp16=False, trt_concurrent=1):
        if not os.path.exists(f"{model_dir}/cosyvoice3.yaml"):
            raise ValueError(f"{model_dir}/cosyvoice3.yaml not found!")
        self.model_dir = model_dir
        self.fp16 = fp16
        self.sample_rate = 24000
        self.frontend = _FrontEnd(f"{model_dir}/spk2info.pt")
        self.delay_per_chunk = float(os.environ.get("COSYVOICE_STANDIN_DELAY", "0"))  # tests make it slow
        self.fail_with = None  # tests make it fail

    def add_zero_shot_spk(self, prompt_text, prompt_wav, zero_shot_spk_id):
        assert zero_shot_spk_id != "", "do not use empty zero_shot_spk_id"
        assert "<|endofprompt|>" in prompt_text, "CosyVoice3 prompt text needs <|endofprompt|>"
        CALLS.append(("add_zero_shot_spk", {"prompt_text": prompt_text, "zero_shot_spk_id": zero_shot_spk_id}))
        samples = _load_prompt(prompt_wav)
        self.frontend.spk2info[zero_shot_spk_id] = {
            "prompt_text": prompt_text, "embedding": torch.tensor([float(np.abs(samples).mean())])}
        return True

    def save_spkinfo(self):
        torch.save(self.frontend.spk2info, f"{self.model_dir}/spk2info.pt")

    def _speak(self, text, pitch, speed, stream=False):
        """A tone per sentence, like the real model's one chunk per text-frontend sentence; with stream=True
        each sentence comes in two chunks (the real model yields about every 25 speech tokens)."""
        if self.fail_with is not None:
            raise self.fail_with
        for sentence in [s for s in text.replace("。", "。|").split("|") if s.strip()]:
            seconds = max(0.2, 0.18 * len(sentence) / speed)
            t = torch.arange(int(seconds * self.sample_rate)) / self.sample_rate
            tone = 0.3 * torch.sin(2 * torch.pi * pitch * t)
            for part in (tone.chunk(2) if stream else (tone,)):
                time.sleep(self.delay_per_chunk)
                yield {"tts_speech": part.unsqueeze(0)}

    def inference_zero_shot(self, tts_text, prompt_text, prompt_wav, zero_shot_spk_id="", stream=False, speed=1.0,
                            text_frontend=True, language="Auto", **generation_kwargs):
        CALLS.append(("inference_zero_shot", {"tts_text": tts_text, "prompt_text": prompt_text,
                                              "zero_shot_spk_id": zero_shot_spk_id, "speed": speed, "stream": stream}))
        if zero_shot_spk_id:
            assert zero_shot_spk_id in self.frontend.spk2info, f"unknown zero_shot_spk_id {zero_shot_spk_id}"
        else:
            assert "<|endofprompt|>" in prompt_text, "CosyVoice3 prompt text needs <|endofprompt|>"
            _load_prompt(prompt_wav)
        return self._speak(tts_text, 200.0, speed, stream)

    def inference_cross_lingual(self, tts_text, prompt_wav, zero_shot_spk_id="", stream=False, speed=1.0,
                                text_frontend=True, language="Auto", **generation_kwargs):
        CALLS.append(("inference_cross_lingual", {"tts_text": tts_text, "speed": speed, "stream": stream}))
        assert "<|endofprompt|>" in tts_text, "CosyVoice3 cross-lingual text needs <|endofprompt|>"
        _load_prompt(prompt_wav)
        return self._speak(tts_text.split("<|endofprompt|>", 1)[1], 180.0, speed, stream)

    def inference_instruct2(self, tts_text, instruct_text, prompt_wav, zero_shot_spk_id="", stream=False, speed=1.0,
                            text_frontend=True, language="Auto", **generation_kwargs):
        CALLS.append(("inference_instruct2", {"tts_text": tts_text, "instruct_text": instruct_text, "speed": speed,
                                               "stream": stream}))
        assert "<|endofprompt|>" in instruct_text, "CosyVoice3 instruct text needs <|endofprompt|>"
        _load_prompt(prompt_wav)
        return self._speak(tts_text, 160.0, speed, stream)


def AutoModel(**kwargs):  # noqa: N802 - the real one is a function with this name
    if os.path.exists(f"{kwargs['model_dir']}/cosyvoice3.yaml"):
        return CosyVoice3(**kwargs)
    raise TypeError("No valid model type found!")
