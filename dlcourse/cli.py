"""The ``dlcourse`` command: build lessons, grade submissions, fetch data, run the demo."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="dlcourse", description=__doc__)
    parser.add_argument("--course", type=Path, default=None,
                        help="the course folder (default: found from the working directory)")
    commands = parser.add_subparsers(dest="command", required=True)

    build = commands.add_parser("build", help="regenerate student_template/, solutions/, autograder/")
    build.add_argument("lessons", nargs="*", help="lesson ids (default: all)")
    build.add_argument("--check", action="store_true",
                       help="build into a scratch folder and list committed files that drifted")
    build.set_defaults(run=_build)

    data = commands.add_parser("data", help="datasets: fetch them, or show where they are read from")
    data.add_argument("action", choices=["fetch", "where"])
    data.add_argument("datasets", nargs="*", default=["mnist", "cifar10"])
    data.set_defaults(run=_data)

    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except KnownProblem as problem:
        print(f"dlcourse: {problem}", file=sys.stderr)
        return 2


class KnownProblem(Exception):
    """An error with a message meant for the user; printed as one line, no traceback."""


def _course(args):
    from .course import Course, CourseNotFound

    try:
        return Course.find(args.course)
    except CourseNotFound as error:
        raise KnownProblem(error) from None


def _build(args) -> int:
    from .build import build, check
    from .course import CourseNotFound

    course = _course(args)
    try:
        if args.check:
            drifted = check(course, args.lessons or None)
            for rel in drifted:
                print(f"drifted: {rel}")
            print("generated files match their sources" if not drifted
                  else f"{len(drifted)} generated file(s) differ: run `dlcourse build`")
            return 1 if drifted else 0
        start = time.perf_counter()
        for path in build(course, args.lessons or None):
            print(f"wrote {path.relative_to(course.root)}")
        print(f"built in {time.perf_counter() - start:.1f} s")
    except CourseNotFound as error:
        raise KnownProblem(error) from None
    return 0


def _data(args) -> int:
    from .data import DataNotFoundError, data_dir
    from .lesson import DATASETS, dataset_class

    unknown = set(args.datasets) - set(DATASETS)
    if unknown:
        raise KnownProblem(f"unknown dataset(s) {', '.join(sorted(unknown))}; known: {', '.join(DATASETS)}")
    print(f"data directory: {data_dir()}")
    if args.action == "fetch":
        try:
            for name in args.datasets:
                for train in (True, False):
                    dataset = dataset_class(name)(train=train)
                print(f"{name}: ready ({len(dataset):,} test images)")
        except DataNotFoundError as error:
            raise KnownProblem(error) from None
    return 0


if __name__ == "__main__":
    sys.exit(main())
