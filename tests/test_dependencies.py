"""What the environment holds: MediaPipe without the jax/jaxlib it declares but never uses here."""
import importlib.util
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
