"""Text front-end for espeak-ng: split by script, Chinese to tone-numbered pinyin, dialect tweaks."""
import re
import unicodedata
from dataclasses import dataclass

from pypinyin import Style, lazy_pinyin

_HAN = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_RUNS = re.compile(rf"([{_HAN}][{_HAN}\d\s，。！？、；：,.!?;:·…—\-]*)|([^{_HAN}]+)")
_CJK_PUNCT = str.maketrans({"，": ",", "。": ".", "！": "!", "？": "?", "、": ",", "；": ";", "：": ":", "…": "...", "—": ","})
_DIGITS = "零一二三四五六七八九"
# Pictographs and symbols espeak would spell out or read as noise.
_DROP = re.compile(r"[\U0001F000-\U0001FAFF\u2600-\u27BF\uFE0F\u200D]")


@dataclass
class Segment:
    """One espeak-ng call: a voice (language) and the text it reads."""

    language: str  # "cmn", "yue" or "en"
    text: str


def number_to_chinese(digits):
    """Read an integer the way a Mandarin speaker would (2026 -> 二千零二十六); long ones digit by digit."""
    if len(digits) > 8 or (len(digits) > 1 and digits.startswith("0")):
        return "".join(_DIGITS[int(d)] for d in digits)
    value = int(digits)
    if value == 0:
        return "零"
    units = ["", "十", "百", "千"]
    def below_10000(n):
        out, zero = "", False
        for power in (3, 2, 1, 0):
            d = n // 10**power % 10
            if d:
                if zero and out:
                    out += "零"
                out += _DIGITS[d] + units[power]
                zero = False
            elif out:
                zero = True
        return out
    high, low = divmod(value, 10000)
    text = (below_10000(high) + "万" + ("零" if 0 < low < 1000 else "")) if high else ""
    text += below_10000(low)
    return text[1:] if text.startswith("一十") else text


def split_segments(text):
    """Split text into Chinese and non-Chinese runs, dropping emoji and control characters."""
    text = _DROP.sub("", unicodedata.normalize("NFKC", text))
    text = "".join(ch for ch in text if unicodedata.category(ch)[0] != "C" or ch in "\n\t")
    segments = []
    for han, other in _RUNS.findall(text):
        if han:
            segments.append(Segment("cmn", han.strip()))
        elif other.strip(" \n\t,.!?;:"):
            segments.append(Segment("en", other.strip()))
    return segments


def to_pinyin(han_text, tones=True):
    """Chinese characters to space-separated pinyin syllables with tone digits (5 = neutral)."""
    # Years are read digit by digit (二零二六年); other numbers as quantities.
    han_text = re.sub(r"\d{4}(?=年)", lambda m: "".join(_DIGITS[int(d)] for d in m.group()), han_text)
    han_text = re.sub(r"\d+", lambda m: number_to_chinese(m.group()), han_text).translate(_CJK_PUNCT)
    style = Style.TONE3 if tones else Style.NORMAL
    syllables = lazy_pinyin(han_text, style=style, neutral_tone_with_five=True, errors=lambda s: list(s))
    return _join_syllables(syllables)


def _join_syllables(syllables):
    out = ""
    for syllable in syllables:
        syllable = syllable.strip()
        if not syllable:
            continue
        if syllable in ",.!?;:" or syllable == "...":
            out = out.rstrip() + syllable + " "
        else:
            out += syllable + " "
    return out.strip()


# Chengdu tones: yinping 55, yangping 21, shangsheng 53, qusheng 213; the nearest
# Mandarin contours espeak can produce are T1 55, half-T3 21, T4 51 and T3 214.
_SICHUAN_TONES = {"1": "1", "2": "3", "3": "4", "4": "3", "5": "5"}
_RETROFLEX = re.compile(r"^(zh|ch|sh)")


def sichuanese_syllable(syllable):
    """Approximate Sichuan-accented Mandarin: flat initials (zh/ch/sh/r -> z/c/s/z), -ing/-eng -> -in/-en, Chengdu tones."""
    match = re.fullmatch(r"([a-zü:v]+)([1-5])", syllable)
    if not match:
        return syllable
    body, tone = match.groups()
    body = _RETROFLEX.sub(lambda m: m.group()[0], body)
    if body.endswith("ing"):
        body = body[:-1]
    elif body.endswith("eng") and body != "eng":
        body = body[:-1]
    if body.startswith("r"):
        body = "z" + body[1:]
    return body + _SICHUAN_TONES[tone]


def to_sichuanese_pinyin(pinyin_text):
    """Apply sichuanese_syllable to every syllable of a pinyin string."""
    return " ".join(
        "".join(sichuanese_syllable(part) if part[-1:].isdigit() else part for part in re.split(r"([,.!?;:]+)", token))
        for token in pinyin_text.split()
    )
