"""Write base/kafka/topics.yaml and users.yaml from the contracts' topic catalogue.

Run after changing contracts/src/mlops_contracts/topics.py: ``python k8s/generate.py``.
``--check`` exits 1 when the files differ from what the catalogue generates (validate.py
runs the same comparison).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from mesh_manifests.kafka_access import topics_yaml, users_yaml
from mesh_manifests.render import K8S_DIR

GENERATED: dict[Path, Callable[[], str]] = {
    K8S_DIR / "base" / "kafka" / "topics.yaml": topics_yaml,
    K8S_DIR / "base" / "kafka" / "users.yaml": users_yaml,
}
"""Each generated file and the function that writes its text."""


def stale_files() -> list[Path]:
    """Generated files whose content differs from what the catalogue generates now."""
    return [
        path for path, text in GENERATED.items() if not path.is_file() or path.read_text() != text()
    ]


def main(argv: list[str] | None = None) -> int:
    """Regenerate the files, or with --check only report the stale ones."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="report, do not write")
    args = parser.parse_args(argv)
    stale = stale_files()
    if args.check:
        for path in stale:
            print(f"stale: {path.relative_to(K8S_DIR.parent)} (run python k8s/generate.py)")
        return 1 if stale else 0
    for path in stale:
        path.write_text(GENERATED[path]())
        print(f"wrote {path.relative_to(K8S_DIR.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
