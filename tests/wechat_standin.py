"""A local server that speaks WeChat's server protocol (jscode2session, stable_token, msgSecCheck v2,
mediaCheckAsync v2 with its message push): the one service beyond this machine, replaced in the tests."""
import base64
import contextlib
import hashlib
import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlparse

import requests

SLOW_ANSWER_SECONDS = 4  # the stand-in's "slow" code: above the client's timeout

APPID, SECRET, PUSH_TOKEN = "wx0123456789abcdef", "test-app-secret", "testpushtoken"
PUSH_AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"  # EncodingAESKey: 43 characters


def encrypted_push(event, appid=APPID, key=PUSH_AES_KEY, token=PUSH_TOKEN, timestamp=None):
    """`(query, body)` of a push in safe mode as WeChat sends it: the JSON event AES-256-CBC encrypted (16 random
    bytes, its length, it, the appid; PKCS#7 to 32 bytes) in `Encrypt`, and msg_signature over it."""
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    aes = base64.b64decode(key + "=")
    message = json.dumps(event).encode()
    plain = secrets.token_bytes(16) + len(message).to_bytes(4, "big") + message + appid.encode()
    pad = 32 - len(plain) % 32
    encryptor = Cipher(algorithms.AES(aes), modes.CBC(aes[:16])).encryptor()
    encrypted = base64.b64encode(encryptor.update(plain + bytes([pad]) * pad) + encryptor.finalize()).decode()
    query = signed_query(token, timestamp)
    query.update(encrypt_type="aes", msg_signature=hashlib.sha1("".join(sorted(
        (token, query["timestamp"], query["nonce"], encrypted))).encode()).hexdigest())
    return query, {"ToUserName": "gh_0123456789ab", "Encrypt": encrypted}


def signed_query(token=PUSH_TOKEN, timestamp=None):
    """The query WeChat signs a push with: sha1 of token, timestamp and nonce, sorted and joined."""
    timestamp = str(int(time.time()) if timestamp is None else timestamp)
    nonce = str(secrets.randbelow(10**9))
    signature = hashlib.sha1("".join(sorted((token, timestamp, nonce))).encode()).hexdigest()
    return {"signature": signature, "timestamp": timestamp, "nonce": nonce}


def media_check_event(trace_id, suggest, label=100):
    """A `wxa_media_check` push body, as WeChat sends it (JSON, plaintext mode)."""
    return {"ToUserName": "gh_0123456789ab", "FromUserName": "o_push", "CreateTime": int(time.time()),
            "MsgType": "event", "Event": "wxa_media_check", "appid": APPID, "trace_id": trace_id, "version": 2,
            "result": {"suggest": suggest, "label": label},
            "detail": [{"strategy": "content_model", "errcode": 0, "suggest": suggest, "label": label, "prob": 90}]}


class WeChatStandIn(BaseHTTPRequestHandler):
    """jscode2session, stable_token and msgSecCheck, with WeChat's error codes, selected by what is sent."""

    calls = []
    tokens = []  # access tokens it issued
    expired = set()  # ... and those it now calls expired
    # Where media check verdicts are pushed. WeChat pushes to the URL configured for the app; with several
    # stacks in one test session the stand-in pushes to the /api/v1/wechat/push of the host the file came from.
    media_checks = {}  # trace_id -> {openid, media_type, url, status, bytes, verdict, pushes}

    def _answer(self, body, status=200):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):  # noqa: N802
        url = urlparse(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        WeChatStandIn.calls.append((url.path, query))
        if url.path != "/sns/jscode2session":
            return self._answer({"errcode": 404, "errmsg": "not found"}, 404)
        if query.get("appid") != APPID or query.get("secret") != SECRET or query.get("grant_type") != "authorization_code":
            return self._answer({"errcode": 40013, "errmsg": "invalid appid"})
        code = query.get("js_code", "")
        if code.startswith("good-"):
            return self._answer({"openid": "o_" + code[5:], "session_key": "sk==", "unionid": "u_" + code[5:]})
        if code == "busy":
            return self._answer({"errcode": 45011, "errmsg": "api minute-quota reach limit"})
        if code == "slow":
            time.sleep(SLOW_ANSWER_SECONDS)  # WeChat answering later than our client waits
            return self._answer({"openid": "o_slow", "session_key": "sk=="})
        if code == "garbage":
            self.send_response(502)
            self.end_headers()
            return self.wfile.write(b"<html>bad gateway</html>")
        return self._answer({"errcode": 40029, "errmsg": "invalid code"})

    def do_POST(self):  # noqa: N802
        length = int(self.headers.get("Content-Length", 0))
        body = json.loads(self.rfile.read(length) or b"{}")
        WeChatStandIn.calls.append((self.path, body))
        url = urlparse(self.path)
        if url.path == "/cgi-bin/stable_token" and body.get("appid") == APPID and body.get("secret") == SECRET:
            time.sleep(0.2)  # slow enough that concurrent callers would all fetch without the lock
            token = f"token-{len(WeChatStandIn.calls)}"
            WeChatStandIn.tokens.append(token)
            return self._answer({"access_token": token, "expires_in": 7200})
        if url.path == "/wxa/msg_sec_check":
            return self._answer(self._msg_sec_check(parse_qs(url.query).get("access_token", [""])[0], body))
        if url.path == "/wxa/media_check_async":
            return self._answer(self._media_check_async(parse_qs(url.query).get("access_token", [""])[0], body))
        return self._answer({"errcode": 40013, "errmsg": "invalid appid"})

    def _msg_sec_check(self, token, body):
        """msgSecCheck v2: a token it expired is 42001; the verdict follows marker words in the content."""
        if token not in WeChatStandIn.tokens or token in WeChatStandIn.expired:
            return {"errcode": 42001, "errmsg": "access_token expired"}
        if body.get("version") != 2 or not body.get("openid") or body.get("scene") not in (1, 2, 3, 4):
            return {"errcode": 47001, "errmsg": "data format error"}
        content = body.get("content", "")
        suggest, label = ("risky", 20002) if "风险样例" in content else ("review", 20012) if "复核样例" in content \
            else ("pass", 100)
        return {"errcode": 0, "errmsg": "ok", "trace_id": f"trace-{len(WeChatStandIn.calls)}",
                "result": {"suggest": suggest, "label": label}, "detail": []}

    def _media_check_async(self, token, body):
        """mediaCheckAsync v2: accept the check, then (in the background) download the file as WeChat does and
        push the verdict to push_url. The verdict follows the openid: `risky`/`review` in it give those, `hold`
        keeps the verdict until the test calls `release`; anyone else passes."""
        if token not in WeChatStandIn.tokens or token in WeChatStandIn.expired:
            return {"errcode": 42001, "errmsg": "access_token expired"}
        if (body.get("version") != 2 or not body.get("openid") or body.get("scene") not in (1, 2, 3, 4)
                or body.get("media_type") not in (1, 2) or not str(body.get("media_url", "")).startswith("http")):
            return {"errcode": 47001, "errmsg": "data format error"}
        trace_id = f"{secrets.token_hex(4)}-{secrets.token_hex(4)}-{secrets.token_hex(4)}"
        openid = body["openid"]
        verdict = "risky" if "risky" in openid else "review" if "review" in openid else None if "hold" in openid \
            else "pass"
        check = {"openid": openid, "media_type": body["media_type"], "url": body["media_url"], "status": None,
                 "bytes": None, "content_type": None, "verdict": verdict, "pushes": []}
        WeChatStandIn.media_checks[trace_id] = check
        threading.Thread(target=_download_and_push, args=(trace_id,), daemon=True).start()
        return {"errcode": 0, "errmsg": "ok", "trace_id": trace_id}

    def log_message(self, *args):
        pass


def _download_and_push(trace_id):
    check = WeChatStandIn.media_checks[trace_id]
    time.sleep(0.3)  # WeChat answers the call first, the verdict comes later
    try:
        response = requests.get(check["url"], timeout=10)
        check.update(status=response.status_code, bytes=len(response.content),
                     content_type=response.headers.get("Content-Type"))
    except requests.RequestException as error:
        check.update(status=str(error))
    if check["verdict"] is not None:
        push(trace_id, check["verdict"])


def push(trace_id, suggest, label=None):
    """Push a verdict to push_url the way WeChat does (signed query, JSON body; retried up to 3 times when not
    answered `success`). Returns the HTTP statuses of the attempts."""
    check = WeChatStandIn.media_checks[trace_id]
    label = label if label is not None else {"pass": 100, "review": 20012, "risky": 20002}[suggest]
    for _attempt in range(3):
        try:
            origin = "{0.scheme}://{0.netloc}".format(urlparse(check["url"]))
            query, body = encrypted_push(media_check_event(trace_id, suggest, label))
            response = requests.post(f"{origin}/api/v1/wechat/push?{urlencode(query)}", json=body, timeout=10)
            check["pushes"].append(response.status_code)
            if response.status_code == 200 and response.text == "success":
                break
        except requests.RequestException:
            check["pushes"].append(None)
        time.sleep(0.5)
    return check["pushes"]


def release(openid, suggest):
    """Push the held verdict of every check of this user (the `hold` users)."""
    held = [trace for trace, check in list(WeChatStandIn.media_checks.items())
            if check["openid"] == openid and check["verdict"] is None]
    for trace_id in held:
        WeChatStandIn.media_checks[trace_id]["verdict"] = suggest
        push(trace_id, suggest)
    return held


@contextlib.contextmanager
def serve():
    """Run the stand-in on a free port; yields its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), WeChatStandIn)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
