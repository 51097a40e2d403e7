"""Configuration: one object whose defaults come from the environment (and `.env`)."""
import os
from pathlib import Path
from urllib.parse import urlparse

from dotenv import load_dotenv

from backend.engine_choice.lineup import POLICIES

REPO_ROOT = Path(__file__).resolve().parent.parent


class _Reader:
    """Typed reads from an environment mapping."""

    def __init__(self, environ):
        self.environ = environ

    def __call__(self, name, default=None):
        return self.environ.get(name, default)

    def int(self, name, default):
        return int(self.environ.get(name, default))

    def float(self, name, default):
        return float(self.environ.get(name, default))

    def bool(self, name, default=False):
        value = self.environ.get(name)
        return default if value is None else value.strip().lower() in ("1", "true", "yes", "on")


def var_dir(environ=None):
    """The directory that holds all local state (database, sockets, media, logs)."""
    return Path((environ or os.environ).get("VOXMOJI_VAR_DIR", REPO_ROOT / "var")).resolve()


def redis_socket_url(directory):
    """The Redis URL of the local stack's unix socket under `directory`."""
    return f"unix://{directory}/run/redis.sock?db=0"


def secrets_file(directory):
    """Where `make run` keeps the local stack's generated secrets (mode 0600)."""
    return Path(directory) / "secrets.env"


def load_config(environ=None):
    """Read the environment (after `.env` and the local stack's generated secrets), or the given mapping,
    into a plain dict of settings."""
    if environ is None:
        load_dotenv(REPO_ROOT / ".env", override=False)
        load_dotenv(secrets_file(var_dir()), override=False)
        environ = os.environ
    _env = _Reader(environ)
    _env_int, _env_float, _env_bool = _env.int, _env.float, _env.bool
    var = var_dir(environ)
    http_port = _env_int("VOXMOJI_HTTP_PORT", 8080)
    return {
        "ENV": _env("VOXMOJI_ENV", ""),
        "SECRET_KEY": _env("VOXMOJI_SECRET_KEY", ""),
        "VAR_DIR": str(var),
        "HTTP_PORT": http_port,
        "PUBLIC_BASE_URL": _env("PUBLIC_BASE_URL", f"http://127.0.0.1:{http_port}").rstrip("/"),
        "SQLALCHEMY_DATABASE_URI": _env("DATABASE_URL", f"sqlite:///{var}/voxmoji.db"),
        "REDIS_URL": _env("REDIS_URL", redis_socket_url(var)),
        "MEDIA_ROOT": _env("VOXMOJI_MEDIA_ROOT", str(var / "media")),
        # local (a directory on this machine) or s3 (a bucket shared by every host; docs/deploy.md)
        "MEDIA_STORAGE": _env("VOXMOJI_MEDIA_STORAGE", "local"),
        "S3_ENDPOINT_URL": _env("S3_ENDPOINT_URL", ""),
        "S3_BUCKET": _env("S3_BUCKET", ""),
        "S3_REGION": _env("S3_REGION", "us-east-1"),
        "AWS_ACCESS_KEY_ID": _env("AWS_ACCESS_KEY_ID", ""),
        "AWS_SECRET_ACCESS_KEY": _env("AWS_SECRET_ACCESS_KEY", ""),
        # s3 only: hand out presigned URLs on this base (your own media domain / CDN in front of the bucket)
        # instead of Nginx-signed URLs on the API's domain
        "MEDIA_PUBLIC_BASE": _env("MEDIA_PUBLIC_BASE", ""),
        "MEDIA_SECRET": _env("VOXMOJI_MEDIA_SECRET", ""),
        "MEDIA_URL_TTL": _env_int("VOXMOJI_MEDIA_URL_TTL", 24 * 3600),
        "MAX_CONTENT_LENGTH": _env_int("VOXMOJI_MAX_BODY_BYTES", 15 * 1024 * 1024),
        # Auth
        "JWT_ISSUER": "voxmoji",
        "JWT_AUDIENCE": "voxmoji-api",
        "JWT_TTL": _env_int("VOXMOJI_JWT_TTL", 2 * 3600),
        "REFRESH_TTL": _env_int("VOXMOJI_REFRESH_TTL", 30 * 24 * 3600),
        "DEV_LOGIN": _env_bool("VOXMOJI_DEV_LOGIN", False),
        "WECHAT_APPID": _env("WECHAT_APPID", ""),
        # Text the word list or msgSecCheck marks `review`: accept (and flag for the review queue) or reject
        "MODERATION_REVIEW": _env("VOXMOJI_MODERATION_REVIEW", "accept"),
        # Uploads and results are deleted this long after their job finished (fractions allowed); a saved
        # voice's recording stays until the voice is deleted. Checked every RETENTION_INTERVAL seconds.
        "RETENTION_HOURS": _env_float("VOXMOJI_RETENTION_HOURS", 72.0),
        "RETENTION_INTERVAL": _env_float("VOXMOJI_RETENTION_INTERVAL", 600.0),
        "WECHAT_SECRET": _env("WECHAT_SECRET", ""),
        # the message push's EncodingAESKey (43 characters): safe mode, required with WECHAT_APPID
        "WECHAT_PUSH_AES_KEY": _env("WECHAT_PUSH_AES_KEY", ""),
        "WECHAT_API_BASE": _env("WECHAT_API_BASE", "https://api.weixin.qq.com"),
        "WECHAT_TIMEOUT": _env_float("WECHAT_TIMEOUT", 5.0),
        # The token of the mini-program's message push (服务器配置 → Token): verdicts of media checks arrive
        # there, signed with it. Required with WeChat credentials.
        "WECHAT_PUSH_TOKEN": _env("WECHAT_PUSH_TOKEN", ""),
        # Media moderation of WeChat users' uploads and results (mediaCheckAsync): post = deliver at once and
        # withdraw on a risky verdict; pre = hold the result (`reviewing`) until the verdict is pass.
        "MODERATION": _env("VOXMOJI_MODERATION", "post"),
        # A check with no verdict after this long goes to the review queue for a person to decide.
        "MEDIA_CHECK_TIMEOUT": _env_float("VOXMOJI_MEDIA_CHECK_TIMEOUT", 1800.0),
        "PROXY_HOPS": _env_int("VOXMOJI_PROXY_HOPS", 1),
        # Tokens
        "SIGNUP_GRANT": _env_int("VOXMOJI_SIGNUP_GRANT", 20),
        "DAILY_FREE_TOKENS": _env_int("VOXMOJI_DAILY_FREE_TOKENS", 0),
        "RECHARGE_MAX_AMOUNT": _env_int("VOXMOJI_RECHARGE_MAX_AMOUNT", 100000),
        "RECHARGE_MAX_LINES": _env_int("VOXMOJI_RECHARGE_MAX_LINES", 1000),
        "IDEMPOTENCY_TTL": _env_int("VOXMOJI_IDEMPOTENCY_TTL", 48 * 3600),
        # Rate limits: COUNT/[N ]second|minute|hour|day, several joined by ";" (backend/ratelimit.py)
        "LIMIT_JOBS": _env("VOXMOJI_RATELIMIT_JOBS", "30/minute;1000/day"),
        "LIMIT_JOBS_PER_IP": _env("VOXMOJI_RATELIMIT_JOBS_PER_IP", "120/minute"),
        "LIMIT_LOGIN": _env("VOXMOJI_RATELIMIT_LOGIN", "20/minute"),
        "LIMIT_EXPORTS": _env("VOXMOJI_RATELIMIT_EXPORTS", "10/hour"),
        "LIMIT_REPORTS": _env("VOXMOJI_RATELIMIT_REPORTS", "30/hour"),
        # Voice input limits
        "TEXT_MAX_CHARS": _env_int("VOXMOJI_TEXT_MAX_CHARS", 200),
        "AUDIO_MAX_BYTES": _env_int("VOXMOJI_AUDIO_MAX_BYTES", 10 * 1024 * 1024),
        "AUDIO_MIN_SECONDS": _env_float("VOXMOJI_AUDIO_MIN_SECONDS", 1.0),
        "AUDIO_MAX_SECONDS": _env_float("VOXMOJI_AUDIO_MAX_SECONDS", 30.0),
        "FFMPEG_TIMEOUT": _env_float("VOXMOJI_FFMPEG_TIMEOUT", 20.0),
        # Image input and sticker output
        "IMAGE_MAX_BYTES": _env_int("VOXMOJI_IMAGE_MAX_BYTES", 10 * 1024 * 1024),
        "IMAGE_MAX_PIXELS": _env_int("VOXMOJI_IMAGE_MAX_PIXELS", 40_000_000),
        # Photos decode in the web tier one (or a few) at a time per process: a memory ceiling per process
        "IMAGE_DECODES_PER_PROCESS": _env_int("VOXMOJI_IMAGE_DECODES_PER_PROCESS", 1),
        "IMAGE_DECODE_WAIT": _env_float("VOXMOJI_IMAGE_DECODE_WAIT", 30.0),
        "CAPTION_MAX_CHARS": _env_int("VOXMOJI_CAPTION_MAX_CHARS", 40),
        "GIF_MAX_BYTES": _env_int("VOXMOJI_GIF_MAX_BYTES", 500 * 1024),
        "AI_LABEL": _env_bool("VOXMOJI_AI_LABEL", True),
        # the audible label of speech results (renders/audible_label.py): off, start or end
        "AUDIO_LABEL": _env("VOXMOJI_AUDIO_LABEL", "off"),
        "COST_STICKER": _env_int("VOXMOJI_COST_STICKER", 1),
        "COST_ANIMATED_STICKER": _env_int("VOXMOJI_COST_ANIMATED_STICKER", 2),
        "COST_SWAP": _env_int("VOXMOJI_COST_SWAP", 1),
        # Engines. A worker serves what VOXMOJI_WORKER_ENGINES names (`auto`: the best engine of each family
        # that can run on its machine, or e.g. `tts:cosyvoice3,sticker:sd-lora`); the web tier routes each
        # request by the live workers and a policy per family: best | gpu | embedded (docs/deploy.md).
        "WORKER_ENGINES": _env("VOXMOJI_WORKER_ENGINES", "auto"),
        "ENGINE_POLICY_TTS": _env("VOXMOJI_ENGINE_POLICY_TTS", "best"),
        "ENGINE_POLICY_STICKER": _env("VOXMOJI_ENGINE_POLICY_STICKER", "best"),
        # a queued or orphaned job whose engine has had no live worker for this long fails (hold released)
        "ENGINE_WAIT_SECONDS": _env_int("VOXMOJI_ENGINE_WAIT_SECONDS", 600),
        "ENGINE_RETRY_AFTER": _env_int("VOXMOJI_ENGINE_RETRY_AFTER", 30),
        "VOICE_PROFILE_DIR": _env("VOXMOJI_VOICE_PROFILE_DIR", str(var / "cache" / "voice-profiles")),
        # CosyVoice3 (GPU voice engine); see models/README.md
        "COSYVOICE_ROOT": _env("COSYVOICE_ROOT", ""),
        "COSYVOICE_MODEL_DIR": _env("COSYVOICE_MODEL_DIR", str(REPO_ROOT / "models" / "Fun-CosyVoice3-0.5B")),
        "COSYVOICE_FP16": _env_bool("COSYVOICE_FP16", True),
        "COSYVOICE_TRT": _env_bool("COSYVOICE_TRT", False),
        "COSYVOICE_VLLM": _env_bool("COSYVOICE_VLLM", False),
        "COSYVOICE_TIMEOUT": _env_float("COSYVOICE_TIMEOUT", 120.0),
        # cuda, or cpu: an operator's explicit (slow) choice to serve cosyvoice3 without a GPU, and the tests'
        # mellotron-zh (opt-in): the converted weights (`make mellotron`), the decoder's stop budget, threads
        "MELLOTRON_MODEL_DIR": _env("MELLOTRON_MODEL_DIR", str(REPO_ROOT / "models" / "mellotron-zh")),
        "MELLOTRON_MAX_FRAMES_PER_SYLLABLE": _env_int("MELLOTRON_MAX_FRAMES_PER_SYLLABLE", 30),
        "MELLOTRON_THREADS": _env_int("MELLOTRON_THREADS", 1),
        "MELLOTRON_QUANTIZE": _env_bool("MELLOTRON_QUANTIZE", True),  # int8 decoder: about 2.5x faster
        "COSYVOICE_DEVICE": _env("COSYVOICE_DEVICE", "cuda"),
        # shared by every worker (put it on shared storage when workers run on several machines)
        "COSYVOICE_SPEAKER_DIR": _env("COSYVOICE_SPEAKER_DIR", str(var / "cache" / "cosyvoice-speakers")),
        # Stable Diffusion + LoRA (GPU sticker engine); see models/README.md
        "SD_MODEL_DIR": _env("SD_MODEL_DIR", str(REPO_ROOT / "models" / "stable-diffusion")),
        "SD_ARCH": _env("SD_ARCH", "sd15"),
        "SD_LORA_DIR": _env("SD_LORA_DIR", str(REPO_ROOT / "models" / "loras")),
        "SD_FIXED_STYLE": _env("SD_FIXED_STYLE", ""),
        "SD_LCM_LORA": _env("SD_LCM_LORA", ""),
        "SD_STEPS": _env_int("SD_STEPS", 30),
        "SD_STRENGTH": _env_float("SD_STRENGTH", 0.5),
        "SD_GUIDANCE": _env_float("SD_GUIDANCE", 7.0),
        "SD_SEED": _env_int("SD_SEED", 20261121),
        "SD_SIZE": _env_int("SD_SIZE", 512),
        "SD_DEVICE": _env("SD_DEVICE", "cuda"),
        # Speech recognition (FunASR), to check consent recordings; see models/README.md
        "ASR_MODEL_DIR": _env("ASR_MODEL_DIR", str(REPO_ROOT / "models" / "SenseVoiceSmall")),
        "ASR_DEVICE": _env("ASR_DEVICE", "cpu"),
        # Consent to voice cloning (docs/API.md, "Consent"): auto = speech recognition when a worker serves it,
        # else the review queue; review = always a moderator; none = usable at once, marked unverified (only a
        # stack that does not look public; the dev mode's default)
        "CONSENT_CHECK": _env("VOXMOJI_CONSENT_CHECK", ""),
        "CONSENT_MAX_CER": _env_float("VOXMOJI_CONSENT_MAX_CER", 0.2),
        "CONSENT_CHECK_SECONDS": _env_float("VOXMOJI_CONSENT_CHECK_SECONDS", 20.0),
        # The seed-compatible POST /tts clones inline audio without a consent field: on in the dev mode only,
        # unless the operator turns it on (docs/API.md)
        "SEED_TTS_CLONING": _env("VOXMOJI_SEED_TTS_CLONING", ""),
        # Jobs
        "JOB_SOFT_TIME_LIMIT": _env_int("VOXMOJI_JOB_SOFT_TIME_LIMIT", 120),
        "JOB_HARD_TIME_LIMIT": _env_int("VOXMOJI_JOB_HARD_TIME_LIMIT", 150),
        "JOB_MAX_ATTEMPTS": _env_int("VOXMOJI_JOB_MAX_ATTEMPTS", 3),
        "JOB_LEASE_SECONDS": _env_int("VOXMOJI_JOB_LEASE_SECONDS", 15),
        "JOB_REQUEUE_AFTER": _env_int("VOXMOJI_JOB_REQUEUE_AFTER", 300),
        "SWEEP_INTERVAL": _env_float("VOXMOJI_SWEEP_INTERVAL", 30.0),
        "WAIT_MAX_SECONDS": 20,
        # Long-polls (?wait=N): how many may wait at once per web process and per user; others answer at once
        "WAIT_SLOTS_PER_PROCESS": _env_int("VOXMOJI_WAIT_SLOTS_PER_PROCESS", 4),
        "WAITS_PER_USER": _env_int("VOXMOJI_WAITS_PER_USER", 2),
        # A speech stream whose reader takes nothing for this long is cut by Nginx and frees its slot (s)
        "STREAM_SEND_TIMEOUT": _env_int("VOXMOJI_STREAM_SEND_TIMEOUT", 10),
        "SEED_TTS_WAIT": _env_int("VOXMOJI_SEED_TTS_WAIT", 60),
        "CACHE_TTL": _env_int("VOXMOJI_CACHE_TTL", 7 * 24 * 3600),
        # Costs (tokens per job; cache hits cost 0)
        "COST_TTS_PER_CHARS": _env_int("VOXMOJI_COST_TTS_PER_CHARS", 50),
        "COST_SD_STICKER": _env_int("VOXMOJI_COST_SD_STICKER", 2),
    }


DEV_MODES = ("development", "dev")
SECRET_NAMES = {"SECRET_KEY": "VOXMOJI_SECRET_KEY", "MEDIA_SECRET": "VOXMOJI_MEDIA_SECRET"}
MIN_SECRET_BYTES = 32
# Used only in the explicit dev mode (VOXMOJI_ENV=development) when no secret is configured.
DEV_SECRETS = {"SECRET_KEY": "dev-only-jwt-secret-never-use-in-production-000",
               "MEDIA_SECRET": "dev-only-media-secret-never-use-in-production-0"}


def production_signs(config):
    """Why this configuration looks like production (empty when it does not)."""
    signs = []
    if _env_name(config).startswith("prod"):
        signs.append(f"VOXMOJI_ENV={config['ENV']}")
    if config["WECHAT_APPID"] or config["WECHAT_SECRET"]:
        signs.append("WeChat credentials are set")
    host = (urlparse(config["PUBLIC_BASE_URL"]).hostname or "").lower()
    if host not in ("127.0.0.1", "localhost", "::1", ""):
        signs.append(f"PUBLIC_BASE_URL is {config['PUBLIC_BASE_URL']}")
    if config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        signs.append("the database is PostgreSQL")
    return signs


def looks_public(config):
    """Why this stack looks reachable by the public (empty when it does not): a production VOXMOJI_ENV, WeChat
    credentials, or a PUBLIC_BASE_URL other than this machine."""
    return [sign for sign in production_signs(config) if "PostgreSQL" not in sign]


def _env_name(config):
    return (config["ENV"] or "").strip().lower()


def dev_mode(config):
    """The explicit dev mode: VOXMOJI_ENV=development and nothing that looks like production."""
    return _env_name(config) in DEV_MODES and not production_signs(config)


def check_config(config, secrets=tuple(SECRET_NAMES)):
    """Refuse combinations that are unsafe, with a message saying what to change; fills the dev-mode secrets.
    `secrets`: the ones this process needs (all by default; Nginx only signs media URLs)."""
    signs = production_signs(config)
    production = not dev_mode(config)
    public = looks_public(config)
    on_postgres = config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql")
    if config["DEV_LOGIN"] and (public or (on_postgres and _env_name(config) not in DEV_MODES)):
        why = "; ".join(public) or "the database is PostgreSQL and VOXMOJI_ENV is not development"
        raise RuntimeError(
            f"VOXMOJI_DEV_LOGIN=1 maps any code to a user and must not run where the public reaches ({why}): "
            "unset VOXMOJI_DEV_LOGIN, or run a local stack (VOXMOJI_ENV=development, PUBLIC_BASE_URL on this machine, "
            "no WeChat credentials)."
        )
    if config["MEDIA_STORAGE"] not in ("local", "s3"):
        raise RuntimeError(f"VOXMOJI_MEDIA_STORAGE={config['MEDIA_STORAGE']!r}: use local or s3.")
    if config["MEDIA_STORAGE"] == "s3" and not config["S3_BUCKET"]:
        raise RuntimeError("VOXMOJI_MEDIA_STORAGE=s3 needs S3_BUCKET (and S3_ENDPOINT_URL unless it is AWS S3).")
    for family in ("TTS", "STICKER"):
        if config[f"ENGINE_POLICY_{family}"] not in POLICIES:
            raise RuntimeError(f"VOXMOJI_ENGINE_POLICY_{family}={config[f'ENGINE_POLICY_{family}']!r}: use best, gpu "
                               "or embedded.")
    if config["MODERATION_REVIEW"] not in ("accept", "reject"):
        raise RuntimeError(f"VOXMOJI_MODERATION_REVIEW={config['MODERATION_REVIEW']!r}: use accept or reject.")
    if config["WECHAT_APPID"] and not config["WECHAT_SECRET"]:
        raise RuntimeError("WECHAT_APPID is set but WECHAT_SECRET is not; set both (from the mini-program's console).")
    config["CONSENT_CHECK"] = config["CONSENT_CHECK"] or ("none" if dev_mode(config) else "auto")
    if config["CONSENT_CHECK"] not in ("auto", "review", "none"):
        raise RuntimeError(f"VOXMOJI_CONSENT_CHECK={config['CONSENT_CHECK']!r}: use auto, review or none.")
    if config["CONSENT_CHECK"] == "none" and looks_public(config):
        raise RuntimeError("VOXMOJI_CONSENT_CHECK=none saves voices with unchecked consent and must not run on a "
                           f"public stack ({'; '.join(looks_public(config))}): use auto or review.")
    if not isinstance(config["SEED_TTS_CLONING"], bool):
        setting = str(config["SEED_TTS_CLONING"] or "").strip().lower()
        config["SEED_TTS_CLONING"] = setting in ("1", "true", "yes", "on") if setting else dev_mode(config)
    if config["AUDIO_LABEL"] not in ("off", "start", "end"):
        raise RuntimeError(f"VOXMOJI_AUDIO_LABEL={config['AUDIO_LABEL']!r}: use off, start or end.")
    if config["MODERATION"] not in ("post", "pre"):
        raise RuntimeError(f"VOXMOJI_MODERATION={config['MODERATION']!r}: use post or pre.")
    for key, variable in SECRET_NAMES.items():
        if key not in secrets:
            continue
        value = config[key] or ""
        if not value and not production:
            config[key] = DEV_SECRETS[key]
            continue
        if not value:
            why = "; ".join(signs) or f"VOXMOJI_ENV is {config['ENV'] or 'unset'} (only VOXMOJI_ENV=development " \
                                     "may use built-in secrets)"
            raise RuntimeError(f"{variable} is not set and this is not the dev mode ({why}). Set {variable} to a "
                               f"random value of at least {MIN_SECRET_BYTES} bytes, e.g. "
                               "`python -c 'import secrets; print(secrets.token_urlsafe(48))'`.")
        if len(value.encode()) < MIN_SECRET_BYTES:
            raise RuntimeError(f"{variable} has {len(value.encode())} bytes; use at least {MIN_SECRET_BYTES} random "
                               "bytes, e.g. `python -c 'import secrets; print(secrets.token_urlsafe(48))'`.")
        if production and value == DEV_SECRETS[key]:
            raise RuntimeError(f"{variable} is the built-in dev secret; set a random one for this deployment.")
    if config["WECHAT_APPID"] and len(config["WECHAT_PUSH_TOKEN"]) < 3:
        raise RuntimeError("WECHAT_APPID is set but WECHAT_PUSH_TOKEN is not: media moderation verdicts arrive by "
                           "message push. Set it to the Token of 开发管理 → 消息推送 (3-32 letters and digits) and "
                           "point the push URL at https://<your host>/api/v1/wechat/push (JSON, safe mode).")
    if config["WECHAT_APPID"] and len(config.get("WECHAT_PUSH_AES_KEY") or "") != 43:
        raise RuntimeError("WECHAT_APPID is set but WECHAT_PUSH_AES_KEY is not a 43-character EncodingAESKey: the "
                           "message push must run in safe mode (安全模式), its body encrypted and signed. Generate "
                           "the EncodingAESKey in 开发管理 → 消息推送, choose 安全模式 and set WECHAT_PUSH_AES_KEY.")
