"""Model projects: a user's table, label and model, declared in one file.

- :mod:`mlops_contracts.projects`: the project (schema, features, label, model, gate,
  monitoring, retraining) and its validation;
- :mod:`mlops_projects.files`: reading a project file (every problem at once) and writing
  one a person can edit;
- :mod:`mlops_projects.inference`: a first project file inferred from a CSV
  (`mlops project init`);
- :mod:`mlops_projects.values`: how a table's cells are read.
"""

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
)
from mlops_projects.files import (
    PROJECT_FILE,
    ProjectFileError,
    parse_project,
    project_file,
    read_project,
    render_project,
)
from mlops_projects.inference import Column, Inference, InferenceError, infer_project

__all__ = [
    "PROJECT_FILE",
    "Column",
    "Entity",
    "Feature",
    "Gate",
    "Inference",
    "InferenceError",
    "Label",
    "ModelSettings",
    "Monitoring",
    "Problem",
    "Project",
    "ProjectFileError",
    "RecordField",
    "Retraining",
    "infer_project",
    "parse_project",
    "project_file",
    "read_project",
    "render_project",
]
