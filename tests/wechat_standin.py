"""A local server that speaks WeChat's server protocol (jscode2session, stable_token, msgSecCheck v2): the one
service beyond this machine, replaced in the tests."""
import contextlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

APPID, SECRET = "wx0123456789abcdef", "test-app-secret"


class WeChatStandIn(BaseHTTPRequestHandler):
    """jscode2session, stable_token and msgSecCheck, with WeChat's error codes, selected by what is sent."""

    calls = []
    tokens = []  # access tokens it issued
    expired = set()  # ... and those it now calls expired

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
            time.sleep(4)
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

    def log_message(self, *args):
        pass


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
