"""The operator console (/admin/) in a real browser (Playwright, Debian's chromium) against a WeChat stack
with VOXMOJI_MODERATION=pre: sign-in with TOTP, CSRF, roles, review decisions that change what the user's API
returns, idempotent recharges, and a template uploaded in the console used by the API at once. Screenshots of
every page go to tests/artifacts/console-*.png."""
import re
import subprocess
import sys
import time

import pyotp
import pytest
import requests
from api_client import Api, task_of
from media_samples import astronaut_photo, encode_image
from polling import outlast_refresh, wait_for
from stack_process import REPO

ARTIFACTS = REPO / "tests" / "artifacts"
PASSWORD = "correct horse battery staple"


def create_operator(stack, role):
    username = f"{role}-{time.monotonic_ns()}"
    done = subprocess.run([sys.executable, "-m", "flask", "--app", "backend", "create-admin", "--username", username,
                           "--role", role, "--password", PASSWORD], cwd=REPO, env=stack.env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    secret = re.search(r"TOTP secret: (\w+)", done.stdout).group(1)
    assert "otpauth://totp/" in done.stdout
    return username, secret


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright
    from test_h5_browser import CHROMIUM

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-sync"])
        yield browser
        browser.close()


def sign_in(browser, stack, role):
    username, secret = create_operator(stack, role)
    context = browser.new_context(base_url=stack.base_url, viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    page.goto("/admin/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("#login-form button")
    page.wait_for_selector("#totp-form")
    if role == "admin":
        shot(page, "login-totp")
    page.fill("input[name=code]", pyotp.TOTP(secret).now())
    page.click("#totp-form button")
    page.wait_for_url("**/admin/dashboard")
    return page


@pytest.fixture(scope="module")
def admin(browser, pre_stack):
    page = sign_in(browser, pre_stack, "admin")
    yield page
    page.context.close()


def shot(page, name):
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"console-{name}.png"), full_page=True)


def test_sign_in_needs_password_and_totp(admin, pre_stack):
    assert "概览" in admin.inner_text("nav") and "充值" in admin.inner_text("nav")
    assert "在线 Worker" in admin.inner_text("main")
    cookie = next(c for c in admin.context.cookies() if c["name"] == "voxmoji_console")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/admin"


def test_post_without_csrf_token_is_refused(admin):
    refused = admin.request.post("/admin/words", form={"word": "绕过样词", "label": "abuse", "action": "risky"})
    assert refused.status == 400 and "CSRF" in refused.text()
    admin.goto("/admin/words")
    assert "绕过样词" not in admin.inner_text("main")


def test_wrong_codes_lock_the_account(pre_stack):
    username, secret = create_operator(pre_stack, "finance")
    session = requests.Session()

    def attempt(password):
        token = re.search(r'name="csrf_token" value="([^"]+)"', session.get(pre_stack.base_url + "/admin/login").text)
        return session.post(pre_stack.base_url + "/admin/login", allow_redirects=False, timeout=10, data={
            "csrf_token": token.group(1), "username": username, "password": password})

    for _ in range(5):
        assert attempt("wrong password!").status_code == 401
    locked = attempt(PASSWORD)
    assert locked.status_code == 401  # the right password no longer opens it, from this address
    assert "锁定 15 分钟" in locked.text
    assert pyotp.TOTP(secret).now()  # (the second factor is never reached)


def test_moderator_sees_only_moderation_pages(browser, pre_stack):
    page = sign_in(browser, pre_stack, "moderator")
    try:
        assert "充值" not in page.inner_text("nav") and "审核队列" in page.inner_text("nav")
        response = page.goto("/admin/recharges")
        assert response.status == 403 and "无权访问" in page.inner_text("main")
        assert page.goto("/admin/keys").status == 403
        assert page.goto("/admin/review").status == 200
    finally:
        page.context.close()


def _reviewed_sticker(stack, text):
    """A user whose sticker WeChat sends to human review (the stand-in's `review` users): under `pre` it waits."""
    api = Api(stack.base_url, f"good-review-{time.monotonic_ns()}")
    task_id = api.post("/api/v1/emoji", json={"template_id": "panda", "text": text}).json()["task_id"]
    wait_for(lambda: stack.query("SELECT id FROM review_items WHERE job_id = :j AND status = 'open'", j=task_id),
             timeout=60)
    assert api.get(f"/api/v1/tasks/{task_id}").json()["status"] == "reviewing"
    return api, task_id


def test_approve_delivers_and_reject_withdraws(admin, pre_stack):
    approved_api, approved_id = _reviewed_sticker(pre_stack, "通过样例")
    rejected_api, rejected_id = _reviewed_sticker(pre_stack, "驳回样例")
    admin.goto("/admin/review")
    assert "通过样例" in admin.inner_text("#queue") and admin.locator("#queue img.preview").count() >= 2
    shot(admin, "review")
    [approved_item] = pre_stack.query("SELECT id FROM review_items WHERE job_id = :j", j=approved_id)
    [rejected_item] = pre_stack.query("SELECT id FROM review_items WHERE job_id = :j", j=rejected_id)
    # approve with the keyboard: focus the item, press A
    admin.click(f"#item-{approved_item['id']} .meta")
    admin.keyboard.press("a")
    admin.wait_for_selector("p.flash.ok")
    task = approved_api.wait_task(approved_id, timeout=30)
    assert task["status"] == "succeeded" and requests.get(task["result"]["url"], timeout=10).status_code == 200
    # reject with a reason and block the user
    item = admin.locator(f"#item-{rejected_item['id']}")
    item.locator("input.reason").fill("低俗内容")
    item.locator("input.block").check()
    item.locator("form.reject button").click()
    admin.wait_for_selector("p.flash.ok")
    assert rejected_api.get("/api/v1/me").status_code == 403  # blocked at once
    job = pre_stack.job(rejected_id)
    assert job["status"] == "blocked" and "低俗内容" in job["error_message"] and job["charge"] == "released"
    actions = [row["action"] for row in pre_stack.query("SELECT action FROM audit_log ORDER BY id")]
    assert {"review_approve", "review_reject", "block"} <= set(actions)


def test_the_queue_previews_a_packs_stickers(admin, pre_stack):
    api = Api(pre_stack.base_url, f"good-review-{time.monotonic_ns()}")
    task_id = api.post("/api/v1/packs", json={"template_id": "panda", "animated": False,
                                              "stickers": [{"text": f"审核{i}"} for i in range(8)]}).json()["task_id"]
    wait_for(lambda: pre_stack.query("SELECT id FROM review_items WHERE job_id = :j AND status = 'open'", j=task_id),
             timeout=90)
    assert api.get(f"/api/v1/tasks/{task_id}").json()["status"] == "reviewing"  # no zip link until reviewed
    admin.goto("/admin/review")
    [item] = pre_stack.query("SELECT id FROM review_items WHERE job_id = :j AND status = 'open' LIMIT 1", j=task_id)
    previews = admin.locator(f"#item-{item['id']} img.preview")
    assert previews.count() == 8  # every sticker of the pack, not the zip
    assert all(".parts/" in previews.nth(i).get_attribute("src") for i in range(8))


def test_recharge_form_is_idempotent_on_double_submit(admin, pre_stack):
    user = Api(pre_stack.base_url, f"good-pay-{time.monotonic_ns()}")
    before = user.get("/api/v1/me").json()["user"]["balance"]
    admin.goto("/admin/recharges")
    admin.fill("textarea[name=lines]", f"{user.user['id']} 7\nnobody-{time.monotonic_ns()} 3")
    admin.fill("input[name=reason]", "活动补偿")
    fields = {name: admin.input_value(f"[name={name}]") for name in ("csrf_token", "form_key", "lines", "reason")}
    admin.click("#recharge-form button")
    admin.wait_for_selector("#result")
    assert "成功" in admin.inner_text("#result") and "用户不存在" in admin.inner_text("#result")
    shot(admin, "recharges")
    again = admin.request.post("/admin/recharges", multipart=fields)  # the same form sent a second time
    assert again.status == 200 and "重复提交" in again.text()
    assert user.get("/api/v1/me").json()["user"]["balance"] == before + 7
    admin.goto(f"/admin/users/{user.user['id']}")
    assert admin.inner_text("#balance") == str(before + 7)
    shot(admin, "user")
    admin.goto("/admin/audit?action=recharge")
    assert "活动补偿" in admin.inner_text("main")
    shot(admin, "audit")


def test_the_same_lines_again_wait_for_a_confirmation(admin, pre_stack):
    """Back, then 提交充值 with the same list: nothing is applied until the operator confirms it."""
    user = Api(pre_stack.base_url, f"good-again-{time.monotonic_ns()}")
    before = user.get("/api/v1/me").json()["user"]["balance"]

    def submit():
        admin.fill("textarea[name=lines]", f"{user.user['id']} 5")
        admin.fill("input[name=reason]", "补发")
        admin.click("#recharge-form button")

    admin.goto("/admin/recharges")
    submit()
    admin.wait_for_selector("#result")
    assert user.get("/api/v1/me").json()["user"]["balance"] == before + 5
    admin.go_back()
    admin.wait_for_selector("#recharge-form")
    submit()
    admin.wait_for_selector("#repeat-warning")
    assert "没有充值" in admin.inner_text("#repeat-warning") and admin.locator("#result").count() == 0
    assert user.get("/api/v1/me").json()["user"]["balance"] == before + 5
    assert admin.input_value("textarea[name=lines]") == f"{user.user['id']} 5"  # kept for the confirmation
    shot(admin, "recharges-repeat")
    admin.check("input[name=repeat]")
    admin.click("#recharge-form button")
    admin.wait_for_selector("#result")
    assert "成功" in admin.inner_text("#result")
    assert user.get("/api/v1/me").json()["user"]["balance"] == before + 10


def test_a_bad_recharge_line_is_named(admin, pre_stack):
    user = Api(pre_stack.base_url, f"good-lines-{time.monotonic_ns()}")
    before = user.get("/api/v1/me").json()["user"]["balance"]
    admin.goto("/admin/recharges")
    admin.fill("textarea[name=lines]", f"abc\nu_x abc\n{user.user['id']} 2 3\nu_y 0\n{user.user['id']} 4")
    admin.fill("input[name=reason]", "坏行")
    admin.click("#recharge-form button")
    admin.wait_for_selector("p.flash.error")
    message = admin.inner_text("p.flash.error")
    assert "第 1 行「abc」：缺少次数" in message and "第 2 行「u_x abc」：次数「abc」不是整数" in message
    assert "第 3 行" in message and "格式不对" in message and "第 4 行「u_y 0」：次数超出范围" in message
    assert "第 5 行" not in message and "未充值任何用户" in message
    assert user.get("/api/v1/me").json()["user"]["balance"] == before  # nothing of the batch was applied
    nobody = f"nobody-{time.monotonic_ns()}"
    admin.fill("textarea[name=lines]", f"{user.user['id']} 4\n{nobody} 1")
    admin.click("#recharge-form button")
    admin.wait_for_selector("#result")
    rows = admin.locator("#result tr")
    assert rows.nth(1).inner_text().split("\t")[:3] == ["第 1 行", user.user["id"], "成功"]
    assert rows.nth(2).inner_text().split("\t")[:3] == ["第 2 行", nobody, "失败"]
    assert "用户不存在" in rows.nth(2).inner_text()
    assert user.get("/api/v1/me").json()["user"]["balance"] == before + 4


def test_uploaded_template_is_usable_at_once(admin, pre_stack):
    admin.goto("/admin/templates")
    admin.fill("input[name=name]", "宇航员二号")
    admin.fill("input[name=tags]", "太空,测试")
    admin.set_input_files("input[name=image]", files=[{"name": "astronaut.jpg", "mimeType": "image/jpeg",
                                                       "buffer": encode_image(astronaut_photo())}])
    admin.click("#template-form button")
    admin.wait_for_selector("p.flash.ok")  # uploaded; the page refreshes itself while the worker detects
    # its row says so (read without navigating the page meanwhile)
    detected = re.compile(r"<tr(?:(?!</tr>).)*宇航员二号(?:(?!</tr>).)*已检测到人脸", re.DOTALL)
    wait_for(lambda: detected.search(admin.request.get("/admin/templates").text()), timeout=60, step=1)
    admin.goto("/admin/templates")
    row = admin.locator("#uploaded tr", has_text="宇航员二号")
    assert "已检测到人脸" in row.inner_text()
    assert row.locator("img.face-check").count() == 1  # the face the worker found, drawn for the operator
    row.locator("button", has_text="启用").click()
    admin.wait_for_selector("p.flash.ok")
    shot(admin, "templates")
    template_id = admin.locator("#uploaded tr", has_text="宇航员二号").get_attribute("data-id")
    api = Api(pre_stack.base_url, f"good-tpl-{time.monotonic_ns()}")
    listed = {t["template_id"]: t for t in api.get("/api/v1/templates").json()["templates"]}
    assert template_id in listed and listed[template_id]["preview_url"]
    answer = api.post("/api/v1/emoji", json={"template_id": template_id, "text": "上太空"})
    task_of(answer)
    task = api.wait_task(answer.json()["task_id"], timeout=60)
    assert task["status"] == "succeeded" and task["result"]["template_id"] == template_id


def test_word_list_and_api_keys_pages(admin, pre_stack):
    admin.goto("/admin/words")
    admin.fill("#word-form input[name=word]", "控制台样词")
    admin.fill("#word-form input[name=label]", "abuse")
    admin.click("#word-form button")
    admin.wait_for_selector("p.flash")
    assert "已添加" in admin.inner_text("p.flash"), admin.inner_text("main")
    shot(admin, "words")
    api = Api(pre_stack.base_url, f"good-words-{time.monotonic_ns()}")
    outlast_refresh()
    refused = api.post("/api/v1/emoji", json={"template_id": "panda", "text": "控 制 台 样 词"})
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "content_rejected"
    admin.goto("/admin/keys")
    admin.fill("#key-form input[name=name]", f"财务系统-{time.monotonic_ns()}")
    admin.click("#key-form button")
    key = admin.inner_text("#new-key")
    shot(admin, "keys")
    recharge = requests.post(pre_stack.base_url + "/api/v1/admin/recharges", timeout=10, json={
        "items": [{"user": api.user["id"], "amount": 2}], "reason": "key test"},
        headers={"Authorization": f"Bearer {key}", "Idempotency-Key": f"k-{time.monotonic_ns()}"})
    assert recharge.status_code == 200 and recharge.json()["succeeded"]
    admin.goto("/admin/users")
    shot(admin, "users")


def test_a_speech_key_made_in_the_console_serves_the_openai_package(admin, pre_stack, low_voice_wav):
    import openai

    api = Api(pre_stack.base_url, f"good-speech-{time.monotonic_ns()}")
    created = api.post("/api/v1/voices", files={"audio": ("me.wav", low_voice_wav, "audio/wav")},
                       data={**api.consent(), "prompt_text": "我们今天去公园玩"})
    assert created.status_code == 201, created.text
    voice = created.json()["voice"]  # a public stack without speech recognition: a moderator hears the consent
    assert voice["usable"] is False and voice["consent"]["status"] == "reviewing"
    refused = api.post("/api/v1/tts", json={"text": "还不能用。", "voice_id": voice["voice_id"]})
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "consent_pending"
    [item] = pre_stack.query("SELECT id FROM review_items WHERE voice_id = :v AND kind = 'consent'", v=voice["voice_id"])
    admin.goto("/admin/review?kind=consent")
    entry = admin.locator(f"#item-{item['id']}")
    assert voice["consent"]["text"] in entry.locator(".consent-sentence").inner_text()
    recording = entry.locator("audio.consent-recording").get_attribute("src")
    heard = admin.request.get(recording)
    assert heard.status == 200 and heard.body()[:4] == b"RIFF"  # the moderator hears the stored recording
    shot(admin, "review-consent")
    entry.locator("form.approve button").click()
    admin.wait_for_selector("p.flash.ok")
    assert api.get("/api/v1/voices").json()["voices"][0]["consent"] == {**voice["consent"], "status": "verified",
                                                                         "checked_by": "moderator"}
    admin.goto("/admin/keys")
    admin.fill("#key-form input[name=name]", f"有声书工具-{time.monotonic_ns()}")
    admin.select_option("#key-scope", "speech")
    admin.fill("#key-form input[name=user]", "nobody-at-all")
    admin.click("#key-form button")
    assert "已有用户" in admin.inner_text("p.flash")  # a speech key must bill a real account
    admin.fill("#key-form input[name=name]", f"有声书工具-{time.monotonic_ns()}")
    admin.select_option("#key-scope", "speech")
    admin.fill("#key-form input[name=user]", api.user["id"])
    admin.click("#key-form button")
    key = admin.inner_text("#new-key")
    assert "语音合成" in admin.inner_text("table") and api.user["id"] in admin.inner_text("table")
    shot(admin, "keys-speech")
    client = openai.OpenAI(base_url=pre_stack.base_url + "/v1", api_key=key, max_retries=2, timeout=60)
    audio = client.audio.speech.create(model="tts-1", voice=created.json()["voice"]["voice_id"],
                                       input="你好，很高兴认识你。", response_format="mp3")
    assert audio.content[:3] == b"ID3" and len(audio.content) > 2000  # passed WeChat's check first (pre)


def test_dashboard_charts_the_activity(admin):
    """Last in the module: the jobs, verdicts and tokens of the tests above are on the charts."""
    admin.goto("/admin/dashboard")
    text = admin.inner_text("main")
    assert "表情包 · classic" in text and admin.locator("svg.chart rect").count() >= 60
    assert "pass" in text and "flag" in text  # media verdicts and review items of the last day
    shot(admin, "dashboard")


def test_console_inputs_are_bounded(admin, pre_stack):
    """Over-long or wrong inputs are refused with a message, never a 500."""
    admin.goto("/admin/words")
    token = admin.input_value("[name=csrf_token]")
    cases = [
        ("/admin/words", {"word": "长" * 101, "label": "abuse", "action": "risky"}, "未添加"),
        ("/admin/words", {"word": "正常词", "label": "x" * 33, "action": "risky"}, "未添加"),
        ("/admin/words", {"word": "正常词", "label": "abuse", "action": "delete-all"}, "未添加"),
        ("/admin/templates", {"name": "名" * 33}, "未上传"),
        ("/admin/keys", {"name": "k" * 65}, "名称需为"),
        ("/admin/recharges", {"lines": "u_x 1", "reason": ""}, "请填写原因"),
        ("/admin/recharges", {"lines": "u_x 99999999", "reason": "太多"}, "次数超出范围"),
        ("/admin/recharges", {"lines": "", "reason": "空"}, "充值名单有误"),
    ]
    for path, form, expected in cases:
        answer = admin.request.post(path, multipart={"csrf_token": token, **form})
        assert answer.status < 500 and expected in answer.text(), (path, form, answer.status)
    not_an_image = admin.request.post("/admin/templates", multipart={
        "csrf_token": token, "name": "坏图", "image": {"name": "x.png", "mimeType": "image/png", "buffer": b"GIF89a junk"}})
    assert not_an_image.status == 200 and "未上传" in not_an_image.text()
    assert admin.request.get("/admin/users/" + "u" * 300).status == 404
    assert admin.request.get("/admin/users/" + "u" * 5000).status == 404
    too_long = admin.request.get("/admin/users/" + "u" * 9000)  # over Nginx's 8 KB request line
    assert too_long.status == 414 and too_long.json()["error"]["code"] == "uri_too_long"
    assert admin.request.post("/admin/review/999999999/approve", multipart={"csrf_token": token}).status == 200


def test_rejecting_a_report_blocks_the_author_not_the_reporter(admin, pre_stack):
    author = Api(pre_stack.base_url, f"good-author-{time.monotonic_ns()}")
    reporter = Api(pre_stack.base_url, f"good-reporter-{time.monotonic_ns()}")
    task = author.wait_task(author.post("/api/v1/emoji", json={"template_id": "panda", "text": "被举报"}).json()["task_id"])
    assert task["status"] == "succeeded"
    report = reporter.post("/api/v1/reports", json={"media_url": task["result"]["url"], "category": "abuse"})
    assert report.status_code == 201, report.text
    item_id = report.json()["report"]["report_id"]
    admin.goto("/admin/review?kind=report")
    item = admin.locator(f"#item-{item_id}")
    assert "举报人" in item.inner_text() and author.user["id"] in item.inner_text()
    item.locator("input.reason").fill("辱骂")
    item.locator("input.block").check()
    item.locator("form.reject button").click()
    admin.wait_for_selector("p.flash.ok")
    assert author.get("/api/v1/me").status_code == 403
    assert reporter.get("/api/v1/me").status_code == 200
    assert requests.get(task["result"]["url"], timeout=10).status_code == 410
