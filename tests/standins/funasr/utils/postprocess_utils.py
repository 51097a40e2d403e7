"""Stand-in of funasr.utils.postprocess_utils: the real function's signature; it drops SenseVoice's tags."""
import re


def rich_transcription_postprocess(s):
    return re.sub(r"<\|[^|]*\|>", "", s)
