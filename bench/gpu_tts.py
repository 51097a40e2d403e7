"""GPU benchmark of the cosyvoice3 engine: real-time factor per mode, given an installed model.

    COSYVOICE_ROOT=/opt/CosyVoice python bench/gpu_tts.py --model-dir models/Fun-CosyVoice3-0.5B

Prints seconds of compute per second of audio for zero-shot (registered speaker), cross-lingual
and instruct, warm, median of N runs. Without a model directory (none can be downloaded here) it
says what is missing and exits 2.
"""
import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from backend.config import load_config  # noqa: E402
from backend.engines.tts_cosyvoice3 import CosyVoice3TTS, missing_files  # noqa: E402

TEXT = "收到好友从远方寄来的生日礼物，那份意外的惊喜与深深的祝福让我心中充满了甜蜜的快乐。"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", default=os.environ.get("COSYVOICE_MODEL_DIR"))
    parser.add_argument("--prompt", help="a 3-10 s reference WAV (default: a generated tone)")
    parser.add_argument("--prompt-text", default="希望你以后能够做的比我还好呦。")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    if not args.model_dir or missing_files(args.model_dir):
        print(f"bench/gpu_tts.py needs a CosyVoice3 model directory (--model-dir or COSYVOICE_MODEL_DIR); "
              f"{args.model_dir or 'none given'} lacks {', '.join(missing_files(args.model_dir or '/nonexistent'))}. "
              "See models/README.md.", file=sys.stderr)
        sys.exit(2)
    config = {**load_config(), "COSYVOICE_MODEL_DIR": args.model_dir}
    engine = CosyVoice3TTS.from_config(config)
    if args.prompt:
        import soundfile

        prompt, rate = soundfile.read(args.prompt, dtype="float32")
    else:
        rate = 16000
        t = np.arange(rate * 5) / rate
        prompt = (0.2 * np.sin(2 * np.pi * 140 * t)).astype(np.float32)
    modes = {
        "zero_shot": dict(mode="zero_shot", prompt_text=args.prompt_text, prompt_key="bench"),
        "cross_lingual": dict(mode="cross_lingual"),
        "instruct": dict(mode="instruct", instruct="用四川话说"),
    }
    print(f"cosyvoice3, {args.model_dir}, median of {args.runs} warm runs")
    for name, options in modes.items():
        engine.synthesize(TEXT, prompt, rate, **options)  # warm-up (and speaker registration)
        factors = []
        for _ in range(args.runs):
            started = time.perf_counter()
            out = engine.synthesize(TEXT, prompt, rate, **options)
            factors.append((time.perf_counter() - started) / (len(out.audio) / out.sample_rate))
        print(f"  {name:<14} RTF {statistics.median(factors):.3f}")


if __name__ == "__main__":
    main()
