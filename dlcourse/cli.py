"""The ``dlcourse`` command: build lessons, grade submissions, fetch data, run the demo.

Why one module of ~450 lines: the parser and one short function per command, which imports
that command's modules when it runs (the grader's own process stays free of torch); the work
itself lives in those modules.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    from .grading.reader.layouts import LAYOUTS  # the input layouts --layout chooses from

    parser = argparse.ArgumentParser(prog="dlcourse", description=__doc__)
    parser.add_argument("--course", type=Path, default=None,
                        help="the course folder (default: found from the working directory)")
    commands = parser.add_subparsers(dest="command", required=True)

    build = commands.add_parser("build", help="regenerate student_template/, solutions/, autograder/")
    build.add_argument("lessons", nargs="*", help="lesson ids (default: all)")
    build.add_argument("--check", action="store_true",
                       help="build into a scratch folder and list committed files that drifted")
    build.add_argument("--wheel", action="store_true",
                       help="also build the toolkit's wheel into dist/, the file students install (course.yaml); "
                            "a release: refused while course.yaml names a placeholder address")
    build.add_argument("--allow-placeholder-url", action="store_true",
                       help="tests only: build the wheel although course.yaml's toolkit_url is a placeholder")
    build.set_defaults(run=_build)

    grade = commands.add_parser("grade", help="grade a submission, a folder of them, or an LMS's download")
    grade.add_argument("input", type=Path, help="a notebook, an archive, a folder, or a Gradescope, Canvas, Moodle "
                                                "or Blackboard download (folder or zip)")
    which = grade.add_mutually_exclusive_group(required=True)
    which.add_argument("--lesson", help="lesson id (uses the course's autograder/<id>/ zip)")
    which.add_argument("--autograder", type=Path, help="an autograder zip to grade with")
    grade.add_argument("--out", type=Path, default=None, help="output folder (default: grades/<lesson>)")
    grade.add_argument("--workers", type=int, default=None, help="parallel submissions (default: CPU count)")
    grade.add_argument("--timeout", type=float, default=None, help="seconds per submission (default: the lesson's)")
    grade.add_argument("--memory", type=int, default=2048, help="MB per submission (default: 2048)")
    grade.add_argument("--data", type=Path, default=None,
                       help="the datasets (default: $DLCOURSE_DATA, else a per-user cache folder)")
    grade.add_argument("--layout", default="auto", choices=["auto", *LAYOUTS],
                       help="how INPUT is laid out (default: detected; docs/inputs.md lists them)")
    grade.add_argument("--force", action="store_true", help="regrade submissions graded before")
    grade.add_argument("--sandbox", choices=["auto", "bubblewrap", "permissions"], default="auto",
                       help="how student code is confined (default auto: bubblewrap where it starts, else "
                            "permissions: a user of the run's own, which needs root)")
    grade.add_argument("--allow-root", "--allow-unconfined", dest="allow_root", action="store_true",
                       help="throwaway machines only: grade even where student code cannot run as an unprivileged "
                            "user (it then runs as root, or as your own user); every row says so, and nothing "
                            "graded so is reused by a resumed run")
    _instructor_options(grade)
    grade.add_argument("--shard", type=_shard, default=None, metavar="I/N",
                       help="grade only the I-th of N slices (1 <= I <= N) and write only its results; "
                            "`dlcourse gradebook OUT` then collects every shard's (a job array)")
    engine = grade.add_mutually_exclusive_group()
    engine.add_argument("--scheduler", metavar="ADDRESS",
                        help="grade on the workers of this Dask scheduler (e.g. tcp://10.0.0.5:8786); they need "
                             "INPUT, the autograder and OUT at the same paths (a shared file system)")
    engine.add_argument("--cluster", type=_local_cluster, default=None, metavar="local:N",
                        help="grade on a Dask LocalCluster of N worker processes on this machine")
    grade.set_defaults(run=_grade)

    gradebook = commands.add_parser("gradebook", help="collect a graded folder's results (every shard's) into "
                                                      "gradebook.csv, submissions.csv and report.md")
    gradebook.add_argument("out", type=Path, help="the output folder the submissions were graded into")
    gradebook.set_defaults(run=_gradebook)

    train = commands.add_parser("train", help="train a lesson's reference weights (runs its solution notebook)")
    train.add_argument("lessons", nargs="+")
    train.set_defaults(run=_train)

    calibrate = commands.add_parser("calibrate", help="train recipes with several seeds (and wrong variants) "
                                                      "and write solutions/CALIBRATION.md")
    calibrate.add_argument("lessons", nargs="+")
    calibrate.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    calibrate.add_argument("--no-wrong", action="store_true", help="only the correct recipe's seeds")
    calibrate.add_argument("--again", action="store_true",
                           help="retrain these runs even if recorded (after changing a network or recipe)")
    calibrate.set_defaults(run=_calibrate)

    demo_help = ("build every lesson into OUT/course, a copy of the course's sources (the checkout is left as it "
                 "is), then grade a small batch of prepared submissions with the autograder zips built there: the "
                 "reference, the untouched stub, the mistakes marked demo (offline)")
    demo = commands.add_parser("demo", help=demo_help, description=demo_help)
    demo.add_argument("lessons", nargs="*", metavar="LESSON",
                      help="the lessons to show, by the folder names under assignments/ (e.g. dense-mnist); each is "
                           "graded with every typical mistake listed in its mistakes.yaml. None named: only the few "
                           "mistakes marked demo, so it takes about three minutes")
    demo.add_argument("--all", dest="every", action="store_true",
                      help="the whole tour: every lesson (unless named), every typical mistake (minutes per lesson)")
    demo.add_argument("--out", type=Path, default=Path("demo-output"),
                      help="where everything goes (default: %(default)s): OUT/course, the copy the lessons are built "
                           "into; OUT/<lesson>/submissions and OUT/<lesson>/grades (gradebook, report, feedback)")
    demo.add_argument("--workers", type=int, default=None, help="parallel submissions (default: CPU count)")
    demo.set_defaults(run=_demo)

    data = commands.add_parser("data", help="datasets: fetch them, or show where they are read from")
    data.add_argument("action", choices=["fetch", "where"])
    data.add_argument("datasets", nargs="*", help="dataset names (default: all registered)")
    data.set_defaults(run=_data)

    args = parser.parse_args(argv)
    from .grading.answer_sheet import HandGradesError
    from .grading.late import LatePolicyError
    from .grading.preflight import PreflightProblem
    from .grading.roster import RosterError
    from .grading.safe_text import terminal
    from .course_config import CourseConfigError
    from .lesson_config import LessonConfigError

    try:
        return args.run(args)
    except (KnownProblem, LessonConfigError, CourseConfigError, PreflightProblem, RosterError, LatePolicyError,
            HandGradesError) as problem:
        print(f"dlcourse: {terminal(problem)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("dlcourse: interrupted; what was finished is saved, and the same command resumes",
              file=sys.stderr)
        return 130


def _instructor_options(grade: argparse.ArgumentParser) -> None:
    from .grading.lms_export import EXPORTS

    group = grade.add_argument_group("students, deadlines and what is written for them (docs/instructors.md)")
    group.add_argument("--roster", type=Path, help="the class list exported from the LMS (CSV): a row per student, "
                                                   "'missing' for those who submitted nothing")
    # each late option overrides course.yaml's key of the same name (lessons.<id>: due, grace, ...)
    group.add_argument("--due", help="due date and time, ISO 8601 (2026-03-01T23:59+01:00; no zone: UTC); "
                                     "default: course.yaml's lessons.<id>.due, if any")
    group.add_argument("--grace", help="grace period after the due date: 15m, 2h, 1d (default: course.yaml's, "
                                       "else none)")
    group.add_argument("--late-penalty", help="percent of the points per started day or hour late: 10%%/day, "
                                              "2%%/hour (default: course.yaml's, else none)")
    group.add_argument("--late-cap", help="the most a late penalty takes, in percent: 50 or 50%% (default: "
                                          "course.yaml's, else 100)")
    group.add_argument("--extensions", type=Path, help="CSV: student, and due (a time) or days/hours added "
                                                       "(default: course.yaml's, if any)")
    group.add_argument("--export", action="append", default=[], choices=sorted(EXPORTS), metavar="LMS",
                       help=f"also write the LMS's grade-import file ({', '.join(sorted(EXPORTS))}; gradescope: "
                            "its score export's layout, it has no import); repeatable")
    group.add_argument("--assignment", default="", help="the lesson's column name in the LMS (default: the lesson id)")
    group.add_argument("--assignment-id", default="",
                       help="the LMS's id of that column (Canvas's assignment id, Blackboard's column id)")
    group.add_argument("--hand-grades", type=Path,
                       help="the written-answer sheet (written-answers.csv) with points filled in: merged, nothing regraded")
    group.add_argument("--feedback", choices=["folders", "zip", "none"], default="zip",
                       help="feedback pages: a folder per student, plus a zip for the LMS's upload (default), or none")


def _output_settings(args, course_late=None):
    """The instructor's options as OutputSettings; ``course_late``: the course's late settings
    for the lesson (course.yaml), which each late option given overrides."""
    from .grading.answer_sheet import read_hand_grades
    from .grading.late import LateSettings
    from .grading.roster import read_roster
    from .grading.rows import OutputSettings

    options = LateSettings(due=args.due, grace=args.grace, late_penalty=args.late_penalty, late_cap=args.late_cap,
                           extensions=args.extensions)
    late = (course_late or LateSettings()).overridden_by(options).policy()
    return OutputSettings(roster=read_roster(args.roster) if args.roster else None, late=late,
                          hand=read_hand_grades(args.hand_grades) if args.hand_grades else None,
                          exports=tuple(dict.fromkeys(args.export)), feedback=args.feedback,
                          assignment=args.assignment, assignment_id=args.assignment_id)


class KnownProblem(Exception):
    """An error with a message meant for the user; printed as one line, no traceback."""


def _course(args):
    from .course import Course, CourseNotFound

    try:
        return Course.find(args.course)
    except CourseNotFound as error:
        raise KnownProblem(error) from None


def _build(args) -> int:
    from .release import build, check
    from .course import CourseNotFound

    course = _course(args)
    course.config()   # a misspelt key in course.yaml stops the build, not a grading run weeks later
    try:
        if args.check:
            drifted = check(course, args.lessons or None)
            for rel in drifted:
                print(f"drifted: {rel}")
            print("generated files match their sources" if not drifted
                  else f"{len(drifted)} generated file(s) differ: run `dlcourse build`")
            return 1 if drifted else 0
        start = time.perf_counter()
        from .release.wheel import address_problem, placeholder_problem

        try:
            placeholder = placeholder_problem(course.toolkit_url)
        except CourseNotFound:
            placeholder = None   # no toolkit address at all: the build itself says so where it needs one
        if placeholder and args.wheel and not args.allow_placeholder_url:
            raise KnownProblem(placeholder)   # before anything is built: a release that cannot install
        if args.wheel and (problem := address_problem(course.toolkit_url)):
            raise KnownProblem(problem)       # likewise: no notebook rewritten to name another file
        if placeholder:
            print(f"note: course.yaml's toolkit_url ({course.toolkit_url}) is a placeholder; "
                  f"`dlcourse build --wheel` (the release) refuses it until you set your address", file=sys.stderr)
        for path in build(course, args.lessons or None):
            print(f"wrote {path.relative_to(course.root)}")
        if args.wheel:
            from .release.wheel import WheelProblem, build_wheel

            try:
                wheel = build_wheel(course, course.root / "dist", allow_placeholder=args.allow_placeholder_url)
            except WheelProblem as error:
                raise KnownProblem(error) from None
            print(f"wrote {wheel.relative_to(course.root)}: publish it at {course.toolkit_url}")
        print(f"built in {time.perf_counter() - start:.1f} s")
    except CourseNotFound as error:
        raise KnownProblem(error) from None
    return 0


def _shard(text: str) -> tuple[int, int]:
    index, _, count = text.partition("/")
    try:
        shard = int(index), int(count)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not I/N (e.g. 2/10)") from None
    if not 1 <= shard[0] <= shard[1]:
        raise argparse.ArgumentTypeError(f"shard {text}: I runs from 1 to N")
    return shard


def _local_cluster(text: str) -> int:
    kind, _, count = text.partition(":")
    if kind != "local" or not count.isdigit() or int(count) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not local:N (e.g. local:4)")
    return int(count)


def _grade(args) -> int:
    from dataclasses import replace

    from .grading.batch import grade_batch
    from .grading.collect import CollectOptions
    from .grading.inputs import discover
    from .grading.preflight import lesson_files
    from .datasets import DATASETS
    from .grading.preflight import is_sample, preflight
    from .grading.safe_text import terminal
    from .settings import data_dir

    course_late = None   # a lesson of the course: this offering's due date and late rules (course.yaml)
    template = None      # the released notebook: its given code is no evidence of copying
    if args.autograder:
        autograder, name = args.autograder, args.autograder.stem.removesuffix("-autograder")
    else:
        course = _course(args)
        _check_lessons(course, [args.lesson])
        autograder, name = course.autograder_zip(args.lesson), args.lesson
        course_late = course.late_settings(args.lesson)
        template = course.student_dir(args.lesson) / course.lesson(args.lesson).notebook
    if not args.input.exists():
        raise KnownProblem(f"{args.input} does not exist")
    settings = _output_settings(args, course_late)
    found = discover(args.input, args.layout, lesson_files(autograder))
    if not found.entries:
        raise KnownProblem(f"no submissions in {args.input} (a notebook, a zip or a folder with a notebook)"
                           + (f"; {len(found.set_aside)} other file(s), e.g. {terminal(found.set_aside[0].name)}: "
                              f"{found.set_aside[0].reason}" if found.set_aside else ": the folder is empty"))
    data = args.data or data_dir()
    lesson = preflight(autograder, data, allow_root=args.allow_root)
    if is_sample(data):   # accepted with its own files (one CIFAR-10 training batch): say what it measures
        print(f"datasets: the bundled sample ({data}): accuracies are measured on its small test set "
              f"({DATASETS[lesson.dataset].sample_sizes[False]:,} images), not the full one")
    settings = replace(settings, lesson_title=lesson.title, accuracy_target=lesson.accuracy_threshold,
                       weights_file=lesson.weights or "",
                       template=template if template and template.is_file() else None,
                       assignment=settings.assignment or lesson.id)
    out = args.out or Path("grades") / name
    _refuse_unconfined(args.sandbox, args.allow_root, args.data or data_dir())
    execution = None
    if args.scheduler or args.cluster:
        try:
            from .grading.cluster import Dask
        except ImportError:
            raise KnownProblem("grading on Dask needs the distributed package: pip install 'dlcourse[dask]'") from None
        execution = Dask(address=args.scheduler, local_workers=args.cluster)
    summary = grade_batch(autograder, args.input, out, workers=args.workers, timeout=args.timeout,
                          memory_mb=args.memory, force=args.force, allow_root=args.allow_root,
                          data=data, shard=args.shard, execution=execution,
                          collect_options=CollectOptions(settings=settings), layout=args.layout,
                          sandbox=args.sandbox)
    results = list(summary.results.values())
    _print_enforcement(results)
    _print_outcome(summary, single=args.input.is_file() and len(found.entries) == 1, shard=args.shard)
    for warning in summary.warnings:
        print(f"WARNING: {terminal(warning)}", file=sys.stderr)
    if args.shard:
        print(f"results: {out / 'results'}   once every shard has run: dlcourse gradebook {out}")
    else:
        print(f"gradebook: {out / 'gradebook.csv'}   report: {out / 'report.md'}")
    return _grader_failures(results)


def _print_outcome(summary, *, single: bool, shard: tuple[int, int] | None) -> None:
    """One submission's breakdown where one was graded (a notebook or a zip of one), else the
    batch's counts: a zip of a whole LMS download is a batch, not one student's submission."""
    results = list(summary.results.values())
    if single and results:
        _print_result(results[0])
        return
    counts: dict[str, int] = {}
    for result in results:
        counts[result.status] = counts.get(result.status, 0) + 1
    where = f"shard {shard[0]}/{shard[1]}: " if shard else ""
    print(f"{where}{len(results)} graded ({summary.reused} reused from an earlier run); "
          + ", ".join(f"{n} {status}" for status, n in sorted(counts.items())))
    if summary.discovery and summary.discovery.set_aside and not shard:
        print(f"{len(summary.discovery.set_aside)} file(s) skipped (not submissions): see submissions.csv")


def _gradebook(args) -> int:
    from .grading.collect import RESULTS, CollectOptions, NotABatch, collect, gather
    from .grading.recorded_settings import saved_settings
    from .grading.safe_text import terminal
    from .grading.trust import results_key

    try:
        found, results = gather(args.out)
    except NotABatch as problem:
        raise KnownProblem(problem) from None
    # the roster, late policy, exports... the grading run was given (kept in OUT by it)
    settings = saved_settings(args.out, results_key(args.out / RESULTS, sandbox_reaches_grader=False))
    for warning in collect(args.out, found, results, CollectOptions(settings=settings)):
        print(f"WARNING: {terminal(warning)}", file=sys.stderr)
    pending = len(found.entries) - len(results)
    print(f"{len(results)} of {len(found.entries)} submission(s) graded"
          + (f"; {pending} pending (no result yet: a shard has not run, or failed)" if pending else ""))
    print(f"gradebook: {args.out / 'gradebook.csv'}   report: {args.out / 'report.md'}")
    return _grader_failures(list(results.values())) or (1 if pending else 0)


def _grader_failures(results) -> int:
    """1, with a message, when the grader itself failed on any submission (a rerun regrades them)."""
    from .grading.result import GRADER_SIDE

    failed = [r for r in results if r.status in GRADER_SIDE]
    if failed:
        print(f"{len(failed)} submission(s) not graded through the grader's own failure (status "
              f"{', '.join(sorted({r.status for r in failed}))}): fix the cause and rerun; they are regraded",
              file=sys.stderr)
        return 1
    return 0


def _refuse_unconfined(sandbox: str, allow_root: bool, data: Path) -> None:
    """One line naming the fix, before anything is graded, where student code would run
    unconfined (as root, or as the grader's own user) and ``--allow-root`` does not accept it."""
    from .grading.sandbox import Limits, SandboxUnavailable, View, plan_for

    try:
        plan_for(Limits(timeout=1, allow_root=allow_root, confinement=sandbox), View(readable=(data,)))
    except SandboxUnavailable as problem:
        raise KnownProblem(f"not grading: {problem}") from None


def _print_enforcement(results) -> None:
    """Once per run: what the sandbox enforced, and a warning for each promise it could not keep."""
    enforced = sorted({e for r in results for e in r.enforced})
    missing = sorted({e for r in results for e in r.not_enforced})
    if enforced:
        print(f"sandbox: {', '.join(enforced)}")
    for promise in missing:
        print(f"WARNING: not enforced here: {promise}", file=sys.stderr)


def _print_result(result) -> None:
    """One submission's breakdown; every string a student could have shaped passes through
    :func:`.grading.safe_text.terminal` (no escape sequence reaches the terminal)."""
    from .grading.safe_text import terminal

    print(f"{terminal(result.submission)}: {result.status}  {result.score:g}/{result.possible:g}"
          + (f"  ({terminal(result.reason)})" if result.reason else ""))
    for question in result.questions.values():
        print(f"  {question.name:<16} {question.score:>5g}/{question.possible:<4g} {terminal(question.verification)}")
        for test in question.tests:
            if not test.passed:
                print(f"      {'hidden' if test.hidden else 'public'} test failed: {terminal(test.message)}")
    for name, points in result.manual.items():
        print(f"  {name:<16} graded by hand ({points:g} points, not in this score)")
    if result.manual:
        print(f"  {result.points_split()}")
    if result.accuracy is not None:
        print(f"  test accuracy measured from the weights: {result.accuracy:.2%}")
    for flag in result.flags:
        print(f"  flag: {terminal(flag)}")
    for line in result.evidence:
        print(f"  evidence: {terminal(line)}")


def _check_lessons(course, lesson_ids: list[str]) -> None:
    unknown = [i for i in lesson_ids if i not in course.lesson_ids()]
    if unknown:
        raise KnownProblem(f"no lesson '{unknown[0]}' (lessons: {', '.join(course.lesson_ids())})")


def _train(args) -> int:
    from .calibration import correct_run, record, render
    from .execute import NotebookFailed
    from .reference import save_reference, train_reference

    course = _course(args)
    _check_lessons(course, args.lessons)
    for lesson_id in args.lessons:
        lesson = course.lesson(lesson_id)
        print(f"training {lesson_id} (its whole solution notebook: training and optional cells)...")
        try:
            run = train_reference(course, lesson, extras=True)
        except NotebookFailed as failure:
            raise KnownProblem(f"{lesson_id} was not saved: {failure}") from None
        for error in run.extra_errors:
            print(f"optional {error} (the reference is saved without it)")
        for path in save_reference(course, lesson, run):
            print(f"wrote {path.relative_to(course.root)}")
        record(course, lesson, correct_run(lesson, run, seed=0))  # the reference is calibration's seed 0
        print(f"ran in {run.seconds:.0f} s ({sum(run.history['seconds']):.0f} s of training); "
              f"test accuracy {run.history['test_accuracy']:.2%}")
    render(course)
    return 0


def _calibrate(args) -> int:
    from .calibration import calibrate, render

    course = _course(args)
    _check_lessons(course, args.lessons)
    for lesson_id in args.lessons:
        calibrate(course, course.lesson(lesson_id), args.seeds, wrong=not args.no_wrong, again=args.again)
    print(f"wrote {render(course).relative_to(course.root)}")
    return 0


def _demo(args) -> int:
    from .demo import run_demo

    course = _course(args)
    _check_lessons(course, args.lessons)
    graded = run_demo(course, args.out, workers=args.workers, lessons=args.lessons or None, every=args.every)
    return _grader_failures([result for results in graded.values() for result in results])


def _data(args) -> int:
    from .data import DataNotFoundError
    from .datasets import DATASETS, dataset_class
    from .settings import data_dir

    names = args.datasets or list(DATASETS)
    unknown = set(names) - set(DATASETS)
    if unknown:
        raise KnownProblem(f"unknown dataset(s) {', '.join(sorted(unknown))}; known: {', '.join(DATASETS)}")
    print(f"data directory: {data_dir()}")
    if args.action == "fetch":
        try:
            for name in names:
                for train in (True, False):
                    dataset = dataset_class(name)(train=train)
                print(f"{name}: ready ({len(dataset):,} test images)")
        except DataNotFoundError as error:
            raise KnownProblem(error) from None
    return 0


if __name__ == "__main__":
    sys.exit(main())
