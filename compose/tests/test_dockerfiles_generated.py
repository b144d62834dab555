"""The service Dockerfiles are generated: each is what compose/images/Dockerfile.template renders
for its service now (``make dockerfiles``), as ``make contracts-check`` does for the contracts."""

from __future__ import annotations

import importlib
import shutil
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
IMAGES = ROOT / "compose" / "images"


@pytest.fixture
def dockerfiles(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """compose/images/dockerfiles.py, imported as its script sees itself (parts.py beside it)."""
    monkeypatch.syspath_prepend(str(IMAGES))
    return importlib.import_module("dockerfiles")


def test_every_committed_dockerfile_is_what_the_template_renders(dockerfiles: ModuleType) -> None:
    stale = [f"services/{service}/Dockerfile" for service in dockerfiles.stale_services()]
    assert not stale, (
        f"{', '.join(stale)} differ from compose/images/Dockerfile.template: "
        "run `make dockerfiles` and commit the result (edit the template, not the Dockerfiles)"
    )


def test_the_check_names_a_drifted_dockerfile_and_the_fix(
    dockerfiles: ModuleType,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for service in dockerfiles.services():
        (tmp_path / service).mkdir()
        shutil.copy(ROOT / "services" / service / "Dockerfile", tmp_path / service / "Dockerfile")
    monkeypatch.setattr(
        dockerfiles, "dockerfile", lambda service: tmp_path / service / "Dockerfile"
    )
    edited = tmp_path / "gateway" / "Dockerfile"
    edited.write_text(edited.read_text().replace("USER 10001:10001", "USER root"))

    assert dockerfiles.main(["--check"]) == 1
    report = capsys.readouterr().out
    assert "gateway/Dockerfile" in report
    assert "make dockerfiles" in report
    assert "USER root" in edited.read_text(), "--check must not write"

    assert dockerfiles.main([]) == 0
    assert edited.read_text() == dockerfiles.render("gateway")
    assert dockerfiles.main(["--check"]) == 0


def test_the_generated_dockerfiles_say_they_are_generated(dockerfiles: ModuleType) -> None:
    for service in dockerfiles.services():
        lines = (ROOT / "services" / service / "Dockerfile").read_text().splitlines()
        assert lines[0] == "# syntax=docker/dockerfile:1"  # a parser directive must come first
        assert "make dockerfiles" in lines[1]
        assert "compose/images/Dockerfile.template" in lines[1]
