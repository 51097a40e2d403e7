"""The layers, as a contract over the import graph (every import, function-level ones included):
views (api, console) -> services -> storage; celery_tasks -> renders -> engines. Inside services the role packages
are layers too: intake -> backoffice -> jobs -> media. Renders and engines take their file I/O from the media
layer only. Nothing imports a layer above its own, and no modules import each other in a circle."""
import ast
from pathlib import Path

import pytest

BACKEND = Path(__file__).resolve().parent.parent / "backend"

# layer -> the layers it must never import (directly or inside a function)
SERVICES = ("services.intake", "services.backoffice", "services.jobs", "services.media")  # top to bottom
# the web tier imports no engine: nor the module that loads them (engine_choice.served)
ABOVE_THE_WEB_TIER = {"api", "console", "renders", "celery_tasks", "worker", "engines", "engine_choice.served"}
FORBIDDEN = {
    "engines": {"api", "console", "renders", "celery_tasks", "worker", "engine_choice", "engine_choice.served",
                *SERVICES},
    "engine_choice": {"api", "console", "renders", "celery_tasks", "worker", "engines", "engine_choice.served",
                      *SERVICES},
    "engine_choice.served": {"api", "console", "renders", "celery_tasks", "worker", *SERVICES},
    "renders": {"api", "console", "celery_tasks", "worker", "services.intake", "services.backoffice", "services.jobs"},
    "celery_tasks": {"api", "console", "worker"},
    "api": {"renders", "celery_tasks", "worker", "engines", "engine_choice.served"},
    "console": {"api", "renders", "celery_tasks", "worker", "engines", "engine_choice.served"},
    **{role: ABOVE_THE_WEB_TIER | set(SERVICES[:index + 1]) - {role} for index, role in enumerate(SERVICES)},
}


def module_name(path):
    parts = list(path.relative_to(BACKEND.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules():
    return {module_name(path): path for path in BACKEND.rglob("*.py") if "migrations" not in path.parts}


def imports_of(name, path, known):
    """The backend modules a module imports (`from backend import x` is module backend.x when that exists)."""
    found = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("backend")}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            if not base.startswith("backend"):
                continue
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                found.add(candidate if candidate in known else base)
    return {module for module in found if module in known and module != name}


def layer(module):
    parts = module.split(".")
    if parts[1:2] == ["services"] and len(parts) > 2:
        return ".".join(parts[1:3])  # a role package of the services
    if parts[1:3] == ["engine_choice", "served"]:
        return "engine_choice.served"  # the worker side of engine choice: it loads engine code
    return parts[1] if len(parts) > 1 else "app"


@pytest.fixture(scope="module")
def graph():
    known = modules()
    return {name: imports_of(name, path, known) for name, path in known.items()}


def test_no_layer_imports_one_above_it(graph):
    breaches = [f"{module} imports {imported}" for module, imported_set in sorted(graph.items())
                for imported in sorted(imported_set)
                if layer(imported) in FORBIDDEN.get(layer(module), set())]
    assert breaches == []


def test_no_import_circles(graph):
    index, low, on_stack, stack, circles = {}, {}, set(), [], []

    def visit(node):  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    assert circles == []


def test_the_contract_sees_function_level_imports(graph):
    """The checker itself: a function-level import counts (renders import engines inside and outside)."""
    assert "backend.engine_choice.served" in graph["backend.renders.tts"]
    assert "backend.engines.sticker_post" in graph["backend.engines.sticker_classic"]


def test_every_service_module_has_a_role(graph):
    """No module lies loose in services/: each belongs to one of the role packages the layers name."""
    loose = [module for module in graph if module.startswith("backend.services.")
             and layer(module) not in SERVICES]
    assert loose == []


def test_the_service_roles_are_ordered():
    """A role may import the roles below it and never one above: the forbidden sets say exactly that."""
    assert FORBIDDEN["services.media"] >= {"services.intake", "services.backoffice", "services.jobs"}
    assert "services.media" not in FORBIDDEN["services.intake"]
    assert FORBIDDEN["renders"] >= {"services.intake", "services.backoffice"}
