"""One emotion vocabulary for face and voice (`GET /api/v1/emotions`).

Each emotion names how a sticker shows it (the face's expression and a decoration drawn over it) and how a
voice says it (the embedded engines' prosody; CosyVoice3's instruct phrase). The same table understands
free text: a sticker caption ("开心大笑" -> laugh) and a speaking instruction ("委屈地说" -> wronged).
Plain data, imported by every layer.
"""
import re
import unicodedata
from dataclasses import dataclass


@dataclass(frozen=True)
class Prosody:
    """How the embedded voices say it, relative to neutral speech."""

    pitch: float  # F0 scale
    spread: float  # F0 range (intonation) scale
    pace: float  # speaking rate scale
    gain_db: float  # loudness


@dataclass(frozen=True)
class Emotion:
    id: str
    name: str  # its Chinese name, as the clients show it
    synonyms: tuple[str, ...]  # Chinese and English words that mean it (lower case)
    expression: str  # the sticker face: one of vocabulary.EXPRESSIONS
    decoration: str  # drawn over the sticker: one of DECORATIONS
    prosody: Prosody
    instruct: str  # CosyVoice3's instruct phrase

    def describe(self):
        return {"emotion": self.id, "name": self.name, "synonyms": list(self.synonyms),
                "expression": self.expression, "decoration": self.decoration,
                "voice": {"pitch": self.prosody.pitch, "pitch_range": self.prosody.spread,
                          "rate": self.prosody.pace, "gain_db": self.prosody.gain_db, "instruct": self.instruct}}


DECORATIONS = ("none", "anger", "tears", "tear", "sweat", "blush", "lines", "sparkle", "shiver")

# Listed in this order; when a text names several, the longest word wins, then the earlier emotion.
EMOTIONS = (
    Emotion("laugh", "大笑", ("大笑", "哈哈", "笑死", "爆笑", "狂笑", "lol", "haha", "laugh", "laughing", "lmao"),
            "laugh", "none", Prosody(1.12, 1.45, 1.10, 2.0), "请非常开心地大笑着说一句话。"),
    Emotion("happy", "开心", ("开心", "高兴", "快乐", "愉快", "欢快", "嘻嘻", "耶", "笑", "happy", "happily",
                            "cheerful", "joyful", "smile", "yay"),
            "smile", "none", Prosody(1.10, 1.35, 1.08, 1.0), "请非常开心地说一句话。"),
    Emotion("excited", "兴奋", ("兴奋", "激动", "excited", "excitedly", "enthusiastic"),
            "laugh", "sparkle", Prosody(1.15, 1.5, 1.15, 2.0), "请非常兴奋激动地说一句话。"),
    Emotion("surprised", "惊讶", ("惊讶", "震惊", "吃惊", "什么", "天哪", "卧槽", "啊？", "wow", "omg", "surprise",
                                "surprised", "shocked"),
            "surprise", "sweat", Prosody(1.18, 1.6, 1.05, 2.0), "请用非常惊讶的语气说一句话。"),
    Emotion("angry", "生气", ("生气", "愤怒", "发火", "气死", "火大", "怒", "angry", "angrily", "furious", "mad"),
            "angry", "anger", Prosody(1.05, 1.4, 1.08, 4.0), "请非常生气地说一句话。"),
    Emotion("sad", "难过", ("难过", "伤心", "悲伤", "哀伤", "忧伤", "哭", "呜呜", "sad", "sadly", "sorrowful",
                          "unhappy", "cry", "upset"),
            "sad", "tears", Prosody(0.88, 0.6, 0.82, -3.0), "请非常伤心地说一句话。"),
    Emotion("wronged", "委屈", ("委屈", "冤枉", "可怜", "wronged", "aggrieved", "pitiful"),
            "sad", "tear", Prosody(1.04, 0.75, 0.86, -4.0), "请用委屈、带点哭腔的语气说一句话。"),
    Emotion("shy", "害羞", ("害羞", "羞涩", "不好意思", "脸红", "shy", "shyly", "blush", "embarrassed"),
            "smile", "blush", Prosody(1.06, 0.85, 0.90, -5.0), "请用害羞、小声的语气说一句话。"),
    Emotion("speechless", "无语", ("无语", "无言", "呵呵", "服了", "醉了", "speechless", "whatever", "facepalm"),
            "none", "lines", Prosody(0.94, 0.45, 0.85, -2.0), "请用无奈、无语的语气说一句话。"),
    Emotion("smug", "得意", ("得意", "嘚瑟", "骄傲", "炫耀", "smug", "proud", "proudly", "cocky"),
            "smile", "sparkle", Prosody(1.02, 1.3, 0.92, 1.0), "请用得意、骄傲的语气说一句话。"),
    Emotion("scared", "害怕", ("害怕", "恐惧", "吓", "好怕", "scared", "afraid", "fearful", "frightened"),
            "surprise", "shiver", Prosody(1.12, 1.3, 1.12, -2.0), "请用非常害怕、颤抖的语气说一句话。"),
)
BY_ID = {emotion.id: emotion for emotion in EMOTIONS}
IDS = tuple(BY_ID)
# an expression chosen without an emotion keeps the decoration it always had
DECORATION_BY_EXPRESSION = {"angry": "anger", "sad": "tears", "surprise": "sweat"}


def normalized(text):
    return unicodedata.normalize("NFKC", text or "").lower()


def _words_longest_first():
    pairs = [(normalized(word), index) for index, emotion in enumerate(EMOTIONS)
             for word in (emotion.name,) + emotion.synonyms]
    return sorted(set(pairs), key=lambda pair: (-len(pair[0]), pair[1]))


_WORDS = _words_longest_first()


def _pattern(word):
    """English words match whole words ("mad" is not in "made"); Chinese ones anywhere."""
    return re.compile(rf"\b{re.escape(word)}\b" if word.isascii() else re.escape(word))


_PATTERNS = [(_pattern(word), EMOTIONS[index]) for word, index in _WORDS]


def guess(text):
    """The emotion a text names (a caption, an instruction), or None."""
    found = find_all(text)
    return found[0] if found else None


def chosen(emotion_id, text):
    """The emotion a request asks for: the `emotion` it names, else the one its text names, else None."""
    return BY_ID[emotion_id] if emotion_id else guess(text)


def face_of(emotion):
    """(sticker expression, decoration) an emotion is drawn with; a plain face for none."""
    return (emotion.expression, emotion.decoration) if emotion else ("none", "none")


def find_all(text):
    """Every emotion the text names, strongest word first (each once)."""
    text = normalized(text)
    found = []
    for pattern, emotion in _PATTERNS:
        if emotion not in found and pattern.search(text):
            found.append(emotion)
    return found


def expression_for(text):
    """The sticker expression a caption asks for ("开心大笑" -> laugh), or "none"."""
    emotion = guess(text)
    return emotion.expression if emotion else "none"
