"""What applying a project to the mesh does: a new project, a new version of one, nothing
(the same declaration again), or a refusal (a change the served model cannot take).

A new version may change anything that leaves the model's inputs as they were (the gate,
monitoring, retraining, the network's training settings, descriptions, a new record
field no feature reads): the champion keeps serving and the next training uses the new
settings. A change of the inputs (a feature added, removed or computed differently, a
category list, the label's classes, the entity key) would leave the served model reading
features it was not trained on: it is refused, with what changed, and the project can be
applied under a new name instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from mlops_contracts import ProjectApplied
from mlops_contracts.projects import Project

Action = Literal["create", "update", "unchanged", "refused"]


@dataclass(frozen=True)
class ApplyPlan:
    """What applying does, and why."""

    action: Action
    version: int
    """The version the project has after applying (the current one when unchanged or
    refused)."""
    changes: tuple[str, ...]
    """What differs from the applied version: the sections, or (refused) the inputs."""
    event: ProjectApplied | None
    """The event to publish (create and update only)."""

    def summary(self, name: str) -> str:
        """One line for the user."""
        if self.action == "create":
            return f"project {name} created as version 1"
        if self.action == "unchanged":
            return f"project {name} is unchanged (version {self.version}); nothing applied"
        if self.action == "update":
            return (
                f"project {name} updated to version {self.version} ({', '.join(self.changes)} "
                "changed); the model's inputs are unchanged, so the champion keeps serving"
            )
        return (
            f"refused: this change of project {name} changes the model's inputs, which the "
            f"served model (version {self.version} of the project) cannot read: "
            + "; ".join(self.changes)
            + f". Nothing was applied. Apply it under a new name (e.g. {name}-v2) to train "
            "a new model beside the current one."
        )


def plan_apply(
    project: Project, current: ProjectApplied | None, *, applied_by: str, now: datetime
) -> ApplyPlan:
    """What applying ``project`` over the ``current`` applied version does."""
    if current is None:
        return ApplyPlan("create", 1, (), _event(project, 1, applied_by, now))
    if current.fingerprint == project.fingerprint():
        return ApplyPlan("unchanged", current.version, (), None)
    if current.signature != project.signature_fingerprint():
        return ApplyPlan(
            "refused", current.version, tuple(input_changes(current.project, project)), None
        )
    version = current.version + 1
    changed = tuple(section_changes(current.project, project))
    return ApplyPlan("update", version, changed, _event(project, version, applied_by, now))


def _event(project: Project, version: int, applied_by: str, now: datetime) -> ProjectApplied:
    return ProjectApplied.of(project, version=version, applied_by=applied_by, applied_at=now)


def section_changes(old: Project, new: Project) -> list[str]:
    """The top-level sections that differ."""
    before, after = old.model_dump(mode="json"), new.model_dump(mode="json")
    return [key for key in after if before.get(key) != after[key]]


def input_changes(old: Project, new: Project) -> list[str]:
    """How the model's inputs differ, one phrase per change."""
    before, after = old.input_signature(), new.input_signature()
    changes: list[str] = []
    if before["entity"] != after["entity"]:
        changes.append(f"entity key {before['entity']} -> {after['entity']}")
    old_features = {f["name"]: f for f in before["features"]}
    new_features = {f["name"]: f for f in after["features"]}
    changes += [f"feature {name} added" for name in new_features if name not in old_features]
    changes += [f"feature {name} removed" for name in old_features if name not in new_features]
    for name in new_features.keys() & old_features.keys():
        changes += [
            f"feature {name}: {key} {_shown(old_features[name][key])} -> "
            f"{_shown(new_features[name][key])}"
            for key in new_features[name]
            if old_features[name][key] != new_features[name][key]
        ]
    if [f for f in old_features if f in new_features] != [
        f for f in new_features if f in old_features
    ]:
        changes.append("features reordered")
    if before["label"] != after["label"]:
        changes.append(f"label classes {before['label']} -> {after['label']}")
    return changes


def _shown(value: Any) -> str:
    return "none" if value is None else str(value)
