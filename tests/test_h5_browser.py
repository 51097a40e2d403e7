"""The H5 page in headless Chromium (Playwright, Debian's chromium) against the running stack."""
import re
import shutil
from pathlib import Path

import pytest
from media_samples import encode_image, hopper_photo, landscape_photo, reference_voice, unrelated_voice, wav_bytes

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from playwright.sync_api import sync_playwright

    root = tmp_path_factory.mktemp("browser")
    voice = root / "voice.wav"  # what the fake microphone "hears", looped
    voice.write_bytes(wav_bytes(reference_voice(200.0)))
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream", f"--use-file-for-fake-audio-capture={voice}"])
        yield browser
        browser.close()


def opened(browser, stack, **context_options):
    """A new browser context on the H5 page, once it says it is ready."""
    context = browser.new_context(base_url=stack.base_url, permissions=["microphone"], **context_options)
    page = context.new_page()
    page.goto("/")
    page.wait_for_selector("body[data-ready=yes]", timeout=30000)
    return page


@pytest.fixture
def page(browser, stack):
    page = opened(browser, stack, viewport={"width": 900, "height": 1400})
    yield page
    page.context.close()


def test_clone_a_voice_in_the_browser(page):
    assert "可用次数" in page.inner_text("#account")
    page.click("#record-start")
    page.wait_for_timeout(4500)
    page.click("#record-stop")
    page.wait_for_function("() => document.getElementById('record-state').textContent.includes('已录')", timeout=15000)
    page.fill("#tts-text", "你好，这是浏览器里的声音克隆。")
    page.click("#tts-go")  # the recording is cloned only with the user's declaration that the speaker agreed
    page.wait_for_function("() => document.body.innerText.includes('请勾选')", timeout=15000)
    page.check("#voice-consent")
    page.click("#tts-go")
    page.wait_for_function("() => document.getElementById('tts-audio').src.includes('/media/tts/')", timeout=90000)
    playable = page.evaluate("""() => new Promise((resolve) => {
        const audio = document.getElementById('tts-audio');
        if (audio.readyState >= 2) return resolve(audio.duration);
        audio.addEventListener('loadeddata', () => resolve(audio.duration), {once: true});
        audio.addEventListener('error', () => resolve(-1), {once: true});
        audio.load();
    })""")
    assert playable > 0.5
    assert "并非真实声音克隆" in page.inner_text("#tts-label")
    assert re.fullmatch(r"音色接近度：(很像|有点像|不像) · 这是内置合成音，不是你的声音", page.inner_text("#tts-similarity"))
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "h5-voice.png"), full_page=True)


def test_a_result_unlike_the_recording_reads_unlike(page, tmp_path):
    """Speech from an unrelated voice's recording shows the calibrated band 「不像」, not a raw 「相似度 55%」,
    and says that the built-in voice is not the user's."""
    recording = tmp_path / "other.wav"
    recording.write_bytes(wav_bytes(unrelated_voice()))
    page.set_input_files("#audio-file", str(recording))
    page.check("#voice-consent")
    page.fill("#tts-text", "你好，这是浏览器里的声音克隆。")
    page.click("#tts-go")
    page.wait_for_function("() => document.getElementById('tts-audio').src.includes('/media/tts/')", timeout=90000)
    assert page.inner_text("#tts-similarity") == "音色接近度：不像 · 这是内置合成音，不是你的声音"
    ARTIFACTS.mkdir(exist_ok=True)
    page.locator("#tts-result").screenshot(path=str(ARTIFACTS / "h5-similarity-unlike.png"))


def test_make_a_sticker_in_the_browser(page, tmp_path):
    photo = tmp_path / "selfie.jpg"
    photo.write_bytes(encode_image(hopper_photo()))
    page.set_input_files("#photo-file", str(photo))
    page.click("#sticker-go")  # without confirming the person's consent: refused before anything is sent
    page.wait_for_selector("#sticker-error:not([hidden])", timeout=10000)  # next to the button, not at the top
    assert "同意" in page.inner_text("#sticker-error")
    assert page.is_hidden("#error")
    page.check("#face-consent")
    page.fill("#caption", "开心大笑")
    page.select_option("#style", "comic")
    page.click("#sticker-go")
    page.wait_for_function("() => document.getElementById('sticker-image').naturalWidth > 0", timeout=90000)
    assert page.evaluate("document.getElementById('sticker-image').naturalWidth") == 512
    assert page.get_attribute("#sticker-download", "href").count("/media/sticker/") == 1
    page.wait_for_function("() => document.querySelectorAll('#history-list li').length > 0")
    page.screenshot(path=str(ARTIFACTS / "h5-sticker.png"), full_page=True)

    # 举报: the report dialog files a report of this sticker
    page.click("#sticker-result button.report")
    page.select_option("#report-category", "infringement")
    page.fill("#report-reason", "用了我的照片")
    page.screenshot(path=str(ARTIFACTS / "h5-report.png"))
    page.click("#report-send")
    page.wait_for_selector("#report-done:not([hidden])", timeout=20000)


def test_no_face_shows_its_message(page, tmp_path):
    photo = tmp_path / "landscape.jpg"
    photo.write_bytes(encode_image(landscape_photo()))
    page.set_input_files("#photo-file", str(photo))
    page.check("#face-consent")
    page.click("#sticker-go")
    page.wait_for_selector("#sticker-error:not([hidden])", timeout=60000)
    assert page.inner_text("#sticker-error") == "没有检测到人脸，换一张正脸照片试试"
    page.screenshot(path=str(ARTIFACTS / "h5-error.png"))


def test_page_uses_no_external_resources(stack):
    import re

    import requests

    html = requests.get(stack.base_url + "/", timeout=10).text
    assert not re.search(r"(src|href)=\"https?://", html)
    assert requests.get(stack.base_url + "/shared/errors.js", timeout=10).text.count("没有检测到人脸") == 1



def test_swagger_ui_renders_offline(browser, stack):
    """/docs loads everything from the stack itself: any request elsewhere is refused, and the operations show."""
    context = browser.new_context(base_url=stack.base_url)
    outside = []

    def only_the_stack(route):
        if route.request.url.startswith(stack.base_url):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    context.route("**/*", only_the_stack)
    page = context.new_page()
    page.goto("/docs")
    page.wait_for_selector(".opblock", timeout=30000)
    operations = page.locator(".opblock-summary-path").all_inner_texts()
    assert {"/api/v1/tts", "/api/v1/emoji", "/api/v1/tasks/{task_id}"} <= {text.replace("\u200b", "") for text in operations}
    page.screenshot(path=str(ARTIFACTS / "swagger-ui.png"))
    context.close()
    assert outside == []


def test_a_refused_request_shows_the_servers_reason(page):
    """A template/style mismatch: the user reads what to change, not only 「请求有误」."""
    page.wait_for_function("() => document.querySelectorAll('#template-select option').length > 2", timeout=30000)
    page.select_option("#template-select", "astronaut")
    page.select_option("#style", "panda")
    page.fill("#caption", "不匹配")
    page.click("#sticker-go")
    page.wait_for_selector("#sticker-error:not([hidden])", timeout=30000)
    message = page.inner_text("#sticker-error")
    assert message.startswith("请求有误") and "astronaut" in message and "template" in message, message


def test_history_shows_the_text_in_local_time(browser, stack):
    context = browser.new_context(base_url=stack.base_url, timezone_id="Asia/Shanghai", viewport={"width": 900, "height": 1400})
    page = context.new_page()
    try:
        page.goto("/")
        page.wait_for_selector("body[data-ready=yes]", timeout=30000)
        page.select_option("#template-select", "panda")
        page.select_option("#style", "panda")
        page.fill("#caption", "历史里的字")
        page.click("#sticker-go")
        page.wait_for_function("() => [...document.querySelectorAll('#history-list q')].some(q => q.textContent === '历史里的字')",
                               timeout=90000)
        first = page.inner_text("#history-list li")
        created = page.evaluate("fetch('/api/v1/tasks?limit=1', {headers: {Authorization: 'Bearer ' + "
                                "localStorage.getItem('voxmoji_token')}}).then(r => r.json()).then(b => b.tasks[0].created_at)")
        from datetime import datetime, timedelta
        utc = datetime.strptime(created, "%Y-%m-%dT%H:%M:%SZ")
        shanghai = utc + timedelta(hours=8)
        assert f"{shanghai.hour}:{shanghai.minute:02d}" in first and created not in first, first
    finally:
        context.close()


def _saved_voice(page, stack):
    """A voice saved for the page's own account (its token from localStorage), then the page reloaded."""
    import requests

    token = page.evaluate("localStorage.getItem('voxmoji_token')")
    headers = {"Authorization": f"Bearer {token}"}
    consent = requests.get(stack.base_url + "/api/v1/voices/consent", headers=headers, timeout=10).json()
    saved = requests.post(stack.base_url + "/api/v1/voices", headers=headers, timeout=60,
                          files={"audio": ("me.wav", wav_bytes(reference_voice(200.0)), "audio/wav")},
                          data={"consent_token": consent["consent_token"], "prompt_text": consent["text"], "name": "浏览器声音"})
    assert saved.status_code == 201, saved.text
    page.reload()
    page.wait_for_selector("body[data-ready=yes]", timeout=30000)
    return saved.json()["voice"]["voice_id"]


def test_a_talking_sticker_plays_in_the_page(page, stack):
    voice_id = _saved_voice(page, stack)
    page.select_option("#template-select", "panda")
    page.select_option("#talking-voice", voice_id)
    page.fill("#talking-text", "你好呀，今天真开心！")
    page.select_option("#talking-emotion", "happy")
    page.click("#talking-go")
    page.wait_for_function("() => document.getElementById('talking-video').src.includes('/media/talking/')", timeout=120000)
    played = page.evaluate("""() => new Promise((resolve) => {
        const video = document.getElementById('talking-video');
        video.muted = true;  // autoplay rules: a muted video may play without a gesture
        video.addEventListener('error', () => resolve({error: video.error && video.error.code}), {once: true});
        const check = () => video.currentTime > 0.3
            ? resolve({time: video.currentTime, duration: video.duration, width: video.videoWidth})
            : setTimeout(check, 100);
        video.play().then(check, (e) => resolve({error: String(e)}));
    })""")
    assert "error" not in played, played
    assert played["width"] == 480 and 1 < played["duration"] <= 10.1
    # no native controls over the caption at the bottom: the page's own button plays and pauses it
    assert page.evaluate("document.getElementById('talking-video').controls") is False
    page.click("#talking-play")
    page.wait_for_function("() => document.getElementById('talking-video').paused")
    assert page.evaluate("document.getElementById('talking-gif').naturalWidth") == 240
    page.evaluate("() => { navigator.share = (data) => { window.sharedUrl = data.url; return Promise.resolve(); }; }")
    page.click("#talking-share")
    page.wait_for_function("() => window.sharedUrl")
    assert "/media/talking/" in page.evaluate("window.sharedUrl")
    page.screenshot(path=str(ARTIFACTS / "h5-talking.png"), full_page=True)


def test_a_pack_and_streamed_speech_in_the_page(page, stack):
    voice_id = _saved_voice(page, stack)
    page.select_option("#template-select", "panda")
    page.fill("#pack-name", "熊猫")
    page.uncheck("#pack-animated")
    page.click("#pack-go")
    page.wait_for_function("() => document.querySelectorAll('#pack-previews img').length === 8", timeout=120000)
    page.wait_for_function("() => [...document.querySelectorAll('#pack-previews img')].every((i) => i.naturalWidth === 240)")
    assert "/media/pack/" in page.get_attribute("#pack-export", "href")

    page.select_option("#voice-select", voice_id)
    page.fill("#tts-text", "今天天气真好，我们一起去公园散步吧。这家店的奶茶特别好喝，下次再来。明天早上八点见。")
    page.click("#tts-stream")
    page.wait_for_function("() => document.body.dataset.streamDone", timeout=60000)
    first, done = (int(page.evaluate(f"document.body.dataset.{name}")) for name in ("streamFirst", "streamDone"))
    assert first < done  # playing began before the last piece arrived
    assert "已开始播放" in page.inner_text("#stream-state")
    buffered = page.evaluate("(() => { const a = document.getElementById('tts-audio'); "
                             "return a.buffered.length ? a.buffered.end(a.buffered.length - 1) : 0; })()")
    assert buffered > 3  # the whole speech went into the player
    page.screenshot(path=str(ARTIFACTS / "h5-pack-stream.png"), full_page=True)
    # again: now the whole speech arrives at once (the stored result), and the player still takes all of it
    page.click("#tts-stream")
    page.wait_for_function(f"() => document.body.dataset.streamDone && document.body.dataset.streamDone !== '{done}'",
                           timeout=60000)
    assert page.inner_text("#tts-error") == ""


# -- the page on a phone (375 px) ---------------------------------------------------------------------------

TYPED = "什么？！真的吗，"  # full-width punctuation, kept exactly as typed everywhere


@pytest.fixture
def phone(browser, stack):
    page = opened(browser, stack, viewport={"width": 375, "height": 812}, is_mobile=True, has_touch=True,
                  device_scale_factor=2)
    yield page
    page.context.close()


def _page_width(page):
    return page.evaluate("document.documentElement.scrollWidth")


def _options(stack):
    import requests

    return requests.get(stack.base_url + "/api/v1/options", timeout=10).json()


def _available(page):
    return int(re.search(r"可用次数：(\d+)", page.inner_text("#account")).group(1))


def test_the_page_fits_a_phone_and_every_spending_button_shows_its_cost(phone, stack):
    assert _page_width(phone) <= 375, _page_width(phone)
    captions = phone.locator("#pack-captions input")
    assert captions.count() == 8
    for index in range(8):  # every pack caption fully inside the screen
        box = captions.nth(index).bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 375, box
    costs, available = _options(stack)["costs"], _available(phone)
    sticker = costs["sticker"]
    assert f"消耗 {sticker} 次 · 剩 {available - sticker} 次" in phone.inner_text("#sticker-go")
    phone.check("#animated")
    animated = costs["animated_sticker"]
    assert f"消耗 {animated} 次 · 剩 {available - animated} 次" in phone.inner_text("#sticker-go")
    assert f"消耗 {8 * animated} 次" in phone.inner_text("#pack-go")  # the pack's eight animated stickers
    phone.fill("#tts-text", TYPED)
    speech = -(-len(TYPED) // costs["tts_chars_per_token"])
    for button in ("#tts-go", "#tts-stream"):
        assert f"消耗 {speech} 次 · 剩 {available - speech} 次" in phone.inner_text(button), phone.inner_text(button)
    phone.fill("#talking-text", TYPED)
    assert f"消耗 {speech + costs['talking_extra']} 次" in phone.inner_text("#talking-go")
    assert _page_width(phone) <= 375
    phone.screenshot(path=str(ARTIFACTS / "h5-phone.png"), full_page=True)


def test_full_width_punctuation_round_trips_and_progress_shows_at_once(phone, stack):
    import requests

    voice_id = _saved_voice(phone, stack)
    phone.select_option("#voice-select", voice_id)
    phone.type("#tts-text", TYPED)  # typed key by key, as a person does
    phone.click("#tts-go")
    # progress from the first second: a status line, not only a grey button
    phone.wait_for_function("() => !document.getElementById('tts-state').hidden"
                            " && /秒/.test(document.getElementById('tts-state').textContent)", timeout=1500)
    phone.wait_for_function("() => document.getElementById('tts-audio').src.includes('/media/tts/')", timeout=90000)
    token = phone.evaluate("localStorage.getItem('voxmoji_token')")
    task = requests.get(stack.base_url + "/api/v1/tasks?kind=tts&limit=1", timeout=10,
                        headers={"Authorization": f"Bearer {token}"}).json()["tasks"][0]
    assert task["text"] == TYPED, task["text"]
    phone.wait_for_function("(typed) => [...document.querySelectorAll('#history-list q')].some(q => q.textContent === typed)",
                            arg=TYPED, timeout=30000)
    assert phone.is_hidden("#tts-state")  # the progress line goes when the job is done

    phone.select_option("#template-select", "panda")  # a caption, the same way
    phone.select_option("#style", "panda")
    phone.fill("#caption", TYPED)
    phone.click("#sticker-go")
    phone.wait_for_function("() => document.getElementById('sticker-image').naturalWidth > 0", timeout=90000)
    phone.wait_for_function("(typed) => [...document.querySelectorAll('#history-list q')].filter(q => q.textContent === typed)"
                            ".length === 2", arg=TYPED, timeout=30000)
    life = _options(stack)["limits"]["link_seconds"] / 3600
    assert f"{life:g} 小时内有效" in phone.inner_text("#sticker-result")  # the link's lifetime from the options
    # a new job clears the old result as it starts
    phone.fill("#caption", "换一个")
    phone.click("#sticker-go")
    phone.wait_for_function("() => document.getElementById('sticker-result').hidden", timeout=5000)
    phone.wait_for_function("() => !document.getElementById('sticker-result').hidden", timeout=90000)
    assert _page_width(phone) <= 375, _page_width(phone)


def test_a_recording_is_saved_once_however_often_speech_is_made(phone, stack):
    import requests

    phone.click("#record-start")
    phone.wait_for_function("() => document.getElementById('record-state').textContent.includes('录音中')")
    phone.wait_for_timeout(4000)  # the recording itself: 3 s at least
    phone.click("#record-stop")
    phone.wait_for_function("() => document.getElementById('record-state').textContent.includes('已录')", timeout=15000)
    phone.check("#save-voice")
    phone.fill("#tts-text", "保存一次就够了。")
    for _ in range(3):
        phone.click("#tts-go")
        phone.wait_for_function("() => !document.getElementById('tts-go').disabled"
                                " && document.getElementById('tts-audio').src.includes('/media/tts/')", timeout=90000)
    assert not phone.is_checked("#save-voice")
    token = phone.evaluate("localStorage.getItem('voxmoji_token')")
    voices = requests.get(stack.base_url + "/api/v1/voices", timeout=10, headers={"Authorization": f"Bearer {token}"}).json()
    assert len(voices["voices"]) == 1, voices
    assert phone.input_value("#voice-select") == voices["voices"][0]["voice_id"]


def test_my_voices_export_and_account_deletion(phone, stack):
    import io
    import json
    import zipfile

    import requests

    voice_id = _saved_voice(phone, stack)
    row = f"#voice-list li[data-voice-id='{voice_id}']"
    phone.wait_for_selector(row)
    phone.once("dialog", lambda dialog: dialog.dismiss())  # changed her mind: nothing is deleted
    phone.click(f"{row} button")
    assert phone.locator(row).count() == 1
    phone.once("dialog", lambda dialog: dialog.accept())
    phone.click(f"{row} button")
    phone.wait_for_selector(row, state="detached")
    assert phone.locator(f"#voice-select option[value='{voice_id}']").count() == 0

    with phone.expect_download() as download:
        phone.click("#export-data")
    archive = zipfile.ZipFile(io.BytesIO(Path(download.value.path()).read_bytes()))
    assert {"profile.json", "voices.json", "jobs.json", "ledger.json"} <= set(archive.namelist())
    assert voice_id not in archive.read("voices.json").decode()  # deleted above
    assert json.loads(archive.read("profile.json"))

    token = phone.evaluate("localStorage.getItem('voxmoji_token')")
    said = []
    phone.once("dialog", lambda dialog: (said.append(dialog.message), dialog.dismiss()))
    phone.click("#delete-account")
    assert "声音" in said[0] and "匿名" in said[0] and "哈希" in said[0]  # what is erased, what is kept
    assert requests.get(stack.base_url + "/api/v1/me", timeout=10, headers={"Authorization": f"Bearer {token}"}).status_code == 200
    phone.once("dialog", lambda dialog: dialog.accept())
    phone.click("#delete-account")
    phone.wait_for_selector("#account-deleted:not([hidden])", timeout=20000)
    assert requests.get(stack.base_url + "/api/v1/me", timeout=10, headers={"Authorization": f"Bearer {token}"}).status_code == 403


def test_the_agreement_pages_fill_in_the_operator(phone):
    operator = (Path(__file__).resolve().parent.parent / "miniprogram" / "legal" / "operator.js").read_text(encoding="utf-8")
    name = re.search(r"operator: '([^']+)'", operator).group(1)
    phone.click("#privacy-link")
    phone.wait_for_selector("body[data-ready=yes]")
    assert phone.inner_text("#legal-title") == "隐私政策"
    text = phone.inner_text("#legal-text")
    assert name in text and "{{" not in text and "哈希" in text
    assert _page_width(phone) <= 375
    phone.click("#legal-other")
    phone.wait_for_function("() => document.getElementById('legal-title').textContent === '用户协议'")
