"""Project files: read one (every problem at once, or a valid project) and write one a
person can read and edit."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from mlops_contracts.projects import (
    Entity,
    Feature,
    Gate,
    Label,
    ModelSettings,
    Monitoring,
    Problem,
    Project,
    RecordField,
    Retraining,
    cross_problems,
)

PROJECT_FILE = "project.yaml"
"""The project file's name in a project folder (``projects/NAME/project.yaml``)."""


class ProjectFileError(ValueError):
    """A project file that is not a valid project: every problem found, each with where
    in the file (a dotted path) and why."""

    def __init__(self, source: str, problems: Sequence[Problem]) -> None:
        self.source = source
        self.problems = tuple(problems)
        lines = "\n".join(f"  {path or '(file)'}: {reason}" for path, reason in self.problems)
        count = len(self.problems)
        super().__init__(f"{source}: {count} problem{'s' * (count != 1)}\n{lines}")


def project_file(path: Path) -> Path:
    """The project file of ``path``: the file itself, or ``project.yaml`` in a folder."""
    return path / PROJECT_FILE if path.is_dir() else path


def read_project(path: Path) -> Project:
    """The project declared at ``path`` (a project folder or its file)."""
    file = project_file(path)
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ProjectFileError(str(file), [("", f"cannot read it: {error}")]) from error
    return parse_project(text, source=str(file))


def parse_project(text: str, *, source: str = "project file") -> Project:
    """The project declared by the YAML ``text``; :class:`ProjectFileError` lists every
    problem (schema and cross-references alike) when it is not valid."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ProjectFileError(source, [("", f"not YAML: {error}")]) from error
    if not isinstance(data, dict):
        raise ProjectFileError(source, [("", "a project file is a YAML mapping (name: ...)")])
    problems = unknown_keys(data, Project) + cross_problems(data)
    try:
        project = Project.model_validate(data)
        if not problems:
            return project
    except ValidationError as error:
        for detail in error.errors(include_url=False):
            if not detail["loc"] and problems:
                continue  # the cross-reference check again, already in problems
            problems.append((_path(detail["loc"]), _reason(detail)))
    raise ProjectFileError(source, _unique(problems))


def unknown_keys(data: object, model: type[BaseModel], where: str = "") -> list[Problem]:
    """Every key of ``data`` the ``model`` (and the sections in it) does not declare: in a
    file, a typo is an error, not a silently ignored line."""
    if not isinstance(data, dict):
        return []
    problems: list[Problem] = []
    for key, value in data.items():
        path = f"{where}.{key}" if where else str(key)
        if key not in model.model_fields:
            problems.append((path, "unknown key (a typo?)"))
            continue
        section = _SECTIONS.get((model, key))
        if section is None:
            continue
        if key == "fields" and isinstance(value, dict):
            for name, spec in value.items():
                problems += unknown_keys(spec, section, f"{path}.{name}")
        elif key == "features" and isinstance(value, list | tuple):
            for index, item in enumerate(value):
                problems += unknown_keys(item, section, f"{path}[{index}]")
        else:
            problems += unknown_keys(value, section, path)
    return problems


_SECTIONS: dict[tuple[type[BaseModel], str], type[BaseModel]] = {
    (Project, "entity"): Entity,
    (Project, "fields"): RecordField,
    (Project, "features"): Feature,
    (Project, "label"): Label,
    (Project, "model"): ModelSettings,
    (Project, "gate"): Gate,
    (Project, "monitoring"): Monitoring,
    (Project, "retraining"): Retraining,
}


def _path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part not in ("function-after[_shape()]",):
            path += f".{part}" if path else str(part)
    return path


def _reason(detail: Any) -> str:
    if detail["type"] == "missing":
        return "is required"
    message = str(detail["msg"])
    return message.removeprefix("Value error, ")


def _unique(problems: list[Problem]) -> list[Problem]:
    return list(dict.fromkeys(problems))


_SECTION_NOTES = {
    "entity": "What each row is about: the column that identifies it.",
    "time_column": "The column of each row's event time (a history); null: a snapshot.",
    "fields": "The record's fields: numeric, integer, boolean or categorical (with values).",
    "features": "The model's inputs: a field's latest value, or sum/count/mean/min/max of a "
    "field over a window (e.g. 30d) of the entity's records.",
    "label": "The outcome: its positive value, and how long after a row it is observed.",
    "model": "The built-in PyTorch network and its training.",
    "gate": "When a new version replaces the champion (metric on the newest labels).",
    "monitoring": "Windows of predictions, drift tests and the live performance check.",
    "retraining": "When the retrain trigger asks for a new version.",
}


def render_project(project: Project, *, header: Sequence[str] = ()) -> str:
    """The project as a commented YAML file (``header``: comment lines on top). Reading it
    back gives the same project."""
    data = project.model_dump(mode="json")
    compact = project.model_dump(mode="json", exclude_defaults=True)
    lines = [f"# {line}" if line else "#" for line in header]
    for key, value in data.items():
        if key == "features" and not value:
            continue  # the default: the latest value of every field
        if key in _SECTION_NOTES:
            lines.append(f"\n# {_SECTION_NOTES[key]}")
        if key in ("entity", "label"):
            lines.append(f"{key}: {_flow(compact.get(key, value))}")
        elif key == "fields":
            lines.append("fields:")
            # Names quoted where YAML would read them otherwise (a field `on` or `null`).
            lines.extend(f"  {_flow(name)}: {_flow(spec)}" for name, spec in compact[key].items())
        elif key == "features":
            lines.append("features:")
            lines.extend(f"  - {_flow(feature)}" for feature in compact[key])
        else:
            block = yaml.safe_dump({key: value}, sort_keys=False, default_flow_style=False)
            lines.append(block.rstrip())
    return "\n".join(lines).lstrip("\n") + "\n"


def _flow(value: Any) -> str:
    """One line of YAML flow style (``{type: categorical, values: [a, b]}``)."""
    text = yaml.safe_dump(value, sort_keys=False, default_flow_style=True, width=1_000_000)
    return text.strip().removesuffix("...").strip()
