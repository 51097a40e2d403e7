"""`expression: auto`: the expression a caption asks for ("开心大笑" -> laugh)."""
import unicodedata

# Checked in order: the first expression with a keyword in the text wins.
KEYWORDS = (
    ("laugh", ("哈哈", "大笑", "笑死", "爆笑", "狂笑", "lol", "haha", "laugh", "lmao")),
    ("surprise", ("惊讶", "震惊", "什么", "吓", "天哪", "卧槽", "啊？", "wow", "omg", "surprise", "what")),
    ("angry", ("生气", "愤怒", "怒", "气死", "火大", "angry", "mad", "furious")),
    ("sad", ("哭", "难过", "伤心", "委屈", "呜呜", "sad", "cry", "upset")),
    ("smile", ("开心", "高兴", "快乐", "笑", "嘻嘻", "耶", "happy", "smile", "yay")),
)


def expression_for(text):
    """The expression named by the text, or "none"."""
    normalized = unicodedata.normalize("NFKC", text or "").lower()
    for expression, words in KEYWORDS:
        if any(word in normalized for word in words):
            return expression
    return "none"
