"""The README a newcomer reads, and the operator commands it gives: short, every local link resolves, no bare
`flask --app backend` left in the docs, `bin/voxmoji` works from a fresh shell, and `make web` honours
VOXMOJI_WEB_BEAT as docs/deploy.md says."""
import os
import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
# Markdown files the repository's own docs are made of (docs/API.md belongs to the API contract's owners).
DOCS = [README, REPO / "models" / "README.md", *sorted((REPO / "docs").glob("*.md"))]
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def local_links(path):
    """(target, anchor) of every link in a Markdown file that is not a URL."""
    for target in LINK.findall(path.read_text()):
        if re.match(r"[a-z]+:", target):
            continue
        file, _, anchor = target.partition("#")
        yield file, anchor


def github_anchor(heading):
    """The anchor GitHub gives a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def test_the_readme_is_short():
    lines = README.read_text().splitlines()
    assert len(lines) < 150, f"README.md has {len(lines)} lines; move detail into docs/"


@pytest.mark.parametrize("doc", DOCS, ids=lambda path: str(path.relative_to(REPO)))
def test_every_local_link_resolves(doc):
    links = list(local_links(doc))
    if doc == README:
        assert len(links) >= 8  # the "where to go next" list is there
    for file, anchor in links:
        target = (doc.parent / file).resolve() if file else doc
        assert target.is_file(), f"{doc.name} links to {file!r}, which is not a file"
        if anchor and target.suffix == ".md":
            headings = [github_anchor(line.lstrip("#")) for line in target.read_text().splitlines()
                        if line.startswith("#")]
            assert anchor in headings, f"{doc.name} links to {file}#{anchor}, which is not a heading there"


def test_the_docs_give_operator_commands_through_the_wrapper():
    for doc in DOCS:
        if doc.name == "API.md":
            continue
        for number, line in enumerate(doc.read_text().splitlines(), 1):
            if "flask --app backend" in line:
                assert "bin/voxmoji" in line, f"{doc.relative_to(REPO)}:{number} gives a bare `flask --app backend`"


def fresh_shell(command, cwd, **extra):
    """Run a command as if pasted into a new login shell: no venv on PATH, none of this process's settings."""
    env = {"HOME": os.environ.get("HOME", "/root"), "PATH": "/usr/bin:/bin", **extra}
    return subprocess.run(["bash", "-lc", command], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_the_wrapper_runs_from_a_fresh_shell_anywhere(tmp_path):
    # a fresh clone has no var/ yet: the explicit dev mode, with its own state directory
    done = fresh_shell(f"{REPO}/bin/voxmoji --help", cwd=tmp_path, VOXMOJI_ENV="development",
                       VOXMOJI_VAR_DIR=str(tmp_path / "var"))
    assert done.returncode == 0, done.stderr
    for command in ("create-admin", "create-api-key", "block-user", "recharge", "words", "db"):
        assert re.search(rf"^\s+{command}\s", done.stdout, re.MULTILINE), (command, done.stdout)


def test_the_wrapper_finds_the_state_directory_and_its_secrets(tmp_path):
    """The read-only `routes` command builds the app: it needs the generated secrets when not in the dev mode."""
    var = tmp_path / "var"
    var.mkdir()
    (var / "secrets.env").write_text("# generated\nVOXMOJI_SECRET_KEY=" + "k" * 48 + "\nVOXMOJI_MEDIA_SECRET=" + "m" * 48
                                     + "\n")
    # without them this configuration refuses to start (it is not the dev mode)
    refused = fresh_shell(f"{REPO}/bin/voxmoji routes", cwd=tmp_path, VOXMOJI_ENV="production",
                         VOXMOJI_VAR_DIR=str(tmp_path / "elsewhere"))
    assert refused.returncode != 0 and "VOXMOJI_SECRET_KEY is not set" in refused.stderr, refused.stderr
    done = fresh_shell(f"{REPO}/bin/voxmoji routes", cwd=tmp_path, VOXMOJI_ENV="production", VOXMOJI_VAR_DIR=str(var))
    assert done.returncode == 0, done.stderr
    assert "/api/v1/tts" in done.stdout


def test_a_key_name_in_use_is_refused_in_words(tmp_path):
    """The README's create-api-key, run twice with one name: a usage error, not a traceback."""
    (tmp_path / "var").mkdir()  # as `make run` leaves it
    env = {"VOXMOJI_ENV": "development", "VOXMOJI_VAR_DIR": str(tmp_path / "var")}
    assert fresh_shell(f"{REPO}/bin/voxmoji db upgrade", cwd=tmp_path, **env).returncode == 0
    first = fresh_shell(f"{REPO}/bin/voxmoji create-api-key --name backoffice", cwd=tmp_path, **env)
    assert first.returncode == 0 and first.stdout.strip().splitlines()[-1].startswith("vmk_"), first.stderr
    again = fresh_shell(f"{REPO}/bin/voxmoji create-api-key --name backoffice", cwd=tmp_path, **env)
    assert again.returncode == 2 and "Traceback" not in again.stderr, again.stderr
    assert "an API key named 'backoffice' exists already" in again.stderr


def test_make_web_runs_beat_unless_told_not_to():
    def services(*assignments):
        done = subprocess.run(["make", "-s", "--no-print-directory", "web-services", *assignments], cwd=REPO,
                              capture_output=True, text=True, timeout=60,
                              env={k: v for k, v in os.environ.items() if k != "VOXMOJI_WEB_BEAT"})
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    assert services() == "web,beat,nginx"
    assert services("VOXMOJI_WEB_BEAT=1") == "web,beat,nginx"
    for off in ("0", "false", "NO", "off"):
        assert services(f"VOXMOJI_WEB_BEAT={off}") == "web,nginx", off
    dry = subprocess.run(["make", "-n", "web", "VOXMOJI_WEB_BEAT=0"], cwd=REPO, capture_output=True, text=True,
                         timeout=60)
    assert "VOXMOJI_SERVICES=web,nginx " in dry.stdout, dry.stdout
    assert "VOXMOJI_WEB_BEAT=0" in (REPO / "docs" / "deploy.md").read_text()
