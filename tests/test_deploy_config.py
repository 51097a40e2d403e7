"""One source of truth for configuration: the environment variables each way of deploying VoxMoji names are the
ones the code reads. A deployment file that sets a variable nothing reads (a typo, a renamed setting), or that
leaves out one a process cannot run without, fails here.

What "reads" means is taken from the code by running it, not by searching its text: backend/config.py's
load_config and backend/stack.py's settings run against an environment that records every name asked of it.
Added to those: the variables the Makefile takes from the environment (`NAME ?= default`), and the few that the
images' entrypoints read (IMAGE_VARIABLES, checked against docker/ once it is in the tree).

A deployment file is one entry of DEPLOYMENTS: a function from the file to {process: (names it sets, names it
must set)}.
"""
import os
import re
from dataclasses import dataclass
from typing import Callable

import helm_chart
import pytest
import yaml
from helm_chart import REPO, kind, pod_spec

from backend import stack
from backend.config import SECRET_NAMES, load_config

# Read by the images' entrypoints (docker/, built by the images' owner), not by Python; the chart and Compose set
# them. docs/deploy.md ("Kubernetes") describes them.
IMAGE_VARIABLES = {
    "VOXMOJI_API_UPSTREAM": "nginx image: the web tier's host:port that Nginx passes requests to",
    "VOXMOJI_WEB_BIND": "web image: the address gunicorn binds (host:port) instead of the local stack's socket",
}
# What a VoxMoji process cannot do without on a host or pod of its own: config.py refuses to start without the
# secrets outside the dev mode, and DATABASE_URL and REDIS_URL default to this machine's SQLite file and Redis
# socket, which no other pod or container shares.
APP_REQUIRED = frozenset({*SECRET_NAMES.values(), "DATABASE_URL", "REDIS_URL"})
# Nginx signs nothing but checks media links (secure_link) and passes the rest to the web tier.
NGINX_REQUIRED = frozenset({"VOXMOJI_MEDIA_SECRET", "VOXMOJI_API_UPSTREAM"})
ROLES = ("web", "nginx", "worker", "worker-gpu")


class RecordingEnviron(dict):
    """An environment that remembers every variable name read from it."""

    def __init__(self, values):
        super().__init__(values)
        self.read = set()

    def get(self, name, default=None):
        self.read.add(name)
        return super().get(name, default)

    def __getitem__(self, name):
        self.read.add(name)
        return super().__getitem__(name)

    def __bool__(self):  # an empty one is still the environment (`environ or os.environ`)
        return True


def makefile_variables():
    """The variables the Makefile takes from the environment (`NAME ?= default`, also `target: export NAME ?=`)."""
    text = (REPO / "Makefile").read_text()
    return set(re.findall(r"^(?:[\w.-]+:\s*)?(?:export\s+)?([A-Z][A-Z0-9_]*)\s*\?=", text, re.MULTILINE))


@pytest.fixture(scope="module")
def variables_read(tmp_path_factory):
    """Every variable the code reads: config.py's and stack.py's (recorded), the Makefile's, the images' (their
    entrypoints' and docker/Dockerfile's build arguments)."""
    environ = RecordingEnviron({"VOXMOJI_ENV": "development",
                                "VOXMOJI_VAR_DIR": str(tmp_path_factory.mktemp("var"))})
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(os, "environ", environ)
        load_config(environ)
        stack.environment(stack.settings())
    return frozenset(environ.read | makefile_variables() | set(IMAGE_VARIABLES) | build_arguments())


def test_the_reads_are_recorded(variables_read):
    """The recording sees config.py's reads (secrets, S3, engines) and stack.py's (pool, Nginx limits)."""
    assert {"VOXMOJI_SECRET_KEY", "VOXMOJI_MEDIA_SECRET", "DATABASE_URL", "REDIS_URL", "S3_BUCKET",
            "VOXMOJI_JOB_HARD_TIME_LIMIT", "COSYVOICE_MODEL_DIR", "VOXMOJI_WORKER_POOL",
            "VOXMOJI_NGINX_HEADER_TIMEOUT", "VOXMOJI_WEB_BEAT", "MALLOC_ARENA_MAX"} <= variables_read
    assert "VOXMOJI_NO_SUCH_SETTING" not in variables_read


# --- what each deployment file sets -----------------------------------------------------------------------------

def chart_processes(chart_dir):
    """Per container of the rendered chart (every shape of tests/helm_chart.py): the names it gets from env,
    the ConfigMap and the Secret; plus the names values.yaml offers, which must be read too."""
    processes = {}
    for variant in helm_chart.VARIANTS:
        objects = helm_chart.rendered(variant)
        data = {(obj["kind"], obj["metadata"]["name"]): set(obj.get("data", {}))
                for obj in kind(objects, "ConfigMap") + kind(objects, "Secret")}
        for workload in kind(objects, "Deployment") + kind(objects, "Job"):
            for container in pod_spec(workload)["containers"]:
                names = {item["name"] for item in container.get("env", [])}
                external = False  # a Secret made elsewhere (existingSecret): its keys are the operator's
                for source in container.get("envFrom", []):
                    ref = ("ConfigMap", source["configMapRef"]["name"]) if "configMapRef" in source else (
                        "Secret", source["secretRef"]["name"])
                    external |= ref not in data
                    names |= data.get(ref, set())
                required = set() if external else NGINX_REQUIRED if container["name"] == "nginx" else APP_REQUIRED
                where = f"{variant}: {workload['kind']}/{workload['metadata']['name']}"
                processes[where] = (names, required)
    values = yaml.safe_load((chart_dir / "values.yaml").read_text())
    offered = set(values["config"]) | set(values["secrets"])
    for component in ("web", "nginx", "beat"):
        offered |= set(values[component].get("env") or {})
    for pool in values["workers"]["pools"].values():
        offered |= set(pool.get("env") or {})
    processes["values.yaml"] = (offered, set())
    return processes


def markdown_processes(path):
    """The variables a document names (in `code` and in fenced blocks); together they must include the
    required ones, since the document is what an operator sets up from."""
    text = path.read_text()
    names = set(re.findall(r"`([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)(?=[`=\s])", text))
    for block in re.findall(r"^```.*?$(.*?)^```", text, re.MULTILINE | re.DOTALL):
        names |= set(re.findall(r"\b([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)\b", block))
    return {path.name: (names, APP_REQUIRED | NGINX_REQUIRED)}


def compose_processes(path):
    """Per service of a Compose file run from a VoxMoji image (build target or image naming a role): the
    names in its `environment` (a mapping or a list of NAME=value; anchors and merge keys resolved)."""
    processes = {}
    for name, service in (yaml.safe_load(path.read_text()).get("services") or {}).items():
        build = service.get("build")
        target = build.get("target") if isinstance(build, dict) else None
        image = str(service.get("image", ""))
        role = target if target in ROLES else next(
            (role for role in sorted(ROLES, key=len, reverse=True) if "voxmoji" in image and image.rsplit(
                "/", 1)[-1].split(":")[0].endswith(role)), None)
        if role is None:
            continue
        environment = service.get("environment") or {}
        names = set(environment) if isinstance(environment, dict) else {item.split("=", 1)[0] for item in environment}
        env_files = service.get("env_file") or []
        # `.env` is shared by every service of the file (the database's and the store's own settings too), so
        # what it gives counts toward what a process needs, not as settings made for this one
        given = env_file_variables() if ".env" in ([env_files] if isinstance(env_files, str) else env_files) else set()
        processes[f"{path.name}: {name}"] = (names, (NGINX_REQUIRED if role == "nginx" else APP_REQUIRED) - given)
    assert processes, f"{path.name} runs no VoxMoji image"
    return processes


def env_file_variables():
    """The names `make .env` writes into Compose's `.env` (docker/new-env.sh)."""
    return set(re.findall(r"^([A-Z][A-Z0-9_]*)=", (REPO / "docker" / "new-env.sh").read_text(), re.MULTILINE))


def build_arguments():
    """The build arguments of docker/Dockerfile (an operator sets them on the build: base images, mirrors)."""
    text = (REPO / "docker" / "Dockerfile").read_text()
    return {name for line in re.findall(r"^ARG\s+(.+)$", text, re.MULTILINE)
            for name in re.findall(r"([A-Z][A-Z0-9_]*)(?:=\S*)?", line)}


@dataclass(frozen=True)
class Deployment:
    path: str  # relative to the repository
    processes: Callable  # Path -> {process: (names set, names required)}

    def __str__(self):
        return self.path


# Every file that deploys VoxMoji or tells an operator how.
DEPLOYMENTS = [
    Deployment("deploy/helm/voxmoji", chart_processes),
    Deployment("docs/deploy.md", markdown_processes),
    Deployment("compose.yaml", compose_processes),
]


@pytest.mark.parametrize("deployment", DEPLOYMENTS, ids=str)
def test_every_variable_set_is_read(deployment, variables_read):
    unread = {where: sorted(names - variables_read)
              for where, (names, _) in deployment.processes(REPO / deployment.path).items() if names - variables_read}
    assert not unread, f"{deployment} sets variables nothing reads (backend/config.py, backend/stack.py, the " \
                       f"Makefile, the images' IMAGE_VARIABLES): {unread}"


@pytest.mark.parametrize("deployment", DEPLOYMENTS, ids=str)
def test_every_required_variable_is_set(deployment):
    missing = {where: sorted(required - names)
               for where, (names, required) in deployment.processes(REPO / deployment.path).items()
               if required - names}
    assert not missing, f"{deployment} leaves out variables these processes need: {missing}"


def test_a_compose_file_is_read_per_service(tmp_path):
    """compose_processes, the entry Compose gets, on a file of the shape the issue asks for."""
    compose = tmp_path / "compose.yaml"
    compose.write_text("""
x-voxmoji: &voxmoji
  VOXMOJI_SECRET_KEY: ${VOXMOJI_SECRET_KEY:?run make env}
  VOXMOJI_MEDIA_SECRET: ${VOXMOJI_MEDIA_SECRET:?run make env}
  DATABASE_URL: postgresql+psycopg://voxmoji:${POSTGRES_PASSWORD}@postgres/voxmoji
  REDIS_URL: redis://redis:6379/0
services:
  postgres: {image: localhost/voxmoji-postgres, environment: {POSTGRES_PASSWORD: x}}
  web: {build: {context: ., dockerfile: docker/Dockerfile, target: web}, environment: {<<: *voxmoji, VOXMOJI_WEB_BIND: "0.0.0.0:8000"}}
  nginx: {image: "localhost/voxmoji-nginx:dev", environment: [VOXMOJI_MEDIA_SECRET=x, "VOXMOJI_API_UPSTREAM=web:8000"]}
  worker-gpu: {build: {context: ., target: worker-gpu}, environment: {<<: *voxmoji, VOXMOJI_WORKER_POOL: sollo}}
""")
    processes = compose_processes(compose)
    assert set(processes) == {"compose.yaml: web", "compose.yaml: nginx", "compose.yaml: worker-gpu"}
    assert processes["compose.yaml: nginx"] == ({"VOXMOJI_MEDIA_SECRET", "VOXMOJI_API_UPSTREAM"}, NGINX_REQUIRED)
    assert APP_REQUIRED <= processes["compose.yaml: worker-gpu"][0]


def test_the_images_variables_are_documented_and_read():
    deploy = (REPO / "docs" / "deploy.md").read_text()
    for name in IMAGE_VARIABLES:
        assert f"`{name}`" in deploy, f"docs/deploy.md does not describe {name}"
    text = "\n".join(path.read_text(errors="ignore") for path in (REPO / "docker").rglob("*") if path.is_file())
    text += (REPO / "backend" / "stack.py").read_text()
    unread = [name for name in IMAGE_VARIABLES if name not in text]
    assert not unread, f"no image reads {unread}: the chart sets them for nothing"
