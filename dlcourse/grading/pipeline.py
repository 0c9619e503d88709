"""Grade one submission, end to end, as a sequence of steps:

    read      open the notebook or zip; unreadable input becomes a status, not a crash
    capture   copy the submitted weights to the judge's own folder, before any code runs
    stage     lay the notebook out in the sandbox's folder
    scan      look for tampering in the code, without running it: evidence for a human (tamper.py)
    judge     run the notebook in the sandbox and its tests in the judge; measure the weights (judge.py)
    combine   one GradeResult: scores, a status and a one-line reason

Two folders per submission, both removed on every way out, a timeout or Ctrl-C included:
the judge's (the unpacked autograder, hidden tests included, and the captured weights),
open only to the grader's user; and the sandbox's, the only place student code may write.
This process imports no torch and runs no student code; the judge runs isolated (``-I``).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import threading
import time
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Iterator

import nbformat

from ..lesson import BASELINE_FILE, LESSON_FILE, Lesson
from ..settings import data_dir
from ..unfinished import unfinished_questions
from .judge import JudgeJob
from .judge_client import Judge
from .manifest import Manifest
from .inputs import Entry
from .randomness import submission_digest
from .result import GradeResult
from .sandbox import remove_tree
from .scoring import combine, ungraded
from .scratch import scratch_folder
from .submission import SubmissionProblem, check_assignment, read_submission, stage
from .tamper import scan_notebook
from .written import written_answers

class GradingInterrupted(Exception):
    """Grading was stopped on request; nothing was recorded for this submission."""


@dataclass(frozen=True)
class GradingOptions:
    timeout: float | None = None          # seconds for the notebook run; default: the lesson's
    memory_mb: int = 2048                 # for the whole notebook run (kernel included)
    threads: int | None = 1               # BLAS/OpenMP threads per run (None: a Dask worker decides, cluster.py)
    cpus: float | None = None             # the run's CPU share (a cgroup quota): a batch's cores / workers
    keep_notebook: Path | None = None     # where to save the executed notebook, if anywhere
    stop: threading.Event | None = None   # set it to stop a run early (GradingInterrupted)
    data: Path | None = None              # the datasets (default: settings.data_dir())
    allow_root: bool = False              # throwaway machines: run student code as root if need be
    sandbox: str = "auto"                 # how student code is confined: auto, bubblewrap, permissions
    prestart: bool = False                # start the judge's next kernel once this run ends (a batch's worker)
    # where the judge holds no kernel for this submission (its first, or the last of a worker's),
    # start one as soon as the lesson is known, while this process reads and stages the submission
    early_kernel: bool = False
    # called as the job goes to the judge, before this process waits for its report (a batch
    # loads what writing its outputs needs meanwhile: figures.warm_up)
    while_judging: Callable[[], object] | None = None


def grade_submission(autograder: Path, submission: Path | Entry, options: GradingOptions = GradingOptions(),
                     judge: Judge | None = None) -> GradeResult:
    """Grade ``submission`` (a path, or an input layout's entry) with ``autograder`` (a built
    zip, or a folder it was unpacked into).

    ``judge``: a judge process to reuse (a batch keeps one per worker); default, a new one.
    """
    if judge is None:
        with Judge() as judge:
            return grade_submission(autograder, submission, options, judge)
    start = time.monotonic()
    judge.start()  # its interpreter starts while this process reads and stages the submission
    entry, submission = submission, submission.path if isinstance(submission, Entry) else submission
    with _scratch("dlcourse-judge-") as judge_dir, contextlib.ExitStack() as run_folder:
        os.chmod(judge_dir, 0o700)        # hidden tests and captured weights: the grader's alone
        source = _unpack(autograder, judge_dir / "autograder")
        lesson = Lesson.load(source / "files" / LESSON_FILE)
        manifest = Manifest.load(source)
        # the run's limits, known before the submission is: enough for the judge to start its kernel
        limits = JudgeJob(workdir="", autograder="", run_dir="", weights={}, submission_digest="",
                          data_root=str((options.data or data_dir()).resolve()),
                          timeout=options.timeout or lesson.grading_timeout, memory_mb=options.memory_mb,
                          threads=options.threads or 1, cpus=options.cpus, allow_root=options.allow_root,
                          sandbox=options.sandbox)
        if options.early_kernel and judge.next_run is None:
            judge.prestart(replace(limits, next_run_dir=str(judge.next_run_folder() / "run")))
        try:
            sub = read_submission(entry, lesson)
            check_assignment(sub, lesson)
        except SubmissionProblem as problem:
            return ungraded(submission, lesson, manifest, problem.status, problem.reason, start)
        work = _capture(sub.files, lesson, source, judge_dir / "work")
        # the folder a kernel may already wait in (kernel_pool.KernelPool): taken only by a submission that runs
        run_dir = run_folder.enter_context(judge.run_folder()) / "run"
        stage(sub, lesson, run_dir / "submission", support=source / "files")
        evidence = scan_notebook(sub.notebook)
        job = replace(limits, workdir=str(work), autograder=str(source), run_dir=str(run_dir),
                      weights={name: str(work / name) for name in lesson.submitted_files if (work / name).is_file()},
                      submission_digest=submission_digest({**sub.files, lesson.notebook: nbformat.writes(sub.notebook).encode()}),
                      next_run_dir=str(judge.next_run_folder() / "run") if options.prestart else None)
        if options.while_judging is not None:
            options.while_judging()
        report = judge.run(job, options.stop)
        evidence_of_the_judge = judge.take_evidence()
        if options.stop is not None and options.stop.is_set():
            raise GradingInterrupted(submission.name)
        if report.refused:
            refused = ungraded(submission, lesson, manifest, "not-graded", report.refused, start)
            refused.evidence = evidence_of_the_judge
            return refused
        result = combine(submission, lesson, manifest.points, sub.files, report, evidence,
                         written_with=_python_version(sub.notebook),
                         unfinished=unfinished_questions(sub.notebook.get("cells", [])))
        result.manual = dict(manifest.manual)
        result.answers = written_answers(sub.notebook, list(manifest.manual))
        result.notes[:0] = sub.notes  # how the submission was read (e.g. graded as the lesson named)
        if options.keep_notebook and report.notebook:
            executed = report.notebook.encode("utf-8")
            options.keep_notebook.parent.mkdir(parents=True, exist_ok=True)
            options.keep_notebook.write_bytes(executed)
            result.notebook_sha256 = hashlib.sha256(executed).hexdigest()
    result.evidence[:0] = evidence_of_the_judge
    assert report.outcome is not None, "a run's report has its outcome (only a refusal has none)"
    result.seconds = time.monotonic() - start
    result.peak_memory_mb = report.outcome.peak_memory_mb
    result.enforced = report.outcome.enforced
    result.not_enforced = report.outcome.not_enforced
    return result


@contextlib.contextmanager
def _scratch(prefix: str) -> Iterator[Path]:
    """A fresh folder in this process's scratch folder, removed on every way out, whatever the run left in it (a
    folder thousands deep, folders closed to their owner: see sandbox.remove_tree)."""
    folder = scratch_folder(prefix)
    try:
        yield folder
    finally:
        remove_tree(folder)


def _python_version(notebook: nbformat.NotebookNode) -> str | None:
    """The Python version the notebook says it last ran on (``language_info.version``), if any."""
    info = notebook.metadata.get("language_info")
    version = info.get("version") if isinstance(info, dict) else None
    return version if isinstance(version, str) and len(version) < 20 else None


def _capture(files: dict[str, bytes], lesson: Lesson, source: Path, work: Path) -> Path:
    """The judge's work folder: the lesson's settings and the submitted weights (and design
    files), as submitted."""
    work.mkdir()
    for name in (LESSON_FILE, BASELINE_FILE):
        if (source / "files" / name).is_file():
            shutil.copyfile(source / "files" / name, work / name)
    for name in lesson.submitted_files + lesson.design_files:
        if name in files:
            (work / name).write_bytes(files[name])
    return work


def _unpack(autograder: Path, target: Path) -> Path:
    if autograder.is_dir():
        shutil.copytree(autograder, target)
    else:
        with zipfile.ZipFile(autograder) as archive:
            archive.extractall(target)
    return target
