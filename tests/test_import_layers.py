"""`domain/` modules of every service are pure: they import no I/O library."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Libraries that talk to the outside world (or drag it in): none may be imported by domain/.
IO_LIBRARIES = frozenset(
    {
        "aiokafka",
        "asyncpg",
        "aiosqlite",
        "evidently",
        "fastapi",
        "feast",
        "httpx",
        "mlflow",
        "prometheus_client",
        "psycopg",
        "psycopg2",
        "redis",
        "requests",
        "safetensors",
        "service_kit",
        "sqlalchemy",
        "starlette",
        "torch",
        "urllib",
        "uvicorn",
        "socket",
        "subprocess",
        "http",
    }
)


# Modules of a service that wire or perform I/O: domain/ must not reach them either.
OUTER_LAYERS = frozenset({"adapters", "main", "routes", "service", "settings"})


def forbidden_imports(source: str) -> list[str]:
    """I/O libraries and a service's outer-layer modules imported anywhere in ``source``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            names = [module] if module else []
            if node.level:  # relative: `from ..adapters import x`, `from .. import main`
                names = ["." * node.level + module] if module else []
                names += ["." * node.level + alias.name for alias in node.names if not module]
        else:
            continue
        for name in names:
            parts = name.lstrip(".").split(".")
            if name.startswith("."):
                if OUTER_LAYERS & set(parts):
                    found.append(name)
            elif parts[0] in IO_LIBRARIES or (len(parts) > 1 and parts[1] in OUTER_LAYERS):
                found.append(name)
    return found


def domain_modules() -> list[Path]:
    return sorted(ROOT.glob("services/*/src/*/domain/**/*.py"))


def test_every_service_has_a_domain_package() -> None:
    services = {p.name for p in (ROOT / "services").iterdir() if p.is_dir()}
    with_domain = {p.parts[-5] for p in ROOT.glob("services/*/src/*/domain/__init__.py")}
    assert services == with_domain


@pytest.mark.parametrize("module", domain_modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_domain_module_imports_no_io_library(module: Path) -> None:
    assert forbidden_imports(module.read_text()) == []


def test_checker_catches_io_and_outer_layer_imports() -> None:
    source = (
        "import torch\nfrom sqlalchemy.orm import Session\nfrom . import rules\nimport math\n"
        "from ..adapters.store import Store\nfrom .. import main\n"
        "from predictor.routes import router\nfrom predictor.domain.batch import Batch\n"
    )
    assert forbidden_imports(source) == [
        "torch",
        "sqlalchemy.orm",
        "..adapters.store",
        "..main",
        "predictor.routes",
    ]
