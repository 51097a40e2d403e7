"""The API's vocabulary, defined once: what the schemas accept, what the engines and decoders check and
what the renders produce. Plain data, imported by every layer."""

# Voices
AUDIO_FORMATS = ("wav", "mp3", "aac", "m4a", "pcm")  # recordings we decode (pcm needs a sample rate)
PCM_RATES = (8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000)
# what TTS results are encoded as (OpenAI's names: opus in Ogg, aac in ADTS, pcm raw 24 kHz 16-bit LE mono)
SPEECH_FORMATS = ("mp3", "wav", "opus", "aac", "flac", "pcm")
PCM_OUT_RATE = 24000
TTS_MODES = ("zero_shot", "instruct", "cross_lingual")
JOB_KINDS = ("tts", "sticker", "swap", "pack", "talking")  # in code and the database
# The API's name for a job kind where it differs from the code's (clients and docs/API.md say `emoji`).
API_KIND_BY_KIND = {"sticker": "emoji"}
KIND_BY_API_KIND = {api: kind for kind, api in API_KIND_BY_KIND.items()}
API_JOB_KINDS = tuple(API_KIND_BY_KIND.get(kind, kind) for kind in JOB_KINDS)

# The ledger: what moves a balance or a hold (ledger_entries.kind), and the kinds that add tokens
LEDGER_KINDS = ("grant", "recharge", "hold", "capture", "release", "adjust")
CREDIT_KINDS = ("grant", "recharge", "adjust")
# what the console shows for each (operator-facing Chinese)
LEDGER_KIND_LABELS = {"grant": "赠送", "recharge": "充值", "hold": "冻结", "capture": "扣费", "release": "解冻（未扣费）",
                      "adjust": "退还/调整"}

# Reports (举报): what a user may report a result for
REPORT_CATEGORIES = ("porn", "politics", "abuse", "fraud", "infringement", "privacy", "other")

# Stickers

CLASSIC_STYLES = ("cutout", "panda", "template", "comic")  # the embedded engine's styles
STYLES = CLASSIC_STYLES + ("sd",)  # `sd` needs the Stable Diffusion engine
PHOTO_STYLES = ("cutout", "comic", "sd")  # made from the photo alone (a template_id is ignored)
TALKING_STYLES = ("cutout", "comic")  # a talking sticker's face, from a photo
EXPRESSIONS = ("none", "smile", "laugh", "surprise", "angry", "sad")
ANIMATIONS = ("bounce", "shake", "zoom")
IMAGE_FORMATS = {"png": "image/png", "webp": "image/webp", "gif": "image/gif"}
ANIMATED_FORMATS = ("gif", "webp")
SWAP_FORMATS = ("png", "webp")

# Sticker packs: what WeChat's sticker open platform accepts (backend/renders/wechat_pack.py has the rest)
PACK_COUNTS = (8, 16, 24)
PACK_NAME_MAX, PACK_INTRO_MAX, PACK_MEANING_MAX = 8, 80, 4  # 表情名称, 表情介绍, 含义词 (characters)

# What the clients show for each choice (user-facing Chinese; the ids are the contract). GET /api/v1/options
# serves these with the limits and costs, so the mini-program and the H5 page keep no copies.
STYLE_LABELS = {"cutout": "抠图贴纸", "panda": "熊猫头", "template": "换脸模板", "comic": "漫画风", "sd": "AI 绘画"}
TTS_MODE_LABELS = {"zero_shot": "复刻", "instruct": "指令", "cross_lingual": "跨语种"}
KIND_LABELS = {"tts": "声音", "emoji": "表情包", "swap": "换脸", "pack": "整套表情包", "talking": "会说话的表情"}
STATUS_LABELS = {"queued": "排队中", "running": "生成中", "reviewing": "审核中", "succeeded": "完成", "failed": "失败",
                 "canceled": "已取消", "deleted": "已删除", "blocked": "已撤回"}
PACK_DEFAULT_EMOTIONS = ("happy", "laugh", "surprised", "angry", "sad", "shy", "speechless", "smug")
REPORT_REASON_MAX = 200
