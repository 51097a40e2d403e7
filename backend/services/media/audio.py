"""Safe audio decoding and encoding with ffmpeg: forced input formats, file/pipe only, time limits."""
import io
import os
import subprocess
import tempfile
from dataclasses import dataclass

import lameenc
import numpy as np
import soundfile

from backend.errors import ApiError
from backend.vocabulary import PCM_OUT_RATE, PCM_RATES, SPEECH_FORMATS

# Our format names -> ffmpeg demuxers. Never auto-probed: a playlist, concat script or
# AVI with an embedded HLS playlist is parsed as the declared format and fails there.
DEMUXERS = {"wav": "wav", "mp3": "mp3", "aac": "aac", "m4a": "mov", "pcm": "s16le"}  # ffmpeg's, per AUDIO_FORMATS
DECODE_RATE = 16000
MIME = {"mp3": "audio/mpeg", "wav": "audio/wav", "opus": "audio/ogg", "aac": "audio/aac", "flac": "audio/flac",
        "pcm": "audio/pcm"}
_FFMPEG_ENCODERS = {"opus": ("-c:a", "libopus", "-b:a", "32k", "-f", "ogg"),
                    "aac": ("-c:a", "aac", "-b:a", "64k", "-f", "adts")}
_NOT_AUDIO = {
    b"#EXTM3U": "an HLS playlist",
    b"ffconcat": "an ffmpeg concat script",
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"GIF8": "a GIF image",
    b"%PDF": "a PDF document",
}


@dataclass
class DecodedAudio:
    """Mono float32 samples at DECODE_RATE."""

    samples: np.ndarray
    sample_rate: int

    @property
    def duration(self):
        return len(self.samples) / self.sample_rate


def sniff_format(data):
    """Our format name from the first bytes, or None when they say nothing."""
    head = data[:16]
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "wav"
    if head[:3] == b"ID3":
        return "mp3"
    if head[4:8] == b"ftyp":
        return "m4a"
    if len(head) >= 2 and head[0] == 0xFF:
        if head[1] & 0xF6 == 0xF0:  # ADTS sync word, layer 00
            return "aac"
        if head[1] & 0xE0 == 0xE0 and head[1] & 0x06:  # MPEG audio frame sync, layer I-III
            return "mp3"
    return None


def _refuse_non_audio(data, field):
    stripped = data.lstrip()[:16]
    for magic, what in _NOT_AUDIO.items():
        if stripped.startswith(magic):
            raise ApiError("invalid_audio", f"This file is {what}, not audio. Send wav, mp3, aac, m4a or pcm.", field)
    if data[:4] == b"RIFF" and data[8:12] != b"WAVE":
        raise ApiError("invalid_audio", "This RIFF file is not a WAV file. Send wav, mp3, aac, m4a or pcm.", field)


def choose_format(data, declared, field="audio"):
    """The demuxer to use: what the bytes say, else what the client declared."""
    if declared is not None and declared not in DEMUXERS:
        raise ApiError("unsupported_media", f"Audio format {declared!r} is not supported; use one of {', '.join(DEMUXERS)}.",
                       f"{field}_format")
    if declared == "pcm":
        return "pcm"
    _refuse_non_audio(data, field)
    sniffed = sniff_format(data)
    if sniffed:
        return sniffed
    if declared:
        return declared
    raise ApiError("invalid_audio", "Could not recognise the audio; send wav, mp3, aac or m4a, "
                   "or set audio_format (pcm also needs sample_rate).", field)


def decode(data, declared_format=None, sample_rate=None, *, max_seconds, timeout, field="audio"):
    """Decode untrusted bytes to mono float PCM at 16 kHz, reading at most max_seconds + 1 s."""
    fmt = choose_format(data, declared_format, field)
    input_options = ["-f", DEMUXERS[fmt]]
    if fmt == "pcm":
        if sample_rate not in PCM_RATES:
            raise ApiError("invalid_request", f"pcm audio needs sample_rate, one of {PCM_RATES}.", "sample_rate")
        input_options += ["-ar", str(sample_rate), "-ac", "1"]
    with tempfile.NamedTemporaryFile(prefix="voxmoji-upload-", suffix=".bin") as upload:
        upload.write(data)
        upload.flush()
        command = [
            "ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-threads", "1",
            "-protocol_whitelist", "file,pipe", *input_options, "-i", f"file:{upload.name}",
            "-t", f"{max_seconds + 1:.3f}", "-vn", "-sn", "-dn", "-map", "0:a:0",
            "-ac", "1", "-ar", str(DECODE_RATE), "-f", "f32le", "pipe:1",
        ]
        try:
            done = subprocess.run(command, capture_output=True, timeout=timeout, env=_ffmpeg_env())
        except subprocess.TimeoutExpired:
            raise ApiError("invalid_audio", "The audio took too long to decode; send a shorter or simpler file.", field)
    samples = np.frombuffer(done.stdout, dtype="<f4")
    if done.returncode != 0 or samples.size == 0:
        raise ApiError("invalid_audio", f"Could not decode the audio as {fmt}; check the file and its format.", field)
    return DecodedAudio(samples.astype(np.float32), DECODE_RATE)


def check_duration(audio, min_seconds, max_seconds, field="audio"):
    """Reject recordings outside the allowed length with audio_too_short / audio_too_long."""
    if audio.duration < min_seconds:
        raise ApiError("audio_too_short", f"The recording is {audio.duration:.1f} s; record at least {min_seconds:g} s.", field)
    if audio.duration > max_seconds:
        raise ApiError("audio_too_long", f"The recording is longer than {max_seconds:g} s; trim it to {max_seconds:g} s or less.", field)


@dataclass
class EncodedAudio:
    """Encoded bytes with the duration a player will show for them."""

    data: bytes
    mime: str
    duration: float


def encode(samples, sample_rate, fmt):
    """Encode mono float samples as one of SPEECH_FORMATS: mp3 (LAME, in process), 16-bit wav or flac
    (libsndfile), opus in Ogg or AAC in ADTS (ffmpeg), or raw 16-bit little-endian PCM at 24 kHz."""
    pcm = np.clip(np.asarray(samples, dtype=np.float32), -1.0, 1.0)
    seconds = len(pcm) / sample_rate
    if fmt in ("wav", "flac"):
        buffer = io.BytesIO()
        soundfile.write(buffer, pcm, sample_rate, subtype="PCM_16", format=fmt.upper())
        return EncodedAudio(buffer.getvalue(), MIME[fmt], seconds)
    if fmt == "pcm":
        from scipy.signal import resample_poly

        divisor = np.gcd(PCM_OUT_RATE, int(sample_rate))
        resampled = resample_poly(pcm, PCM_OUT_RATE // divisor, int(sample_rate) // divisor)
        return EncodedAudio((np.clip(resampled, -1, 1) * 32767).astype("<i2").tobytes(), MIME["pcm"], seconds)
    if fmt in _FFMPEG_ENCODERS:
        return EncodedAudio(_ffmpeg_encode(pcm, sample_rate, _FFMPEG_ENCODERS[fmt]), MIME[fmt], seconds)
    if fmt != "mp3":
        raise ValueError(f"fmt must be one of {SPEECH_FORMATS}, got {fmt!r}")
    # LAME in process: an ffmpeg subprocess costs ~0.3 s of start-up per request, more
    # than the whole synthesis of a short sentence.
    encoder = lameenc.Encoder()
    encoder.set_bit_rate(64)
    encoder.set_in_sample_rate(sample_rate)
    encoder.set_channels(1)
    encoder.set_quality(5)
    data = bytes(encoder.encode((pcm * 32767).astype("<i2").tobytes()) + encoder.flush())
    return EncodedAudio(data, MIME["mp3"], mp3_duration(data))


def _ffmpeg_encode(pcm, sample_rate, output_options):
    """16-bit PCM through ffmpeg's stdin, the encoded stream from its stdout (bounded in time)."""
    command = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-f", "s16le", "-ar", str(int(sample_rate)),
               "-ac", "1", "-i", "pipe:0", *output_options, "pipe:1"]
    done = subprocess.run(command, input=(pcm * 32767).astype("<i2").tobytes(), capture_output=True, timeout=60,
                          check=False)
    if done.returncode != 0 or not done.stdout:
        raise RuntimeError(f"ffmpeg could not encode: {done.stderr.decode(errors='replace')[-300:]}")
    return done.stdout


# MPEG audio frame header tables (layer III only: that is what LAME writes).
_MP3_BITRATES = {
    3: (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),  # MPEG-1
    2: (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),  # MPEG-2 / 2.5
}
_MP3_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


def mp3_duration(data):
    """Playback duration of a layer-III stream: frames x samples per frame / sample rate."""
    position, samples, rate = 0, 0, 0
    while position + 4 <= len(data):
        b1, b2 = data[position + 1], data[position + 2]
        if data[position] != 0xFF or b1 & 0xE0 != 0xE0:
            position += 1
            continue
        version = (b1 >> 3) & 0x03
        table = 3 if version == 3 else 2
        bitrate = _MP3_BITRATES[table][b2 >> 4] * 1000 if (b2 >> 4) < 15 else 0
        rate_index = (b2 >> 2) & 0x03
        if version == 1 or not bitrate or rate_index == 3:
            position += 1
            continue
        rate = _MP3_RATES[version][rate_index]
        per_frame = 1152 if version == 3 else 576
        position += per_frame // 8 * bitrate // rate + ((b2 >> 1) & 0x01)
        samples += per_frame
    return samples / rate if rate else 0.0


def _ffmpeg_env():
    # No proxy variables: ffmpeg must never reach the network, whatever the environment says.
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C"}
