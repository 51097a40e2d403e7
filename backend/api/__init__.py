"""HTTP blueprints, one per domain."""
from backend.api import (
    account,
    admin,
    emotions,
    health,
    jobs,
    openai_speech,
    options,
    packs,
    reports,
    stickers,
    tts,
    voices,
    wechat_push,
)


def register_blueprints(app):
    """Mount every blueprint on the app."""
    for module in (account, voices, tts, stickers, packs, emotions, options, openai_speech, jobs, reports, admin, health,
                   wechat_push):
        app.register_blueprint(module.bp)
