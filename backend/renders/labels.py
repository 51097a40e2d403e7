"""The implicit (hidden) label every generated file carries, as the 2025 rules for labelling AI-generated
content ask: metadata saying the content is AI-generated, who made it and its content id (the field names of
GB 45438-2025). The explicit label is the visible 「AI生成」 drawn on stickers (engines/sticker_post.py)."""
import io
import json

SERVICE = "VoxMoji"


def hidden_label(job_id):
    """The label's JSON text for one job's output."""
    return json.dumps({"Label": "1", "ContentProducer": SERVICE, "ProduceID": job_id, "ReservedCode1": "",
                       "ContentPropagator": "", "PropagateID": "", "ReservedCode2": ""},
                      ensure_ascii=False, separators=(",", ":"))


UNLABELLED_AUDIO = ("aac", "pcm")  # ADTS AAC and raw PCM have no place for metadata


def label_audio(data, fmt, text):
    """MP3 and WAV with the label in an ID3 tag (TXXX:AIGC, and a comment saying it in words); FLAC and Ogg
    Opus in Vorbis comments (AIGC, COMMENT). ADTS AAC and raw PCM are returned as they are: neither format
    can carry metadata (docs/API.md says so)."""
    from mutagen.id3 import COMM, ID3, TXXX
    from mutagen.wave import WAVE

    if fmt in UNLABELLED_AUDIO:
        return data
    buffer = io.BytesIO(data)
    if fmt in ("flac", "opus"):
        from mutagen.flac import FLAC
        from mutagen.oggopus import OggOpus

        tagged = (FLAC if fmt == "flac" else OggOpus)(buffer)
        if tagged.tags is None:
            tagged.add_tags()
        tagged.tags["AIGC"] = [text]
        tagged.tags["COMMENT"] = ["AI生成 (AI-generated) by " + SERVICE]
        buffer.seek(0)
        tagged.save(buffer)
        return buffer.getvalue()
    if fmt == "mp3":
        tags = ID3()
        _fill(tags, text, TXXX, COMM)
        tags.save(buffer, v2_version=3, padding=lambda info: 0)
        return buffer.getvalue()
    if fmt == "wav":
        wave = WAVE(buffer)
        wave.add_tags()
        _fill(wave.tags, text, TXXX, COMM)
        wave.save(buffer)
        return buffer.getvalue()
    raise ValueError(f"no hidden label for {fmt!r} audio")


def _fill(tags, text, txxx, comm):
    tags.add(txxx(encoding=3, desc="AIGC", text=[text]))
    tags.add(comm(encoding=3, lang="chi", desc="AIGC", text=["AI生成 (AI-generated) by " + SERVICE]))
