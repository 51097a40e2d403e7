"""Runs the mini-program's Node tests (node:test) against the real stack."""
import os
import subprocess
from pathlib import Path

from media_samples import encode_image, hopper_photo, landscape_photo, reference_voice, unrelated_voice, wav_bytes
from stack_process import REPO


def test_miniprogram_against_the_stack(stack, tmp_path):
    wav = tmp_path / "record.wav"
    wav.write_bytes(wav_bytes(reference_voice(190.0)))
    audio = tmp_path / "record.mp3"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(wav), "-ar", "16000", "-ac", "1", str(audio)], check=True)
    unlike_wav, unlike = tmp_path / "other.wav", tmp_path / "other.mp3"  # a voice the built-in engine cannot imitate
    unlike_wav.write_bytes(wav_bytes(unrelated_voice()))
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(unlike_wav), "-ar", "16000", "-ac", "1", str(unlike)],
                   check=True)
    photo, landscape = tmp_path / "selfie.jpg", tmp_path / "landscape.jpg"
    photo.write_bytes(encode_image(hopper_photo()))
    landscape.write_bytes(encode_image(landscape_photo()))
    env = {**os.environ, "VOXMOJI_BASE_URL": stack.base_url, "VOXMOJI_AUDIO_FILE": str(audio),
           "VOXMOJI_UNLIKE_AUDIO_FILE": str(unlike), "VOXMOJI_PHOTO_FILE": str(photo), "VOXMOJI_LANDSCAPE_FILE": str(landscape)}
    done = subprocess.run(["node", "--test", str(Path(REPO) / "tests" / "miniprogram")],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
    assert "pass 23" in done.stdout and "fail 0" in done.stdout, done.stdout[-3000:]
