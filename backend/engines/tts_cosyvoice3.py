"""`cosyvoice3`: real voice cloning with CosyVoice3 (Fun-CosyVoice3-0.5B) on a GPU worker.

The operator installs a CosyVoice checkout (COSYVOICE_ROOT) and the model directory
(COSYVOICE_MODEL_DIR); see models/README.md. Nothing is downloaded. torch and the
`cosyvoice` package are imported only when the engine is built.
"""
import hashlib
import os
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path

import numpy as np
import soundfile

from backend import emotions
from backend.engines.instructions import parse_instruction
from backend.engines.tts_output import SpeechOutput, check_speech_inputs

PROMPT_RATE = 16000  # the CosyVoice frontend's prompt rate
MAX_PROMPT_SECONDS = 30
SYSTEM = "You are a helpful assistant."
END = "<|endofprompt|>"
REQUIRED_FILES = ("cosyvoice3.yaml", "llm.pt", "flow.pt", "hift.pt", "campplus.onnx", "speech_tokenizer_v3.onnx",
                  "CosyVoice-BlankEN")

# Our instruction styles -> the phrasings CosyVoice3 was trained on.
PHRASES = {
    "cantonese": "请用广东话表达。",
    "sichuanese": "请用四川话表达。",
    "mandarin": "请用普通话表达。",
    **{emotion.id: emotion.instruct for emotion in emotions.EMOTIONS},
    "fast": "请用尽可能快地语速说一句话。",
    "slow": "请用尽可能慢地语速说一句话。",
    "loud": "Please say a sentence as loudly as possible.",
    "whisper": "Please say a sentence in a very soft voice.",
}


class EngineTimeout(RuntimeError):
    """The model did not finish within the engine's time limit."""


def missing_files(model_dir):
    """The files a CosyVoice3 model directory lacks (empty when it is complete)."""
    return [name for name in REQUIRED_FILES if not (Path(model_dir) / name).exists()]


def add_checkout_to_path(root):
    """CosyVoice is not a pip package: its checkout and its Matcha-TTS submodule go on sys.path."""
    for path in (Path(root) / "third_party" / "Matcha-TTS", Path(root)):
        if str(path) not in sys.path:
            sys.path.insert(0, str(path))


def zero_shot_prompt(transcript):
    """CosyVoice3's zero-shot prompt text: the system prompt, the end marker, then the transcript."""
    return f"{SYSTEM}{END}{transcript}"


def instruct_prompt(styles):
    """CosyVoice3's instruct text for our styles, e.g. `You are a helpful assistant. 请用四川话表达。<|endofprompt|>`."""
    phrases = list(dict.fromkeys(PHRASES[style] for style in styles if style in PHRASES))
    return f"{SYSTEM} {''.join(phrases)}{END}"


class CosyVoice3TTS:
    """Zero-shot, cross-lingual and instruct synthesis with CosyVoice3; one model per worker process."""

    streams = True  # hands out audio while it speaks (synthesize's on_audio); others are spoken sentence by sentence

    name = "cosyvoice3"

    def __init__(self, model, speaker_dir, timeout=120.0):
        self.model = model
        self.speaker_dir = Path(speaker_dir)
        self.timeout = timeout
        self._lock = threading.Lock()  # one inference at a time on this model
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cosyvoice3")

    @classmethod
    def from_config(cls, config):
        """Load CosyVoice3 from the operator's checkout and model directory (fails loudly, never falls back)."""
        model_dir = config["COSYVOICE_MODEL_DIR"]
        missing = missing_files(model_dir) if model_dir else list(REQUIRED_FILES)
        if missing:
            raise RuntimeError(f"COSYVOICE_MODEL_DIR={model_dir!r} lacks {', '.join(missing)}; see models/README.md")
        if config.get("COSYVOICE_ROOT"):
            add_checkout_to_path(config["COSYVOICE_ROOT"])
        try:
            from cosyvoice.cli.cosyvoice import AutoModel
        except ImportError as error:
            raise ImportError("the cosyvoice3 engine needs the CosyVoice package: set COSYVOICE_ROOT to a checkout "
                              "of FunAudioLLM/CosyVoice with its requirements installed") from error
        model = AutoModel(model_dir=model_dir, fp16=config["COSYVOICE_FP16"], load_trt=config["COSYVOICE_TRT"],
                          load_vllm=config["COSYVOICE_VLLM"])
        return cls(model, config["COSYVOICE_SPEAKER_DIR"], timeout=config["COSYVOICE_TIMEOUT"])

    def check_inputs(self, text, mode, prompt_audio, prompt_sample_rate, speed):
        """Raise ValueError naming the bad value (the shared checks; CosyVoice3 takes at most 30 s of prompt)."""
        check_speech_inputs(text, mode, prompt_audio, prompt_sample_rate, speed, MAX_PROMPT_SECONDS)

    def synthesize(self, text, prompt_audio, prompt_sample_rate=PROMPT_RATE, *, mode="zero_shot", prompt_text=None,
                   prompt_key=None, instruct=None, speed=1.0, progress=None, emotion=None, on_audio=None):
        """Speak `text` in the voice of `prompt_audio` (16 kHz mono float). With `on_audio`, the model streams
        (`stream=True`) and each chunk is handed to on_audio(samples, rate) as soon as it is made."""
        self.check_inputs(text, mode, prompt_audio, prompt_sample_rate, speed)
        report = progress or (lambda fraction: None)
        notes, applied, ignored = [], [], []
        stream = on_audio is not None
        with tempfile.TemporaryDirectory(prefix="voxmoji-cosyvoice-") as scratch:
            prompt_wav = str(Path(scratch) / "prompt.wav")
            soundfile.write(prompt_wav, _to_16k(np.asarray(prompt_audio, dtype=np.float32), prompt_sample_rate),
                            PROMPT_RATE)
            transcript = (prompt_text or "").strip()
            if mode == "instruct" or emotion:  # an emotion is said through the instruct model
                instruction = parse_instruction(instruct if mode == "instruct" else None, emotion)
                applied = [s for s in instruction.styles if s in PHRASES]
                ignored = instruction.ignored + [s for s in instruction.styles if s not in PHRASES]
                run = lambda: self.model.inference_instruct2(  # noqa: E731
                    text, instruct_prompt(applied), prompt_wav, zero_shot_spk_id="", stream=stream, speed=speed)
            elif mode == "zero_shot" and transcript:
                speaker = self._speaker(prompt_key, transcript, prompt_wav)
                run = lambda: self.model.inference_zero_shot(  # noqa: E731
                    text, zero_shot_prompt(transcript), prompt_wav, zero_shot_spk_id=speaker, stream=stream,
                    speed=speed)
            else:
                if mode == "zero_shot":
                    notes.append("no transcript of the recording (prompt_text): used cross-lingual inference, "
                                 "which follows the timbre but not the speaking style")
                run = lambda: self.model.inference_cross_lingual(  # noqa: E731
                    zero_shot_prompt(text), prompt_wav, zero_shot_spk_id="", stream=stream, speed=speed)
            started = time.perf_counter()
            audio = self._collect(run, report, on_audio)
        return SpeechOutput(audio=audio, sample_rate=self.model.sample_rate, language="auto",
                            instruct_applied=applied, instruct_ignored=ignored, notes=notes,
                            timings={"inference": time.perf_counter() - started})

    def _collect(self, run, report, on_audio=None):
        """Run a CosyVoice generator to the end within the time limit; chunks are concatenated. Progress and
        new chunks (on_audio) are reported from the calling thread (the job's, which has the app context),
        never from the model's."""
        deadline = time.monotonic() + self.timeout
        chunks = []  # appended by the model's thread, read by this one
        poll = 0.05 if on_audio else 0.5

        def consume():
            for output in run():
                chunks.append(output["tts_speech"].detach().float().cpu().numpy().reshape(-1))
                if time.monotonic() > deadline:
                    raise EngineTimeout(f"CosyVoice3 took longer than {self.timeout:.0f} s")
            if not chunks:
                raise RuntimeError("CosyVoice3 produced no audio")
            return np.concatenate(chunks).astype(np.float32)

        def hand_over(sent):
            ready = len(chunks)
            for chunk in chunks[sent:ready]:
                on_audio(chunk, self.model.sample_rate)
            return ready

        with self._lock:
            future = self._pool.submit(consume)
            reported = sent = 0
            try:
                while True:
                    try:
                        audio = future.result(timeout=max(0.0, min(poll, deadline - time.monotonic())))
                        if on_audio:
                            hand_over(sent)
                        return audio
                    except FutureTimeout:
                        if time.monotonic() >= deadline:
                            raise EngineTimeout(f"CosyVoice3 took longer than {self.timeout:.0f} s") from None
                        if on_audio:
                            sent = hand_over(sent)
                        if len(chunks) > reported:
                            reported = len(chunks)
                            report(min(0.9, 0.1 + 0.1 * reported))
            except EngineTimeout:
                raise
            except Exception as error:
                if _is_out_of_memory(error):
                    _free_gpu_memory()
                    raise RuntimeError("the GPU ran out of memory on this request") from error
                raise

    def _speaker(self, prompt_key, transcript, prompt_wav):
        """The zero-shot speaker id for this recording + transcript, registered once for all workers."""
        recording = prompt_key or hashlib.sha256(Path(prompt_wav).read_bytes()).hexdigest()
        digest = hashlib.sha256(f"{recording}\n{transcript}".encode()).hexdigest()[:16]
        speaker_id = f"{_speaker_prefix(recording)}{digest}"  # findable by its recording, for forget()
        spk2info = self.model.frontend.spk2info
        if speaker_id in spk2info:
            return speaker_id
        stored = self.speaker_dir / f"{speaker_id}.pt"
        import torch

        if stored.exists():  # another worker registered it: reuse its features
            spk2info[speaker_id] = torch.load(stored, map_location="cpu", weights_only=False)
            return speaker_id
        if not self.model.add_zero_shot_spk(zero_shot_prompt(transcript), prompt_wav, speaker_id):
            raise RuntimeError("CosyVoice3 could not register the speaker")
        self.speaker_dir.mkdir(parents=True, exist_ok=True)
        partial = stored.with_suffix(f".{os.getpid()}.partial")
        torch.save(spk2info[speaker_id], partial)
        os.replace(partial, stored)
        return speaker_id


    def forget(self, prompt_key):
        """Drop the speakers registered from a recording (this process's memory and the shared directory)."""
        prefix = _speaker_prefix(prompt_key)
        spk2info = self.model.frontend.spk2info
        for speaker_id in [name for name in spk2info if name.startswith(prefix)]:
            spk2info.pop(speaker_id, None)
        for path in self.speaker_dir.glob(f"{prefix}*.pt"):
            path.unlink(missing_ok=True)


def _speaker_prefix(recording_key):
    return f"vm_{recording_key[:24]}_"


def _to_16k(samples, rate):
    if rate == PROMPT_RATE:
        return samples
    from scipy.signal import resample_poly

    return resample_poly(samples, PROMPT_RATE, rate).astype(np.float32)


def _is_out_of_memory(error):
    return type(error).__name__ == "OutOfMemoryError" or "out of memory" in str(error).lower()


def _free_gpu_memory():
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except Exception:  # noqa: BLE001 - best effort
        pass
