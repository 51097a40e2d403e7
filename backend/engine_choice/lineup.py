"""The engines there are, as plain data: their family, name, tier and output version.

Read by the web tier (to route requests and name the engine in cache keys) and by the workers'
module of served engines (engine_choice/served.py, which adds where each engine's code lives and whether it can run on a machine).
Bump an engine's `version` whenever its output for the same request changes, so results cached by
the old code are not served for the new.
"""
from dataclasses import dataclass

GPU, EMBEDDED, CPU_NEURAL = "gpu", "embedded", "cpu-neural"
POLICIES = ("best", GPU, EMBEDDED)  # how the web tier picks an engine per family (backend/engine_choice/fleet.py)


@dataclass(frozen=True)
class Engine:
    family: str  # "tts" or "sticker": which job kinds it serves; "asr": consent recordings it transcribes
    name: str
    tier: str  # GPU (a model on a GPU in production), CPU_NEURAL (a model on CPU) or EMBEDDED (no weights)
    version: str
    # served only where VOXMOJI_WORKER_ENGINES names it (never chosen by `auto`): its weights' licence is unknown
    opt_in: bool = False

    @property
    def queue(self):
        """The Celery queue of this engine's workers."""
        return f"{self.family}.{self.name}"


# family -> engines, best first (what policy `best` prefers)
ENGINES = {
    "tts": (Engine("tts", "cosyvoice3", GPU, "1"), Engine("tts", "mellotron-zh", CPU_NEURAL, "2", opt_in=True),
            Engine("tts", "espeak-world", EMBEDDED, "2")),
    "sticker": (Engine("sticker", "sd-lora", GPU, "1"), Engine("sticker", "classic", EMBEDDED, "2")),
    # speech recognition, to check that a consent recording says its sentence; no embedded engine: without
    # one in the fleet a consent recording waits for a moderator (docs/API.md, "Consent")
    "asr": (Engine("asr", "funasr", CPU_NEURAL, "1"),),
}
FAMILIES = tuple(ENGINES)
# job kind -> the family of engines that runs it
# (a talking sticker runs where the voice is: its face is animated by the embedded face code)
FAMILY_BY_KIND = {"tts": "tts", "sticker": "sticker", "swap": "sticker", "pack": "sticker", "talking": "tts"}
QUEUES = tuple(engine.queue for engines in ENGINES.values() for engine in engines)


def get(family, name):
    """The engine `name` of `family`, or ValueError naming the choices."""
    for engine in ENGINES.get(family, ()):
        if engine.name == name:
            return engine
    raise ValueError(f"{name!r} is not a {family} engine; use one of {[e.name for e in ENGINES.get(family, ())]}")


def embedded(family):
    """The family's engine that runs anywhere (None for a family without one: `asr`)."""
    return next((engine for engine in ENGINES[family] if engine.tier == EMBEDDED), None)
