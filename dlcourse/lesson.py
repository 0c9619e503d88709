"""A lesson's settings, read from its ``lesson.yaml``.

The file sits beside the master notebook in ``assignments/<id>/`` and travels with the
student notebook and the autograder, so tests everywhere read the same settings. It is
public: it holds only what the lesson text tells students (dataset, weights file name,
accuracy target, the network to build), never an answer.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import yaml

from .spec import ArchSpec

if TYPE_CHECKING:  # torch is imported only where tensors are made: graders stay light
    import torch

    from .data import ImageDataset

LESSON_FILE = "lesson.yaml"
BASELINE_FILE = "baseline.yaml"  # the baseline lesson's settings, copied beside lesson.yaml by the build
DATASETS = {"mnist": "MNIST", "cifar10": "CIFAR10"}  # lesson.yaml name -> dlcourse.data class


@dataclass(frozen=True)
class Lesson:
    id: str
    title: str
    directory: Path
    notebook: str
    dataset: str
    weights: str | None = None
    accuracy_threshold: float | None = None
    grading_timeout: int = 600
    architecture: ArchSpec | None = None
    # How the clean room turns stored uint8 images into network input (see reference_prepare).
    prepare: dict = field(default_factory=dict)
    # Question names the clean room re-verifies from the submitted weights alone.
    verified_questions: dict[str, str] = field(default_factory=dict)
    # A lesson whose trained network is submitted too, to compare with (its id).
    baseline: str | None = None
    gap_images: int = 2000  # images of each split that train-test accuracy gaps are measured on
    # The limits set in the Gradescope assignment's settings (``gradescope: {timeout: 600,
    # memory_mb: 768}``, Gradescope's defaults): the autograder fits its own limits inside them.
    gradescope_timeout: int = 600
    gradescope_memory_mb: int = 768

    @classmethod
    def load(cls, path: str | os.PathLike) -> Lesson:
        path = Path(path)
        if path.is_dir():
            path = path / LESSON_FILE
        config = yaml.safe_load(path.read_text())
        architecture = config.get("architecture")
        gradescope = config.get("gradescope") or {}
        return cls(
            id=config["id"], title=config["title"], directory=path.parent.resolve(),
            notebook=config.get("notebook", f"{config['id']}.ipynb"),
            dataset=config["dataset"], weights=config.get("weights"),
            accuracy_threshold=config.get("accuracy_threshold"),
            grading_timeout=int(config.get("grading_timeout", 600)),
            architecture=ArchSpec.from_config(architecture) if architecture else None,
            prepare=dict(config.get("prepare", {})),
            verified_questions=dict(config.get("verified_questions", {})),
            baseline=config.get("baseline"), gap_images=int(config.get("gap_images", 2000)),
            gradescope_timeout=int(gradescope.get("timeout", 600)),
            gradescope_memory_mb=int(gradescope.get("memory_mb", 768)),
        )

    def baseline_lesson(self) -> Lesson | None:
        """The baseline lesson's settings: beside this file in a release, else in the course."""
        if not self.baseline:
            return None
        copied = self.directory / BASELINE_FILE
        return Lesson.load(copied if copied.is_file() else self.directory.parent / self.baseline / LESSON_FILE)

    @property
    def submitted_files(self) -> list[str]:
        """The weights files a submission must hold: this lesson's and its baseline's."""
        baseline = self.baseline_lesson()
        return [name for name in (self.weights, baseline.weights if baseline else None) if name]

    def test_set(self, root: str | os.PathLike | None = None) -> ImageDataset:
        return dataset_class(self.dataset)(root, train=False)

    def train_set(self, root: str | os.PathLike | None = None) -> ImageDataset:
        return dataset_class(self.dataset)(root, train=True)

    def reference_prepare(self, train_images: torch.Tensor | None = None) -> Callable[[torch.Tensor], torch.Tensor]:
        """The lesson's own input pipeline: scale to [0, 1], then optionally standardise.

        ``prepare: {standardize: train}`` standardises each channel with statistics of the
        training set (``train_images`` if given, else loaded), computed here so that no
        expected value needs to be written down.
        """
        from .data import channel_stats

        mean = std = None
        if self.prepare.get("standardize") == "train":
            images = train_images if train_images is not None else self.train_set().images
            mean, std = channel_stats(images)

        def prepare(images: torch.Tensor) -> torch.Tensor:
            x = images.float() / 255
            if mean is not None:
                x = (x - mean.view(1, -1, 1, 1)) / std.view(1, -1, 1, 1)
            return x

        return prepare


def dataset_class(name: str) -> type[ImageDataset]:
    from . import data

    return getattr(data, DATASETS[name])


_notebook_lesson: Path | None = None  # set by the notebook's first cell (dlcourse.session)


def use_lesson_folder(folder: Path) -> None:
    """Make ``folder``'s ``lesson.yaml`` the current lesson of this process, wherever its
    working directory is (the settings a notebook carries, unpacked by its first cell)."""
    global _notebook_lesson
    _notebook_lesson = Path(folder)


def current_lesson(start: str | os.PathLike = ".") -> Lesson:
    """The lesson the running notebook carries (see :func:`use_lesson_folder`), else the one
    whose ``lesson.yaml`` sits in ``start`` (the notebook's folder)."""
    if _notebook_lesson is not None and (_notebook_lesson / LESSON_FILE).is_file():
        return Lesson.load(_notebook_lesson / LESSON_FILE)
    path = Path(start) / LESSON_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"{LESSON_FILE} is not in {Path(start).resolve()}: run the notebook's first cell, or open the "
            f"notebook from the lesson folder")
    return Lesson.load(path)
