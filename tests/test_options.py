"""GET /api/v1/options: every list of choices and limit a client needs, from the server's one definition of each;
the mini-program and the H5 page keep no copies."""
import re
from pathlib import Path

import pytest

from backend import create_app
from backend.models import FINISHED
from backend.schemas import TalkingIn
from backend.vocabulary import API_JOB_KINDS, CLASSIC_STYLES, PACK_COUNTS, TTS_MODES

ROOT = Path(__file__).resolve().parent.parent
CLIENTS = [path for folder in (ROOT / "miniprogram", ROOT / "backend" / "h5") for path in folder.rglob("*")
           if path.suffix in (".js", ".wxml", ".html")]


@pytest.fixture(scope="module")
def options():
    app = create_app({"TESTING": True, "CAPTION_MAX_CHARS": 33, "COST_STICKER": 3})
    answer = app.test_client().get("/api/v1/options")
    assert answer.status_code == 200
    return answer.json


def test_the_options_are_the_servers_lists_and_settings(options):
    assert [style["id"] for style in options["styles"]] == list(CLASSIC_STYLES)  # no Stable Diffusion worker here
    assert [mode["id"] for mode in options["tts_modes"]] == list(TTS_MODES)
    assert [kind["id"] for kind in options["kinds"]] == list(API_JOB_KINDS)
    assert {status["id"] for status in options["statuses"] if status["finished"]} == set(FINISHED)
    assert all(choice["label"] for group in ("styles", "tts_modes", "kinds", "statuses") for choice in options[group])
    assert options["pack_counts"] == list(PACK_COUNTS)
    assert options["limits"]["caption"] == 33 and options["costs"]["sticker"] == 3  # the configuration, as it is
    assert options["limits"]["talking_text"] == TalkingIn.TEXT_MAX and options["limits"]["link_seconds"] == 24 * 3600


@pytest.mark.parametrize("copy", [
    r"'zero_shot'", r"'cutout'", r"'cross_lingual'", "排队中", "已撤回", "'speechless'",  # lists the server owns
    r'maxlength="\d+"', r"maxLength = \d+", r"最多 \d+ (个)?字", r"\d+ 小时内有效",  # limits the server owns
])
def test_the_clients_keep_no_copy_of_the_servers_lists(copy):
    found = [f"{path.relative_to(ROOT)}: {line.strip()}" for path in CLIENTS
             for line in path.read_text(encoding="utf-8").splitlines() if re.search(copy, line)]
    assert found == []
