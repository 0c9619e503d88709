"""The schema of ``lesson.yaml``: every key, its type and its default, in one place.

A misspelt key, a wrong type or a missing required key is a :class:`LessonConfigError`
whose one-line message names the file and the key, so ``dlcourse build`` stops on it
instead of silently using a default. Importing this loads pydantic, not torch: the
grader's own process reads lesson.yaml too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, StrictStr, ValidationError, \
    field_validator, model_validator

from .datasets import DATASETS
from .spec import LayerSpec

Role = Literal["architecture", "accuracy", "gap", "design"]


class LessonConfigError(ValueError):
    """lesson.yaml breaks its schema or disagrees with the lesson's other sources (one line)."""

    def _render_traceback_(self) -> list[str]:
        # IPython calls this instead of printing a traceback: a notebook shows the one line.
        return [f"{type(self).__name__}: {self}"]


class _Strict(BaseModel):
    # Unknown keys are errors: a misspelt key must not fall back to a default unnoticed.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class GradescopeConfig(_Strict):
    """The limits set in the Gradescope assignment (Gradescope's defaults)."""

    timeout: StrictInt = Field(600, gt=0)      # seconds for the whole container
    memory_mb: StrictInt = Field(768, gt=0)    # the container's memory


class ArchitectureConfig(_Strict):
    """The network the lesson asks for (see dlcourse.spec)."""

    input: list[StrictInt] = Field(min_length=1)
    layers: list[StrictStr | dict] = Field(min_length=1)

    @field_validator("layers")
    @classmethod
    def _layers_parse(cls, layers: list) -> list:
        for entry in layers:
            LayerSpec.parse(entry)  # a ValueError names the entry
        return layers


class PrepareConfig(_Strict):
    """How the clean room turns stored uint8 images into network input."""

    standardize: Optional[Literal["train"]] = None  # each channel with training-set statistics


class DesignConfig(_Strict):
    """The open design task: the student's own network, saved as a description (dlcourse.design)
    beside its weights, measured by the clean room against a target and a parameter budget."""

    description: StrictStr = Field(pattern=r"^[\w.-]+\.json$")   # the network as data
    weights: StrictStr = Field(pattern=r"^[\w.-]+\.pt$")
    accuracy_threshold: StrictFloat = Field(gt=0, le=1)   # on the full test split, measured from the weights
    max_parameters: StrictInt = Field(gt=0)               # counted from the description, checked before building
    # the stated limit on training time: the text states it and the notebook prints the time
    # measured; the clean room cannot measure it, so it is not graded
    training_minutes: StrictInt = Field(gt=0)


class LessonConfig(_Strict):
    """One lesson.yaml. Required: id, title, dataset; everything else has its default here."""

    id: StrictStr = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    title: StrictStr
    notebook: Optional[StrictStr] = None             # default: <id>.ipynb
    dataset: StrictStr
    weights: Optional[StrictStr] = None              # the file the training cell saves
    accuracy_threshold: Optional[StrictFloat] = Field(None, gt=0, le=1)
    grading_timeout: StrictInt = Field(600, gt=0)    # seconds for one submission's notebook
    gradescope: GradescopeConfig = GradescopeConfig()
    architecture: Optional[ArchitectureConfig] = None
    prepare: PrepareConfig = PrepareConfig()
    # role -> the question the clean room re-verifies from the submitted weights alone
    verified_questions: dict[Role, StrictStr] = {}
    baseline: Optional[StrictStr] = None             # a lesson whose trained network is submitted too
    gap_images: StrictInt = Field(2000, gt=0)        # images of each split that gaps are measured on
    # the share of the training set the notebook holds out for validation: never in the
    # standardization statistics, never measured as training images
    validation_fraction: float = Field(0.0, ge=0, lt=1)
    design: Optional[DesignConfig] = None            # an open design task (the student's own network)

    @field_validator("dataset")
    @classmethod
    def _known_dataset(cls, name: str) -> str:
        if name not in DATASETS:
            raise ValueError(f"unknown dataset {name!r} (known: {', '.join(DATASETS)})")
        return name

    @model_validator(mode="after")
    def _roles_have_what_they_measure(self) -> LessonConfig:
        needs = {"architecture": ("architecture",), "accuracy": ("weights", "accuracy_threshold"),
                 "gap": ("weights", "baseline"), "design": ("design", "architecture")}
        for role in self.verified_questions:
            missing = [key for key in needs[role] if getattr(self, key) is None]
            if missing:
                raise ValueError(f"verified_questions.{role} needs {' and '.join(missing)}")
        return self


_UNION_MEMBERS = {"str", "int", "float", "bool"}


def read_config(path: Path, data: object) -> LessonConfig:
    """``data`` (lesson.yaml as parsed) validated; a LessonConfigError names ``path`` and the key."""
    if not isinstance(data, dict):
        raise LessonConfigError(f"{path}: a lesson.yaml is a mapping of settings, not {type(data).__name__}")
    try:
        return LessonConfig.model_validate(data)
    except ValidationError as error:
        raise LessonConfigError(f"{path}: {first_problem(error)}") from None


def first_problem(error: ValidationError) -> str:
    """The first error as one line: where (``gradescope.timeout``) and what."""
    problem = error.errors()[0]
    # a union's member ("str", "int", "function-after[...]") is no key of the file
    where = ".".join(str(part) for part in problem["loc"]
                     if part != "[key]" and part not in _UNION_MEMBERS and "[" not in str(part))
    kind, message = problem["type"], problem["msg"].removeprefix("Value error, ")
    if kind == "extra_forbidden":
        return f"unknown key {where!r}"
    if kind == "missing":
        return f"required key {where!r} is missing"
    if not where:
        return message
    return f"{where}: {message} (got {problem['input']!r})" if kind != "value_error" else f"{where}: {message}"
