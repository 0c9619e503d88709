"""A lesson's settings, read from its ``lesson.yaml``.

The file sits beside the master notebook in ``assignments/<id>/`` and travels with the
student notebook and the autograder, so tests everywhere read the same settings. It is
public: it holds only what the lesson text tells students (dataset, weights file name,
accuracy target, the network to build), never an answer.
"""

from __future__ import annotations

import contextlib
import os
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator

import yaml

from .datasets import dataset_class
from .lesson_config import DesignConfig, LessonConfig, LessonConfigError, read_config
from .spec import ArchSpec

if TYPE_CHECKING:  # torch is imported only where tensors are made: graders stay light
    import torch

    from .data import ImageDataset

LESSON_FILE = "lesson.yaml"
BASELINE_FILE = "baseline.yaml"  # the baseline lesson's settings, generated beside lesson.yaml by the build


@dataclass(frozen=True)
class Lesson:
    """A lesson's settings, made only from a validated lesson.yaml (``load``): the schema,
    its defaults included, is ``lesson_config.LessonConfig``."""

    id: str
    title: str
    directory: Path
    notebook: str
    dataset: str
    weights: str | None
    accuracy_threshold: float | None
    grading_timeout: int
    architecture: ArchSpec | None
    # How the clean room turns stored uint8 images into network input (see reference_prepare).
    prepare: dict
    # Question names the clean room re-verifies from the submitted weights alone.
    verified_questions: dict[str, str]
    # A lesson whose trained network is submitted too, to compare with (its id).
    baseline: str | None
    gap_images: int  # images of each split that train-test accuracy gaps are measured on
    # The share of the training set the notebook holds out for validation (``len // 10`` for
    # 0.1, split by ``ImageDataset.split`` with seed 0): never used for standardization
    # statistics, nor measured as training images.
    validation_fraction: float
    # The limits set in the Gradescope assignment's settings: the autograder fits its own inside them.
    gradescope_timeout: int
    gradescope_memory_mb: int
    # The open design task (its files, target, parameter budget and stated training time), if any.
    design: DesignConfig | None = None

    @classmethod
    def load(cls, path: str | os.PathLike) -> Lesson:
        """The lesson of a lesson.yaml (or of the folder holding one); a LessonConfigError
        names the file and the key when it breaks the schema."""
        path = Path(path)
        if path.is_dir():
            path = path / LESSON_FILE
        try:
            data = yaml.safe_load(path.read_text())
        except yaml.YAMLError as error:
            raise LessonConfigError(f"{path}: not valid YAML ({' '.join(str(error).split())})") from None
        return cls.from_config(read_config(path, data), path.parent.resolve())

    @classmethod
    def from_config(cls, config: LessonConfig, directory: Path) -> Lesson:
        architecture = config.architecture
        return cls(
            id=config.id, title=config.title, directory=directory,
            notebook=config.notebook or f"{config.id}.ipynb", dataset=config.dataset,
            weights=config.weights, accuracy_threshold=config.accuracy_threshold,
            grading_timeout=config.grading_timeout,
            architecture=ArchSpec.from_config(architecture.model_dump()) if architecture else None,
            prepare=config.prepare.model_dump(exclude_none=True),
            verified_questions={str(role): name for role, name in config.verified_questions.items()},
            baseline=config.baseline,
            gap_images=config.gap_images, validation_fraction=config.validation_fraction,
            gradescope_timeout=config.gradescope.timeout,
            gradescope_memory_mb=config.gradescope.memory_mb,
            design=config.design,
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

    @property
    def design_files(self) -> list[str]:
        """The design task's files (its description and weights): submitted when present; a
        submission without them scores 0 on the design question, nothing else."""
        return [self.design.description, self.design.weights] if self.design else []

    def test_set(self, root: str | os.PathLike | None = None) -> ImageDataset:
        return dataset_class(self.dataset)(root, train=False)

    def train_set(self, root: str | os.PathLike | None = None) -> ImageDataset:
        return dataset_class(self.dataset)(root, train=True)

    def training_part(self, train: ImageDataset | None = None,
                      root: str | os.PathLike | None = None) -> ImageDataset:
        """The images the notebook trains on: the training set (``train`` if loaded already,
        else read from ``root``) less the ``validation_fraction`` it holds out, split as the
        notebook splits it."""
        train = train if train is not None else self.train_set(root)
        held_out = int(len(train) * self.validation_fraction)
        return train.split(held_out)[0] if held_out else train

    def reference_prepare(self, train: ImageDataset | None = None,
                          root: str | os.PathLike | None = None) -> Callable[[torch.Tensor], torch.Tensor]:
        """The lesson's own input pipeline: scale to [0, 1], then optionally standardise.

        ``prepare: {standardize: train}`` standardises each channel with statistics of the
        images the notebook trains on (:meth:`training_part` of ``train``, read from ``root``
        if not given), computed here so that no expected value needs to be written down.
        """
        from .data import channel_stats

        mean = std = None
        if self.prepare.get("standardize") == "train":
            mean, std = channel_stats(self.training_part(train, root))

        def prepare(images: torch.Tensor) -> torch.Tensor:
            x = images.float() / 255
            if mean is not None and std is not None:
                x = (x - mean.view(1, -1, 1, 1)) / std.view(1, -1, 1, 1)
            return x

        return prepare

    def describe_prepare(self) -> str:
        """The lesson's input pipeline (:meth:`reference_prepare`) in words, for messages."""
        words = "scaled from 0-255 pixels to [0, 1] (divided by 255)"
        if self.prepare.get("standardize") == "train":
            words += ", then standardised per channel with the training split's mean and std"
        return words


_notebook_lesson: Path | None = None  # set by the notebook's first cell (dlcourse.session)
# Set by the judge for the length of a submission's tests: the folder holding its lesson.yaml
# and the captured weights (a context variable: nothing process-wide, no change of directory).
_judged_folder: ContextVar[Path | None] = ContextVar("dlcourse_judged_folder", default=None)


@contextlib.contextmanager
def judged_in(folder: Path) -> Iterator[None]:
    """While this block runs, the current lesson and its files are those in ``folder`` (the
    judge's folder for one submission), and checks know they are being judged."""
    token = _judged_folder.set(Path(folder))
    try:
        yield
    finally:
        _judged_folder.reset(token)


def judged_folder() -> Path | None:
    """The folder :func:`judged_in` names, or None outside the judge's tests."""
    return _judged_folder.get()


def use_lesson_folder(folder: Path) -> None:
    """Make ``folder``'s ``lesson.yaml`` the current lesson of this process, wherever its
    working directory is (the settings a notebook carries, unpacked by its first cell)."""
    global _notebook_lesson
    _notebook_lesson = Path(folder)


def current_lesson(start: str | os.PathLike = ".") -> Lesson:
    """The lesson the running notebook carries (see :func:`use_lesson_folder`), else the one
    whose ``lesson.yaml`` sits in ``start`` (the notebook's folder); while the judge runs a
    submission's tests, the one in its folder for that submission (:func:`judged_in`)."""
    judged = _judged_folder.get()
    if judged is not None:
        return Lesson.load(judged / LESSON_FILE)
    if _notebook_lesson is not None and (_notebook_lesson / LESSON_FILE).is_file():
        return Lesson.load(_notebook_lesson / LESSON_FILE)
    path = Path(start) / LESSON_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"{LESSON_FILE} is not in {Path(start).resolve()}: run the notebook's first cell, or open the "
            f"notebook from the lesson folder")
    return Lesson.load(path)
