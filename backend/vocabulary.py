"""The sticker vocabulary, defined once: what the schemas accept, what the engines check and what the
renders produce. Plain data, imported by every layer."""

CLASSIC_STYLES = ("cutout", "panda", "template", "comic")  # the embedded engine's styles
STYLES = CLASSIC_STYLES + ("sd",)  # `sd` needs the Stable Diffusion engine
PHOTO_STYLES = ("cutout", "comic", "sd")  # made from the photo alone (a template_id is ignored)
EXPRESSIONS = ("none", "smile", "laugh", "surprise", "angry", "sad")
ANIMATIONS = ("bounce", "shake", "zoom")
IMAGE_FORMATS = {"png": "image/png", "webp": "image/webp", "gif": "image/gif"}
ANIMATED_FORMATS = ("gif", "webp")
SWAP_FORMATS = ("png", "webp")
