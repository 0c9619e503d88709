"""The schema of ``course.yaml``: the course's own settings, those of this offering.

    toolkit_url: https://courses.example.edu/deep-learning/dlcourse-0.1.0-py3-none-any.whl
    lessons:                         # optional: this offering's settings of each lesson
      dense-mnist:
        due: 2026-03-01T23:59-05:00  # ISO 8601; without a zone, UTC
        grace: 15m                   # 15m, 2h, 1d, or minutes
        late_penalty: 10%/day        # percent of the points per started day or hour
        late_cap: 50                 # percent, at most
        extensions: extensions/dense-mnist.csv   # relative to course.yaml

Due dates and late rules live here rather than in lesson.yaml because lesson.yaml is the
lesson, the same every term: it ships inside every student notebook and inside the
autograder zip, whose hash keys the saved results (a new deadline there would rebuild the
release and regrade every submission), and an extensions file names students. ``dlcourse
grade --lesson`` reads this block; each of its options (``--due``, ``--grace``,
``--late-penalty``, ``--late-cap``, ``--extensions``) overrides the key of the same name.

A misspelt key, a wrong type or a value that cannot be read is a :class:`CourseConfigError`
whose one-line message names the file and the key (``lessons.dense-mnist.late_penalty``).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Optional, Union

from pydantic import BaseModel, ConfigDict, StrictFloat, StrictInt, StrictStr, ValidationError, \
    field_validator

from .grading.late import LateSettings, parse_cap, parse_duration, parse_penalty, parse_time
from .lesson_config import first_problem


class CourseConfigError(ValueError):
    """course.yaml breaks its schema (one line naming the file and the key)."""


class _Strict(BaseModel):
    # Unknown keys are errors: a misspelt ``late_penalty`` must not silently mean "no penalty".
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class LessonOffering(_Strict):
    """One lesson's settings for this offering: its due date and late rules."""

    due: Optional[StrictStr] = None
    grace: Optional[Union[StrictStr, StrictInt]] = None
    late_penalty: Optional[StrictStr] = None
    late_cap: Optional[Union[StrictStr, StrictFloat, StrictInt]] = None
    extensions: Optional[StrictStr] = None

    @field_validator("due", mode="before")
    @classmethod
    def _a_time(cls, value: object) -> object:
        # YAML reads 2026-03-01T23:59:00Z as a datetime and 2026-03-01 as a date
        if isinstance(value, dt.datetime):
            value = value.isoformat()
        elif isinstance(value, dt.date):
            value = value.isoformat()   # refused by parse_time, as the option --due is
        if isinstance(value, str):
            parse_time(value)
        return value

    @field_validator("grace")
    @classmethod
    def _a_duration(cls, value: str | int | None) -> str | int | None:
        if value is not None:
            parse_duration(str(value))
        return value

    @field_validator("late_penalty", mode="before")
    @classmethod
    def _a_penalty(cls, value: object) -> object:
        if isinstance(value, (str, int, float)):   # a bare 10 is refused by the same rule as --late-penalty 10
            parse_penalty(value)
        return value

    @field_validator("late_cap", mode="before")
    @classmethod
    def _a_cap(cls, value: object) -> object:
        if isinstance(value, (str, int, float)):
            parse_cap(value)
        return value

    def late_settings(self, root: Path) -> LateSettings:
        """As the grading command's options would give them (the extensions file under ``root``)."""
        return LateSettings(due=self.due, grace=None if self.grace is None else str(self.grace),
                            late_penalty=self.late_penalty,
                            late_cap=self.late_cap,
                            extensions=root / self.extensions if self.extensions else None)


class CourseConfig(_Strict):
    """The whole course.yaml (``toolkit_url`` is checked where it is used: Course.toolkit_url)."""

    toolkit_url: Optional[StrictStr] = None
    lessons: dict[StrictStr, LessonOffering] = {}


def read_course_config(path: Path, data: object, lesson_ids: list[str]) -> CourseConfig:
    """``data`` (course.yaml as parsed) validated against the schema and the course's lessons
    (``lesson_ids``); a CourseConfigError names ``path`` and the key."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise CourseConfigError(f"{path}: course.yaml is a mapping of settings, not {type(data).__name__}")
    try:
        config = CourseConfig.model_validate(data)
    except ValidationError as error:
        raise CourseConfigError(f"{path}: {first_problem(error)}") from None
    for lesson_id, offering in config.lessons.items():
        if lesson_id not in lesson_ids:
            raise CourseConfigError(f"{path}: lessons.{lesson_id}: no such lesson (lessons: {', '.join(lesson_ids)})")
        if offering.extensions and not (path.parent / offering.extensions).is_file():
            raise CourseConfigError(f"{path}: lessons.{lesson_id}.extensions: no file "
                                    f"{path.parent / offering.extensions}")
    return config
