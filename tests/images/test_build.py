"""The images as docker/Dockerfile builds them: small, unprivileged, labelled, checked, nothing left over from
the build (no mirror settings, compilers, pip or test tools), and the Dockerfile and the images' shell scripts
lint clean."""
import hashlib
import os
import re
import shutil
import subprocess

import pytest
import requests
from conftest import APT_MIRROR, BASE, PIP_INDEX_URL, PODMAN, REPO, ROLES, SERVICES, image, inspect, podman, run_in
from polling import wait_for
from s3server import free_port_block

SHELL_SCRIPTS = [*sorted((REPO / "docker").glob("*.sh")), REPO / "docker" / "voxmoji", REPO / "tests" / "images" / "podman"]
# Megabytes each image may take (podman's uncompressed size; about 220 MB of it is the Debian base with Python).
CEILINGS_MB = {"web": 900, "nginx": 300, "worker": 1600, "worker-gpu": 3200, "redis": 300, "postgres": 450,
               "s3": 450}


def test_every_image_builds_and_stays_small(built):
    for role, figures in built.items():
        assert figures["bytes"] / 1e6 < CEILINGS_MB[role], (role, figures)
    # The GPU image here is built on the local Debian base with CPU torch (no CUDA base can be pulled here);
    # on a GPU host GPU_BASE_IMAGE is a CUDA runtime and TORCH_PACKAGES the CUDA torch and torchaudio.
    assert built["worker-gpu"]["bytes"] > built["worker"]["bytes"]


@pytest.mark.parametrize("role", ROLES + SERVICES)
def test_image_runs_unprivileged_with_labels_and_a_healthcheck(built, role):
    config = inspect(role)
    assert config["Config"]["User"] == "10001:10001", config["Config"]["User"]
    labels = config["Config"]["Labels"] or {}
    for label in ("version", "source", "licenses"):
        assert labels.get(f"org.opencontainers.image.{label}"), (role, label, labels)
    assert (config.get("Healthcheck") or {}).get("Test"), (role, config.get("Healthcheck"))
    env = "\n".join(config["Config"].get("Env") or [])
    for leftover in ("APT_MIRROR", "PIP_INDEX_URL", "PIP_FIND_LINKS", PIP_INDEX_URL, APT_MIRROR):
        assert leftover not in env, (role, leftover)
    # pip runs in build stages only, and the apt mirror comes as a build secret (a build argument a RUN uses is
    # recorded in `docker history`): neither is even in the image's history.
    history = podman("history", "--no-trunc", "--format", "{{.CreatedBy}}", config["Id"]).stdout
    for leftover in ("PIP_INDEX_URL", PIP_INDEX_URL, "APT_MIRROR", APT_MIRROR):
        assert leftover not in history, (role, leftover)


@pytest.mark.parametrize("role", ROLES)
def test_no_build_tools_test_tools_or_mirror_in_the_image(built, role):
    script = ("for tool in gcc g++ cc pytest hypothesis playwright ruff schemathesis; do "
              "  command -v $tool >/dev/null 2>&1 && echo found:$tool; done; "
              "ls /opt/voxmoji/venv/lib/python3*/site-packages 2>/dev/null | grep -i -E '^(pytest|hypothesis|playwright|ruff)' ; "
              "cat /etc/pip.conf /etc/xdg/pip/pip.conf 2>/dev/null | grep -i index; "
              "ls /app/tests /app/var /app/models /app/.venv /app/.git 2>/dev/null; true")
    done = run_in(role, "sh", "-c", script)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "", (role, done.stdout)


@pytest.mark.parametrize("role", ("web", "nginx", "worker"))
def test_the_apt_sources_are_the_base_images_own(built, role):
    """The apt mirror (the build secret apt_mirror) is used from a temporary copy of the sources
    (docker/apt-install.sh), never written to them."""
    sources = "cat /etc/apt/sources.list /etc/apt/sources.list.d/* 2>/dev/null; true"
    base = podman("run", "--rm", "--network", "none", BASE, "sh", "-c", sources).stdout
    assert run_in(role, "sh", "-c", sources).stdout == base


def test_web_image_has_neither_opencv_nor_torch(built):
    done = run_in("web", "python3", "-c", "import importlib.util as u; print([m for m in ('cv2', 'torch', "
                  "'mediapipe', 'scipy') if u.find_spec(m)])")
    assert done.returncode == 0 and done.stdout.strip() == "[]", (done.stdout, done.stderr)


def test_worker_image_has_its_engines_and_no_torch(built):
    done = run_in("worker", "python3", "-c", "import importlib.util as u, cv2, mediapipe, pyworld, shutil; "
                  "print(bool(u.find_spec('torch')), bool(shutil.which('espeak-ng')), bool(shutil.which('ffmpeg')))")
    assert done.returncode == 0 and done.stdout.split() == ["False", "True", "True"], (done.stdout, done.stderr)


def test_gpu_worker_image_has_torch_and_diffusers(built):
    done = run_in("worker-gpu", "python3", "-c", "import torch, diffusers, transformers, hyperpyyaml, onnxruntime; "
                  "print(torch.__version__)")
    assert done.returncode == 0 and done.stdout.startswith("2.13.0"), (done.stdout, done.stderr)


def test_a_missing_secret_stops_the_app_naming_the_variable(built):
    """As outside the dev mode today: PostgreSQL without VOXMOJI_MEDIA_SECRET does not start."""
    done = run_in("web", "python3", "-m", "backend.stack", "web", env=(
        "DATABASE_URL=postgresql+psycopg://voxmoji:x@127.0.0.1:1/voxmoji", "VOXMOJI_SECRET_KEY=" + "k" * 48))
    assert done.returncode != 0
    assert "VOXMOJI_MEDIA_SECRET is not set" in done.stderr, done.stderr[-2000:]


def test_nginx_config_is_rendered_from_the_environment(built):
    # the media URL key is the one secret it is given (no VOXMOJI_SECRET_KEY: not the dev mode, yet it renders)
    env = ("VOXMOJI_MEDIA_SECRET=" + "m" * 48, "VOXMOJI_API_UPSTREAM=api.internal:8123",
           "VOXMOJI_MEDIA_STORAGE=s3", "S3_BUCKET=media-bucket", "S3_ENDPOINT_URL=http://store.internal:9000")
    script = ("python3 -c 'import backend.stack as s; print(s.render_nginx(s.settings((\"MEDIA_SECRET\",))).read_text())' && "
              "nginx -t -c /var/lib/voxmoji/nginx/nginx.conf -p /var/lib/voxmoji/nginx 2>&1 | tail -1")
    done = run_in("nginx", "sh", "-c", f"mkdir -p /var/lib/voxmoji/nginx /var/lib/voxmoji/run && {script}", env=env)
    assert done.returncode == 0, done.stderr
    assert "server api.internal:8123;" in done.stdout
    assert "server store.internal:9000;" in done.stdout and "/media-bucket/public/" in done.stdout
    assert "m" * 48 in done.stdout


def test_the_s3_store_serves_on_any_port_up_to_65535(built):
    """Every port the S3 image listens on is one it is given (S3_PORT, WEED_PORT_BASE .. +6), none derived: S3
    on the highest port there is still starts and answers."""
    base = free_port_block(8, bases=range(65536 - 8, 49152, -8))  # the highest free block
    s3_port = base + 7
    name = f"voxmoji-s3-port-{os.getpid()}"
    podman("run", "-d", "--name", name, "--network", "host", f"--env=S3_PORT={s3_port}", f"--env=WEED_PORT_BASE={base}",
           "--env=AWS_ACCESS_KEY_ID=probe", "--env=AWS_SECRET_ACCESS_KEY=" + "s" * 40, image("s3"))
    try:
        def answers():
            state = podman("inspect", "--format", "{{.State.Status}}", name, check=False).stdout.strip()
            assert state == "running", (state, podman("logs", name, check=False).stderr[-3000:])
            try:
                return requests.get(f"http://127.0.0.1:{s3_port}/", timeout=3).status_code
            except requests.RequestException:
                return None
        # S3 refuses a request without a key: the store is up and checking
        assert wait_for(answers, timeout=120, step=0.5) == 403
    finally:
        podman("rm", "-f", "-t", "1", name, check=False)


def test_dockerfile_lints_clean():
    done = subprocess.run([shutil.which("hadolint") or "hadolint", "docker/Dockerfile"], cwd=REPO, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0 and not done.stdout.strip(), done.stdout


def test_the_images_shell_scripts_lint_clean():
    done = subprocess.run([shutil.which("shellcheck") or "shellcheck", *map(str, SHELL_SCRIPTS)], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout


def test_the_build_context_leaves_out_state_weights_and_tests():
    ignored = (REPO / ".dockerignore").read_text().split()
    for path in (".venv", "var", "models", "tests", ".git", "node_modules", ".env"):
        assert path in ignored, path


def dockerfile_stages():
    """docker/Dockerfile's stages by name: the instructions after each FROM, without comments or blank lines."""
    text = re.sub(r"\\\n", " ", (REPO / "docker" / "Dockerfile").read_text())
    stages, steps = {}, None
    for line in text.splitlines():
        if line.startswith("FROM "):
            steps = stages.setdefault(line.split()[-1], [])
        elif steps is not None and line.strip() and not line.startswith("#"):
            steps.append(line)
    return stages


def test_the_gpu_stages_repeat_the_cpu_stages_step_for_step():
    """So that, on one base (the tests'), the layer cache builds them once: worker-gpu adds only torch's step."""
    stages = dockerfile_stages()
    for gpu, cpu in (("gpu-base", "os"), ("gpu-os", "worker-os"), ("build-gpu-web", "build")):
        assert stages[gpu] == stages[cpu], (gpu, cpu)
    assert stages["build-gpu"][:len(stages["build-worker"])] == stages["build-worker"]

def overlay_mounts_in(directory):
    """Whether the kernel mounts an overlay there (in a mount namespace of its own: nothing stays mounted)."""
    for name in ("lower", "upper", "work", "merged"):
        (directory / name).mkdir(parents=True)
    options = f"lowerdir={directory}/lower,upperdir={directory}/upper,workdir={directory}/work"
    unshare = ["unshare", "--mount"] + ([] if os.geteuid() == 0 else ["--map-root-user"])
    mount = ["mount", "-t", "overlay", "overlay", "-o", options, str(directory / "merged")]
    return subprocess.run([*unshare, *mount], capture_output=True).returncode == 0


def test_a_store_gets_overlay_where_it_mounts_and_keeps_its_driver(tmp_path):
    """tests/images/podman picks overlay for a new store where the kernel mounts one (layers are diffs), else
    vfs, and records it: podman will not change the driver of an existing store."""
    expected = "overlay" if overlay_mounts_in(tmp_path / "probe") else "vfs"
    kept = tmp_path / "kept"
    kept.mkdir()
    (kept / "driver").write_text("vfs\n")
    for store, driver in ((tmp_path / "new", expected), (kept, "vfs")):
        done = subprocess.run([PODMAN, "info", "--format", "{{.Store.GraphDriverName}}"], capture_output=True,
                              text=True, timeout=60, env={**os.environ, "VOXMOJI_IMAGES_DIR": str(store)})
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == driver and (store / "driver").read_text() == driver + "\n", store
        shutil.rmtree(f"/tmp/voxmoji-podman-{hashlib.md5(str(store).encode()).hexdigest()[:12]}")  # its runroot
