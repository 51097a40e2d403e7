"""Understand free-text speaking instructions ("用四川话说", "sad and slow") as named styles.

Shared by every TTS engine: the embedded engine turns styles into prosody and voice
choices; the CosyVoice3 engine turns them into the phrasings that model was trained on.
"""
import re
import unicodedata
from dataclasses import dataclass, field

from backend import emotions

# style name -> keywords (Chinese and English, lower-case, NFKC); the emotions (悲伤, 害羞, ...) come from the
# one emotion table (backend/emotions.py), each its own style named by its id
STYLE_KEYWORDS = {
    "slow": ("慢", "缓慢", "slow", "slowly"),
    "fast": ("快速", "快点", "快一点", "快", "fast", "quickly", "quick", "faster"),
    "whisper": ("小声", "耳语", "悄悄", "轻声", "whisper", "whispering", "quietly", "softly"),
    "loud": ("大声", "响亮", "loud", "loudly", "shout", "shouting"),
    "cantonese": ("粤语", "广东话", "白话", "cantonese"),
    "sichuanese": ("四川话", "川话", "四川方言", "sichuanese", "sichuan dialect", "sichuan"),
    "english": ("英文", "英语", "english"),
    "mandarin": ("普通话", "国语", "mandarin"),
}

# Words that carry no instruction of their own ("please say it in a ... voice").
_FILLER = (
    "请", "用", "以", "地", "的", "得", "说", "讲", "读", "念", "语气", "口气", "声音", "一点", "一些", "点",
    "地说", "的语气", "来", "一下", "方言", "话", "和", "并且", "而且", "又", "很", "非常", "比较", "稍微",
    "please", "say", "speak", "read", "it", "this", "in", "a", "an", "the", "with", "voice", "tone",
    "and", "very", "more", "bit", "little", "manner", "way", "like", "style", "accent",
)
_SEPARATORS = re.compile(r"[,，。.!！?？;；、:：]+")


@dataclass
class Instruction:
    """The styles understood in an instruction, and the parts that were not understood."""

    styles: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)


def _keywords_longest_first():
    pairs = [(word, style) for style, words in STYLE_KEYWORDS.items() for word in words]
    pairs += [(emotions.normalized(word), emotion.id) for emotion in emotions.EMOTIONS
              for word in (emotion.name,) + emotion.synonyms]
    return sorted(pairs, key=lambda pair: -len(pair[0]))


_KEYWORDS = _keywords_longest_first()
_FILLER_SORTED = sorted(_FILLER, key=len, reverse=True)


def parse_instruction(text, emotion=None):
    """Match known style keywords; whatever else remains is reported as ignored. An `emotion` of the request
    (an id of backend/emotions.py) comes first among the styles."""
    result = Instruction(styles=[emotion] if emotion else [])
    if not text:
        return result
    normalized = unicodedata.normalize("NFKC", text).lower()
    for word, style in _KEYWORDS:
        # English keywords match whole words ("mad" is not in "made"); Chinese ones anywhere.
        pattern = rf"\b{re.escape(word)}\b" if word.isascii() else re.escape(word)
        normalized, found = re.subn(pattern, " ", normalized)
        if found and style not in result.styles:
            result.styles.append(style)
    for chunk in _SEPARATORS.split(normalized):
        leftover = _strip_filler(chunk)
        if leftover:
            result.ignored.append(leftover)
    return result


def _strip_filler(chunk):
    words = [w for w in chunk.split() if w not in _FILLER]
    if all(re.fullmatch(r"[a-z'-]+", w) for w in words):
        return " ".join(words)
    chunk = "".join(words)
    for word in _FILLER_SORTED:
        if not word.isascii():
            chunk = chunk.replace(word, "")
    return chunk.strip()
