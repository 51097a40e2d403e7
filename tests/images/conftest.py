"""Fixtures of the image tests: the images built by Debian's podman from docker/Dockerfile, and compose.yaml's
stack run from them by podman-compose, on free ports of this host (`make test-images`)."""
import json
import os
import shutil
import subprocess
import time
import tomllib
from pathlib import Path

import pytest
import requests
import yaml
from polling import wait_for
from s3server import free_port_block

REPO = Path(__file__).resolve().parents[2]
PODMAN = str(REPO / "tests" / "images" / "podman")
REPORT = REPO / "var" / "images" / "build-report.json"
BASE = os.environ.get("VOXMOJI_IMAGES_BASE", "localhost/debian-base:bookworm")
TAG = "test"
# The role images, then the stack's own services.
ROLES = ("web", "nginx", "worker", "worker-gpu")
SERVICES = ("redis", "postgres", "s3")
# Layers shared best first (web's virtualenv, then the worker's); the GPU image, the slowest, last.
BUILD_ORDER = ("web", "nginx", "redis", "postgres", "s3", "worker", "worker-gpu")
# The stack without the GPU profile (podman-compose 1.0.3 has no --profile: the services are named).
STACK = ("redis", "postgres", "s3", "migrate", "web", "beat", "worker", "nginx")
# Build-time mirrors as an operator in China would pass them (here the default archives, so builds work): the
# apt mirror as the build secret apt_mirror, pip's index as a build argument; the tests check that neither is
# left in an image, its variables or its history.
APT_MIRROR = "http://deb.debian.org/debian"
PIP_INDEX_URL = "https://pypi.org/simple"
# Restarts after which a service of the stack counts as crash-looping (none restarts on a good start here).
CRASH_LOOP = 5


FIGURES = []  # what the run measured, printed at its end


def pytest_terminal_summary(terminalreporter):
    for line in FIGURES:
        terminalreporter.write_line(line)


def image(role):
    return f"localhost/voxmoji/{role}:{TAG}"


def podman(*args, timeout=600, check=True):
    """Run podman (tests/images/podman: this machine's storage, runtime and build mounts); its output."""
    done = subprocess.run([PODMAN, *args], capture_output=True, text=True, timeout=timeout, cwd=REPO)
    if check and done.returncode != 0:
        raise AssertionError(f"podman {' '.join(args)}: {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done


def build_args():
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    args = {"BASE_IMAGE": BASE, "VERSION": version, "SOURCE": "https://example.invalid/voxmoji.git",
            "LICENSE": "NOASSERTION", "PIP_INDEX_URL": PIP_INDEX_URL,
            # On this machine's Debian base, not CUDA: CPU torch (the only torch here that pulls no CUDA).
            "GPU_BASE_IMAGE": BASE, "TORCH_PACKAGES": "torch==2.13.0"}
    if Path("/opt/wheels").is_dir():  # where this machine keeps the CPU torch wheel
        args["PIP_FIND_LINKS"] = "/opt/wheels"
    return args


@pytest.fixture(scope="session")
def built(tmp_path_factory):
    """Every image built (layers and the pip cache reused from earlier runs); seconds and bytes per image,
    also written to var/images/build-report.json."""
    report = {}
    if os.environ.get("VOXMOJI_IMAGES_NO_BUILD"):  # iterating on the tests: the images an earlier run built
        return {role: {"seconds": 0.0, "bytes": int(inspect(role)["Size"])} for role in BUILD_ORDER
                if podman("image", "exists", image(role), check=False).returncode == 0}
    extra = ["-v", "/opt/wheels:/opt/wheels:ro"] if Path("/opt/wheels").is_dir() else []
    mirror = tmp_path_factory.mktemp("secrets") / "apt_mirror"  # the apt mirror is a build secret
    mirror.write_text(APT_MIRROR + "\n")
    extra += ["--secret", f"id=apt_mirror,src={mirror}"]
    for role in BUILD_ORDER:
        started = time.monotonic()
        args = [f"--build-arg={key}={value}" for key, value in build_args().items()]
        # two stages at a time where a target has independent ones (web's apt and pip steps): about 30% faster
        # here on two cores than one at a time
        podman("build", "--jobs", "2", "-f", "docker/Dockerfile", "--target", role, *args, *extra, "-t", image(role),
               ".", timeout=1800)
        size = int(podman("image", "inspect", "--format", "{{.Size}}", image(role)).stdout.strip())
        report[role] = {"seconds": round(time.monotonic() - started, 1), "bytes": size}
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(json.dumps(report, indent=1))
    FIGURES.extend(f"built {role}: {f['seconds']} s, {f['bytes'] / 1e6:.0f} MB" for role, f in report.items())
    return report


def inspect(role):
    return json.loads(podman("image", "inspect", image(role)).stdout)[0]


def run_in(role, *command, env=(), timeout=120):
    """Run a command in a fresh container of `role` (no network); the finished process."""
    flags = [f"--env={item}" for item in env]
    return podman("run", "--rm", "--network", "none", *flags, "--entrypoint", command[0], image(role),
                  *command[1:], timeout=timeout, check=False)


class ComposeStack:
    """compose.yaml's stack under podman-compose in a project directory of its own. These machines run
    containers only on the host's network: an override file puts every service there on free ports and
    points the app at 127.0.0.1 instead of the service names (compose.yaml itself is used as it is)."""

    def __init__(self, root):
        self.root = Path(root)
        self.project = f"voxmoji-imgtest-{os.getpid()}"
        base = free_port_block(12)
        self.ports = {"redis": base, "postgres": base + 1, "s3": base + 2, "web": base + 3, "http": base + 4,
                      "weed": base + 5}
        self.base_url = f"http://127.0.0.1:{self.ports['http']}"
        shutil.copy(REPO / "compose.yaml", self.root / "compose.yaml")
        self.env = self._env()
        (self.root / ".env").write_text("".join(f"{key}={value}\n" for key, value in self.env.items()))
        (self.root / "override.yaml").write_text(yaml.safe_dump(self._override()))

    def _env(self):
        fresh = subprocess.run(["sh", str(REPO / "docker" / "new-env.sh")], capture_output=True, text=True,
                               check=True).stdout
        env = dict(line.split("=", 1) for line in fresh.splitlines() if line and not line.startswith("#"))
        env["DATABASE_URL"] = env["DATABASE_URL"].replace("@postgres:5432/", f"@127.0.0.1:{self.ports['postgres']}/")
        env.update({
            "PUBLIC_BASE_URL": self.base_url,
            # a stack on this machine to try it: any code logs in (refused where it looks public)
            "VOXMOJI_ENV": "development", "VOXMOJI_DEV_LOGIN": "1", "VOXMOJI_CONSENT_CHECK": "none",
            "VOXMOJI_WEB_WORKERS": "1", "VOXMOJI_WORKER_CONCURRENCY": "1",  # two cores, shared
        })
        return env

    def _override(self):
        p = self.ports
        app = {"REDIS_URL": f"redis://127.0.0.1:{p['redis']}/0", "S3_ENDPOINT_URL": f"http://127.0.0.1:{p['s3']}",
               "VOXMOJI_WEB_BIND": f"127.0.0.1:{p['web']}", "VOXMOJI_API_UPSTREAM": f"127.0.0.1:{p['web']}",
               "VOXMOJI_HTTP_PORT": str(p["http"])}
        own = {"redis": {"REDIS_PORT": str(p["redis"])},
               "postgres": {"PGPORT": str(p["postgres"]), "POSTGRES_LISTEN": "127.0.0.1"},
               "s3": {"S3_PORT": str(p["s3"]), "WEED_PORT_BASE": str(p["weed"])}}
        return {"services": {name: {"network_mode": "host", "environment": own.get(name, app)} for name in STACK}}

    def compose(self, *args, timeout=600, check=True):
        command = ["podman-compose", "--podman-path", PODMAN, "-p", self.project, "-f", "compose.yaml",
                   "-f", "override.yaml", *args]
        done = subprocess.run(command, cwd=self.root, capture_output=True, text=True, timeout=timeout,
                              env={**os.environ, "VOXMOJI_IMAGE_TAG": TAG})
        if check and done.returncode != 0:
            raise AssertionError(f"{' '.join(args)}: {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
        return done

    def container(self, service):
        """The name podman-compose gives a service's (first) container."""
        return f"{self.project}_{service}_1"

    def up(self, timeout=600):
        started = time.monotonic()
        self.compose("up", "-d", *STACK)
        wait_for(self.ready, timeout=timeout, step=1)
        self.seconds_to_ready = round(time.monotonic() - started, 1)
        FIGURES.append(f"compose up -> ready through Nginx: {self.seconds_to_ready} s")
        return self

    def ready(self):
        """The one-shot migration done (the schema, and the bucket: S3 answered), then /readyz through Nginx:
        Redis, the database and a live worker. podman-compose 1.0.3 starts the services in order but ignores
        depends_on's conditions, so the app may start before S3 and the migration are done. A service that
        keeps restarting fails at once, named, rather than at the timeout."""
        states = self.states()
        looping = {service: state for service, state in states.items() if state[2] >= CRASH_LOOP}
        assert not looping, f"crash-looping (state, exit code, restarts): {looping}\n{self.logs(next(iter(looping)))}"
        if states.get("migrate", ())[:2] != ("exited", 0):
            return False
        try:
            answer = requests.get(self.base_url + "/readyz", timeout=3)
        except requests.RequestException:
            return False
        return answer.status_code == 200

    def psql(self, sql):
        """Rows of a query, as lists of strings, run by psql inside the postgres container."""
        done = podman("exec", self.container("postgres"), "psql", "-h", "/tmp", "-p", str(self.ports["postgres"]),
                      "-U", "postgres", "-d", "voxmoji", "-At", "-F", "|", "-c", sql)
        return [line.split("|") for line in done.stdout.splitlines() if line]

    def logs(self, service):
        """A service's output as the container wrote it: stdout and stderr interleaved (servers log to stderr)."""
        done = subprocess.run([PODMAN, "logs", self.container(service)], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, timeout=60, cwd=REPO)
        return done.stdout[-4000:]

    def states(self):
        """Each service's container: (state, exit code, restarts)."""
        states = {}
        for line in podman("inspect", "--format", "{{.Name}} {{.State.Status}} {{.State.ExitCode}} {{.RestartCount}}",
                           *map(self.container, STACK), check=False).stdout.splitlines():
            name, status, code, restarts = line.split()
            states[name.removeprefix(self.project + "_").removesuffix("_1")] = (status, int(code), int(restarts))
        return states

    def down(self):
        self.compose("down", "-v", timeout=300, check=False)
        # podman-compose's stop and rm miss a container caught between restarts (a crash loop): it would go on
        # restarting after the tests, so whatever of the project is left is removed by force
        label = f"label=io.podman.compose.project={self.project}"
        left = podman("ps", "-a", "-q", "--filter", label, check=False).stdout.split()
        if left:
            podman("rm", "-f", "-t", "0", *left, check=False)
        podman("volume", "prune", "-f", check=False)


@pytest.fixture(scope="session")
def compose_stack(built, tmp_path_factory):
    stack = ComposeStack(tmp_path_factory.mktemp("compose"))
    try:
        yield stack.up()
    except BaseException:
        print(stack.states())
        for service in STACK:
            print(f"--- {service}\n{stack.logs(service)}")
        raise
    finally:
        stack.down()


def pytest_collection_modifyitems(items):
    """Building images cold takes far longer than the suite's per-test timeout (pyproject.toml)."""
    for item in items:
        if "tests/images/" in str(item.path):
            item.add_marker(pytest.mark.timeout(3600))
