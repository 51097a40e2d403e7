"""Rate limits per user and per client address: every window a request is under (say 30/minute and 1000/day
per user, 120/minute per address) checked and counted in one Redis round trip, by a Lua script keeping a
sliding-window counter per window; the same round trip reads what else the request needs from Redis first (the
account's stamp, for the token guard in auth.py). A refused request is 429 `rate_limited` with `Retry-After` and
is counted nowhere; nothing it asked for is created. With Redis down requests are served without limits (Redis
is the truth for nothing)."""
import functools
import re
import secrets
import time

from flask import current_app, g, request
from redis.exceptions import NoScriptError

from backend.errors import ApiError
from backend.extensions import get_redis

_PREFIX = "vm-rl:"
STAMP_SECONDS = 24 * 3600  # a stamp not read for a day expires; the next read sets a fresh one
_UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
_RULE = re.compile(r"^\s*(\d+)\s*(?:/|per)\s*(\d*)\s*(second|minute|hour|day)s?\s*$")

# KEYS: one counter prefix per window, then the stamps to read; ARGV: now, how many stamps, a fresh stamp value
# and the stamps' lifetime, then (limit, window seconds) per window. A window's estimate is the current bucket's
# count plus the previous bucket's, weighted by how much of it the window still covers. Either every window admits
# the request and each counts it ({0, 0, the stamps...}), or none counts it and the first refusal is returned with
# the seconds until its current bucket ends. A missing stamp (never set, expired, or lost with Redis) is set to the
# fresh value, so a stamp never comes back to a value a copy was made under.
_SCRIPT = """
local now, stamps, fresh, stamp_ttl = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4])
local windows = #KEYS - stamps
for i = 1, windows do
  local limit, window = tonumber(ARGV[3 + 2 * i]), tonumber(ARGV[4 + 2 * i])
  local bucket = math.floor(now / window)
  local current = tonumber(redis.call('GET', KEYS[i] .. bucket) or '0')
  local previous = tonumber(redis.call('GET', KEYS[i] .. (bucket - 1)) or '0')
  local covered = 1 - (now - bucket * window) / window
  if current + previous * covered + 1 > limit then
    return {i, math.max(1, math.ceil((bucket + 1) * window - now))}
  end
end
for i = 1, windows do
  local window = tonumber(ARGV[4 + 2 * i])
  local counter = KEYS[i] .. math.floor(now / window)
  if redis.call('INCR', counter) == 1 then
    redis.call('EXPIRE', counter, 2 * window)
  end
end
local answer = {0, 0}
for i = windows + 1, #KEYS do
  local stamp = redis.call('GET', KEYS[i])
  if not stamp then
    stamp = fresh
    redis.call('SET', KEYS[i], stamp, 'EX', stamp_ttl)
  end
  answer[#answer + 1] = stamp
end
return answer
"""
_script = {"sha": None}


@functools.lru_cache(maxsize=64)
def parse(rules):
    """'30/minute;1000/day' -> ((30, 60), (1000, 86400)); also '5/10 minutes', '20 per hour'. Kept per rule
    string: requests ask for the same few."""
    windows = []
    for rule in filter(str.strip, rules.split(";")):
        match = _RULE.match(rule)
        if match is None:
            raise ValueError(f"rate limit {rule!r} is not COUNT/[N ]second|minute|hour|day")
        count, many, unit = match.groups()
        windows.append((int(count), int(many or 1) * _UNITS[unit]))
    return tuple(windows)


def _client_address():
    return request.remote_addr or "unknown"  # behind Nginx: the client's, as ProxyFix sets it


PER_USER, PER_ADDRESS = "user", "address"


def _identity(who, user_id):
    if who == PER_ADDRESS:
        return _client_address()
    if user_id is None:
        user = g.get("flask_httpauth_user")  # the account the endpoint's HTTPTokenAuth let in
        user_id = user.id if user is not None else None
    return f"user:{user_id}" if user_id else f"addr:{_client_address()}"


def checks_of(endpoint):
    """The limits the view of an endpoint declared with `limited` (none for most)."""
    return getattr(current_app.view_functions.get(endpoint), "rate_checks", ())


def admit(checks, user_id=None, stamps=()):
    """Count a request under every (scope, config key, PER_USER or PER_ADDRESS) it is limited by, and read the
    stamps (Redis keys; one missing is set to a fresh value, see the script), in one round trip. Raises 429
    rate_limited if one of the windows is full; returns the stamps' values, or None when Redis could not be
    asked."""
    config = current_app.config
    keys, args = [], []
    for scope, config_key, who in checks:
        for limit, window in parse(config[config_key]):
            keys.append(f"{_PREFIX}{scope}:{_identity(who, user_id)}:{window}:")
            args += [limit, window]
    if not keys and not stamps:
        return []
    try:
        refused, retry_after, *values = _run(keys + list(stamps),
                                             [time.time(), len(stamps), fresh_stamp(), STAMP_SECONDS, *args])
    except Exception:  # noqa: BLE001 - Redis down: serve without limits rather than refuse everyone
        current_app.logger.warning("rate limits not checked (Redis unavailable)", exc_info=True)
        return None
    if refused:
        raise ApiError("rate_limited", "Too many requests; wait a moment and try again.",
                       headers={"Retry-After": str(int(retry_after))})
    g.rate_admitted = tuple(checks)  # the limiting wrapper of these checks need not count them again
    return values


def fresh_stamp():
    """A stamp value that never repeats (so no copy made under an old one is ever trusted again)."""
    return secrets.token_hex(8)


def _run(keys, args):
    redis = get_redis()
    try:
        if _script["sha"] is None:
            _script["sha"] = redis.script_load(_SCRIPT)
        return redis.evalsha(_script["sha"], len(keys), *keys, *args)
    except NoScriptError:  # a restarted or flushed Redis forgot the script: load it again
        _script["sha"] = redis.script_load(_SCRIPT)
        return redis.evalsha(_script["sha"], len(keys), *keys, *args)


def limited(*checks):
    """Decorate a view (inside its authentication) with the limits `checks`: (scope, config key, PER_USER or
    PER_ADDRESS) each, all counted in one round trip before the view reads its request. The access-token guard
    counts them in the round trip it makes anyway (auth.py); other guards leave it to this wrapper."""
    def decorate(view):
        @functools.wraps(view)
        def checked(*args, **kwargs):
            if g.pop("rate_admitted", None) != checks:
                admit(checks)
            return view(*args, **kwargs)
        checked.rate_checks = checks  # found on the endpoint's view: the wrappers around it copy it up
        return checked
    return decorate


# Job creation (and saving a voice, which runs ffmpeg in the web tier) per user and per client address.
job_limit = limited(("jobs-user", "LIMIT_JOBS", PER_USER), ("jobs-ip", "LIMIT_JOBS_PER_IP", PER_ADDRESS))
login_limit = limited(("login", "LIMIT_LOGIN", PER_ADDRESS))  # logins per client address
export_limit = limited(("export", "LIMIT_EXPORTS", PER_USER))  # data exports per user: a few an hour
report_limit = limited(("report", "LIMIT_REPORTS", PER_USER))  # reports per user


def check_config(config):
    """Every rate limit in the configuration (the LIMIT_* keys) parses: a typo stops the app at start, not at the
    first request."""
    for key in config:
        if key.startswith("LIMIT_"):
            parse(config[key])
