"""Safe decoding: allowed formats decode; playlists and disguised files are refused without side effects."""
import http.server
import subprocess
import threading

import numpy as np
import pytest

from backend.errors import ApiError
from backend.services.media import audio


def tone(seconds=2.0, rate=16000):
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)


def ffmpeg_encode(samples, fmt, tmp_path):
    source = tmp_path / "source.wav"
    source.write_bytes(audio.encode(samples, 16000, "wav").data)
    target = tmp_path / f"out.{fmt}"
    codec = {"mp3": ["-c:a", "libmp3lame"], "aac": ["-c:a", "aac", "-f", "adts"], "m4a": ["-c:a", "aac"],
             "wav": []}[fmt]
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(source), *codec, str(target)], check=True)
    return target.read_bytes()


@pytest.mark.parametrize("fmt", ["wav", "mp3", "aac", "m4a"])
def test_allowed_formats_decode(fmt, tmp_path):
    data = ffmpeg_encode(tone(2.0), fmt, tmp_path)
    for declared in (None, fmt):
        decoded = audio.decode(data, declared, max_seconds=30, timeout=10)
        assert abs(decoded.duration - 2.0) < 0.15  # lossy codecs add priming samples
        assert decoded.sample_rate == 16000 and decoded.samples.dtype == np.float32
        assert 0.15 < np.abs(decoded.samples).max() < 0.7


def test_pcm_needs_and_uses_sample_rate():
    pcm = (tone(1.5, 8000) * 32767).astype("<i2").tobytes()
    with pytest.raises(ApiError) as error:
        audio.decode(pcm, "pcm", None, max_seconds=30, timeout=10)
    assert error.value.field == "sample_rate"
    decoded = audio.decode(pcm, "pcm", 8000, max_seconds=30, timeout=10)
    assert abs(decoded.duration - 1.5) < 0.01


def test_decoding_stops_after_the_limit(tmp_path):
    data = audio.encode(tone(60.0), 16000, "wav").data
    decoded = audio.decode(data, "wav", max_seconds=30, timeout=10)
    assert 30.0 < decoded.duration <= 31.01


class RecordingHandler(http.server.BaseHTTPRequestHandler):
    hits = []

    def do_GET(self):  # noqa: N802
        RecordingHandler.hits.append(self.path)
        self.send_response(404)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def listener():
    RecordingHandler.hits = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RecordingHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def _playlists(port, secret):
    hls = (f"#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:0\n#EXTINF:10.0,\nhttp://127.0.0.1:{port}/segment.ts\n"
           f"#EXTINF:10.0,\nfile:{secret}\n#EXT-X-ENDLIST\n").encode()
    # An AVI whose only stream carries an HLS playlist (the classic ffmpeg SSRF/file-read trick).
    avi = (b"RIFF" + (4 + 4 + len(hls) + 64).to_bytes(4, "little") + b"AVI LIST"
           + (len(hls) + 52).to_bytes(4, "little") + b"hdrlavih" + b"\x38\x00\x00\x00" + b"\x00" * 56
           + b"GAB2\x00\x02\x00" + hls)
    return {
        "hls": hls,
        "hls-padded": b"\n  " + hls,
        # a BOM slips past our sniffing, so this one reaches ffmpeg's forced demuxer
        "hls-bom": b"\xef\xbb\xbf" + hls,
        "avi": avi,
        "concat": b"ffconcat version 1.0\nfile " + secret.encode(),
    }


@pytest.mark.parametrize("declared", [None, "wav", "mp3", "aac", "m4a"])
def test_playlists_are_refused_without_touching_network_or_files(listener, tmp_path, declared):
    secret = tmp_path / "secret.wav"
    secret.write_bytes(audio.encode(tone(3.0), 16000, "wav").data)
    for name, data in _playlists(listener, str(secret)).items():
        with pytest.raises(ApiError) as error:
            audio.decode(data, declared, max_seconds=30, timeout=10)
        # Had ffmpeg followed the playlist to secret.wav, this would have decoded 3 s of audio.
        assert error.value.code == "invalid_audio", name
    assert RecordingHandler.hits == []


def test_mp3_duration_matches_ffprobe(tmp_path):
    for rate in (16000, 24000, 44100):
        encoded = audio.encode(tone(3.3, rate), rate, "mp3")
        path = tmp_path / f"t{rate}.mp3"
        path.write_bytes(encoded.data)
        probed = float(subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0",
                                       str(path)], capture_output=True, text=True, check=True).stdout)
        assert abs(probed - encoded.duration) < 0.01
        assert abs(encoded.duration - 3.3) < 0.15


def test_sniffing():
    assert audio.sniff_format(b"RIFF\x00\x00\x00\x00WAVEfmt ") == "wav"
    assert audio.sniff_format(b"ID3\x04") == "mp3"
    assert audio.sniff_format(b"\xff\xfb\x90\x00") == "mp3"
    assert audio.sniff_format(b"\xff\xf1\x50\x80") == "aac"
    assert audio.sniff_format(b"\x00\x00\x00\x20ftypM4A ") == "m4a"
    assert audio.sniff_format(b"#EXTM3U") is None
