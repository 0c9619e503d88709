"""The Gradescope autograders, emulated: each built zip unpacked into a Gradescope-like tree
(/autograder/source, submission, results under a temporary root), its entry point run with
this project's environment, and results.json checked against Gradescope's format."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import time
import zipfile
from dataclasses import replace

import nbformat
import pytest
import yaml

from dlcourse.release.assign import assignment_config
from dlcourse.release.autograder import TORCH_REQUIREMENTS
from dlcourse.grading.gradescope import (JUDGE_GRACE_SECONDS, START_SECONDS, failure_report, limits)
from dlcourse.grading.judge_client import MEASURE_SECONDS
from dlcourse.grading.result import GradeResult, QuestionResult
from dlcourse.grading.result import TestResult as CaseResult
from dlcourse.lesson import Lesson
from dlcourse.sample_submissions import reference_submission, stub_submission
from dlcourse.settings import SAMPLE_DIR
from helpers.paths import ROOT
from helpers.gradescope import (COURSE, FORMATS, check_gradescope_format, run_autograder, total,
                               unpack)

LESSONS = COURSE.lesson_ids()
TRAINED = [i for i in LESSONS if COURSE.reference_weights(COURSE.lesson(i)).is_file()]



@pytest.mark.slow
@pytest.mark.parametrize("lesson_id", TRAINED)
def test_reference_scores_full_marks_on_gradescope(lesson_id, tmp_path):
    submission = reference_submission(COURSE, COURSE.lesson(lesson_id), tmp_path / "in")
    results = run_autograder(unpack(lesson_id, tmp_path, submission))
    score, possible = total(results)
    assert score == possible > 0, results
    public = [t for t in results["tests"] if t["visibility"] == "visible"]
    hidden = [t for t in results["tests"] if t["visibility"] == "after_published"]
    assert public and hidden, "public results show at once, hidden ones once grades are published"


@pytest.mark.slow
@pytest.mark.parametrize("lesson_id", LESSONS)
def test_untouched_stub_scores_zero_on_gradescope(lesson_id, tmp_path):
    submission = stub_submission(COURSE, COURSE.lesson(lesson_id), tmp_path / "in")
    results = run_autograder(unpack(lesson_id, tmp_path, submission))
    assert total(results)[0] == 0
    assert "missing-weights" in results["output"]
    hidden_outputs = " ".join(t["output"] for t in results["tests"] if t["visibility"] != "visible")
    assert "Error at line" not in hidden_outputs, "no test source line reaches a student"



@pytest.mark.slow
def test_an_unpacked_upload_with_a_package_and_an_environment_scores_full_on_gradescope(tmp_path):
    """Gradescope unpacks an uploaded zip into submission/: the student's package folder (src/)
    keeps its folders, and a venv zipped along is left out as the CLI leaves it out of the zip."""
    lesson = COURSE.lesson("dense-mnist")
    notebook = nbformat.read(COURSE.solution_notebook(lesson.id), as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code" and cell.source.startswith("def prepare("):
            package = {"src/data.py": "import torch\n\n\n" + cell.source}
            cell.source = "from src.data import prepare"
        elif cell.cell_type == "code" and cell.source.startswith("model = nn.Sequential("):
            package["src/models.py"] = ("from torch import nn\n\n\ndef build_model():\n    return "
                                        + cell.source.split("=", 1)[1].strip() + "\n")
            cell.source = "from src.models import build_model\n\nmodel = build_model()"
    upload = tmp_path / "upload"
    files = {lesson.notebook: nbformat.writes(notebook), "src/__init__.py": "", **package,
             **{f"venv/lib/python3.12/site-packages/p{i}/__init__.py": "" for i in range(600)}}
    for name, text in files.items():
        (upload / name).parent.mkdir(parents=True, exist_ok=True)
        (upload / name).write_text(text)
    (upload / lesson.weights).write_bytes(COURSE.reference_weights(lesson).read_bytes())
    tree = unpack(lesson.id, tmp_path, upload / lesson.notebook)
    shutil.rmtree(tree / "submission")
    shutil.copytree(upload, tree / "submission")
    score, possible = total(run_autograder(tree))
    assert score == possible > 0


@pytest.mark.slow
def test_a_looping_submission_times_out_within_the_configured_limit(tmp_path):
    lesson = COURSE.lesson("dense-mnist")
    notebook = nbformat.read(COURSE.solution_notebook(lesson.id), as_version=4)
    notebook.cells.insert(3, nbformat.v4.new_code_cell("while True:\n    pass"))
    path = tmp_path / "in" / lesson.notebook
    path.parent.mkdir()
    nbformat.write(notebook, path)
    tree = unpack(lesson.id, tmp_path, path, grading_timeout=20)
    results = run_autograder(tree)
    assert results["output"].startswith("timeout: stopped after 20 s, the time limit"), results["output"]
    assert "while True:" in results["output"]
    score, possible = total(results)
    assert score == 0 and possible > 0, "every question still gets a row, at zero"
    by_hand = [t for t in results["tests"] if t["name"].endswith("(graded by hand)")]
    assert by_hand and all(t["max_score"] == 0 for t in by_hand), "a written answer is still shown for grading"
    assert all("not graded (timeout): stopped after 20 s" in t["output"] for t in results["tests"] if t not in by_hand)


@pytest.mark.parametrize("lesson_id", LESSONS)
def test_setup_installs_pinned_cpu_torch_and_fetches_data_only_at_build(lesson_id):
    with zipfile.ZipFile(COURSE.autograder_zip(lesson_id)) as archive:
        setup = archive.read("setup.sh").decode()
        run = archive.read("run_autograder").decode()
        requirements = archive.read("requirements.txt").decode()
    assert "--index-url https://download.pytorch.org/whl/cpu" in setup
    assert TORCH_REQUIREMENTS in setup and re.search(r"torch==\d+\.\d+\.\d+ torchvision==\d+\.\d+\.\d+", setup)
    assert all("==" in line for line in requirements.splitlines() if line and not line.startswith("#"))
    assert "data fetch" in setup, "the dataset is fetched while the image is built"
    assert re.search(r"apt-get install .*\biproute2\b", setup), "`ip`, for the notebook's own network namespace"
    assert not re.search(r"data fetch|wget|curl|pip install", run), "nothing is downloaded per submission"
    assert "DLCOURSE_DATA=" in run
    commands = "\n".join(line for line in setup.splitlines() if not line.lstrip().startswith("#"))
    assert not re.search(r"playwright|chromium|texlive|pandoc", commands, re.I), "no PDF tooling: the autograder makes no PDFs"


@pytest.mark.parametrize("lesson_id", LESSONS)
def test_python_version_is_quoted_in_otter_config(lesson_id):
    lesson = COURSE.lesson(lesson_id)
    assert assignment_config(lesson.directory / lesson.notebook)["python_version"] == "3.11"


HTML_LIKE = "expected a <class 'torch.Tensor'>, got <__main__.Net object at 0x7f>; <b>x</b> & <script>alert(1)</script>"


def test_results_json_declares_plain_text_so_html_like_messages_show_literally():
    result = GradeResult(
        submission="s.ipynb", lesson="dense-mnist", status="error", reason="the cell \"f = <lambda>\" raised",
        questions={"model": QuestionResult("model", 0.0, 2.0, tests=[CaseResult("model - 1", False, 1.0, False, HTML_LIKE),
                                                                    CaseResult("model - 2", True, 1.0, False, HTML_LIKE)]),
                   "<q>": QuestionResult("<q>", 0.0, 1.0)})
    results = json.loads(json.dumps(result.to_gradescope()))
    check_gradescope_format(results)
    outputs = [t["output"] for t in results["tests"]]
    assert sum(HTML_LIKE in o for o in outputs) == 2, "messages reach Gradescope as written, not escaped"
    assert '"f = <lambda>"' in results["output"] and any(t["name"] == "<q>" for t in results["tests"])
    failed = failure_report()
    assert {key: failed[key] for key in FORMATS} == dict.fromkeys(FORMATS, "text")


def lesson_with(**changes) -> Lesson:
    return replace(COURSE.lesson("dense-mnist"), **changes)


def test_gradescope_limits_are_read_from_the_lesson(tmp_path):
    for lesson_id in LESSONS:
        lesson = COURSE.lesson(lesson_id)
        assert "gradescope" in yaml.safe_load((lesson.directory / "lesson.yaml").read_text()), "stated in each lesson"
        assert lesson.gradescope_timeout == 600 and lesson.gradescope_memory_mb >= 768  # Gradescope's defaults, or more
    assert COURSE.lesson("regularization").gradescope_memory_mb == 768, "it fits the default since 2026-12-05 (benchmarks/README.md)"
    config = yaml.safe_load((COURSE.lesson("cifar-cnn").directory / "lesson.yaml").read_text())
    path = tmp_path / "lesson.yaml"
    path.write_text(yaml.safe_dump({**config, "gradescope": {"timeout": 1200, "memory_mb": 1536}}))
    assert (Lesson.load(path).gradescope_timeout, Lesson.load(path).gradescope_memory_mb) == (1200, 1536)
    path.write_text(yaml.safe_dump({k: v for k, v in config.items() if k != "gradescope"}))
    assert (Lesson.load(path).gradescope_timeout, Lesson.load(path).gradescope_memory_mb) == (600, 768)


@pytest.mark.parametrize("lesson_id", LESSONS)
def test_the_graders_own_timeout_fires_before_gradescopes(lesson_id):
    lesson = COURSE.lesson(lesson_id)
    for gradescope_timeout in (330, 600, 1200, 3600):
        limit = limits(replace(lesson, gradescope_timeout=gradescope_timeout), environ={})
        # start-up, the notebook, the judge's work after it and the pipeline's grace, at their worst
        assert START_SECONDS + limit.notebook_timeout + MEASURE_SECONDS + JUDGE_GRACE_SECONDS <= gradescope_timeout
        assert 0 < limit.notebook_timeout <= lesson.grading_timeout
        assert limit.notebook_timeout + MEASURE_SECONDS + JUDGE_GRACE_SECONDS < limit.watchdog < gradescope_timeout


def test_an_instructor_who_changes_gradescopes_limits_changes_the_graders():
    default = limits(lesson_with(), environ={})
    assert (default.gradescope_timeout, default.memory_mb) == (600, 700)
    longer = limits(lesson_with(grading_timeout=2000, gradescope_timeout=1200, gradescope_memory_mb=1536), environ={})
    assert (longer.notebook_timeout, longer.memory_mb, longer.gradescope_timeout) == (900, 1468, 1200)
    assert longer.watchdog > default.watchdog
    env = {"DLCOURSE_GRADESCOPE_TIMEOUT": "900", "DLCOURSE_GRADESCOPE_MEMORY_MB": "1024"}
    from_env = limits(lesson_with(grading_timeout=2000), environ=env)
    assert (from_env.notebook_timeout, from_env.memory_mb) == (600, 956), "the environment wins over the lesson"
    assert limits(lesson_with(), environ={"DLCOURSE_MEMORY_MB": "3000"}).memory_mb == 3000
    with pytest.raises(ValueError, match="at least 330 s"):
        limits(lesson_with(gradescope_timeout=300), environ={})
    with pytest.raises(ValueError, match="MB"):
        limits(lesson_with(gradescope_memory_mb=256), environ={})


WATCHDOG = textwrap.dedent("""
    import json, sys, time
    from pathlib import Path
    from dlcourse.grading.gradescope import ResultsWriter, start_watchdog
    writer = ResultsWriter(Path(sys.argv[1]))
    if sys.argv[2] == "first":
        writer.write({"by": "grader"})
    start_watchdog(writer, 0.5, {"by": "watchdog"})
    time.sleep(float(sys.argv[3]))
    print("still running")
""")


def test_the_watchdog_writes_a_result_and_ends_grading_before_gradescope_does(tmp_path):
    begin = time.monotonic()
    done = subprocess.run([sys.executable, "-c", WATCHDOG, str(tmp_path), "late", "60"], capture_output=True,
                          text=True, timeout=30)
    assert done.returncode == 0 and time.monotonic() - begin < 20, done.stderr
    assert "WATCHDOG" in done.stdout and "still running" not in done.stdout
    assert json.loads((tmp_path / "results.json").read_text()) == {"by": "watchdog"}
    done = subprocess.run([sys.executable, "-c", WATCHDOG, str(tmp_path), "first", "1.5"], capture_output=True,
                          text=True, timeout=30)
    assert "still running" in done.stdout, "a result already written is never replaced"
    assert json.loads((tmp_path / "results.json").read_text()) == {"by": "grader"}


def test_limits_that_leave_no_time_to_grade_still_give_a_result(tmp_path):
    tree = unpack("dense-mnist", tmp_path, COURSE.solution_notebook("dense-mnist"), gradescope={"timeout": 240})
    done = subprocess.run([sys.executable, "-m", "dlcourse.grading.gradescope", str(tree)], capture_output=True,
                          text=True, timeout=120, env={**os.environ, "DLCOURSE_DATA": str(SAMPLE_DIR)})
    assert done.returncode == 0
    results = json.loads((tree / "results" / "results.json").read_text())
    assert results["score"] == 0 and "autograder itself failed" in results["output"]
    assert {key: results[key] for key in FORMATS} == dict.fromkeys(FORMATS, "text")
    assert "at least 330 s" in done.stdout + done.stderr, "the instructor sees what to change"


DOCS = [ROOT / "README.md", ROOT / "benchmarks" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def test_docs_offer_gradescope_not_otter_grade_to_scale_out():
    for path in DOCS:
        text = path.read_text()
        assert not re.search(r"otter grade\s+(-\S+\s+)*-a\b|otter grade[^\n`]*autograder\.zip", text), \
            f"{path.name}: the zips are not Otter autograders; `otter grade -a` cannot use them"
    guide = (ROOT / "docs" / "gradescope.md").read_text()
    assert "**Gradescope** is the way to scale out" in guide and "**`dlcourse grade`**" in guide


def test_gradescope_guide_states_what_the_code_does():
    from dlcourse.grading.gradescope import GRADER_MEMORY_MB, MIN_NOTEBOOK_SECONDS, WATCHDOG_MARGIN

    guide = " ".join((ROOT / "docs" / "gradescope.md").read_text().split())
    overhead = START_SECONDS + MEASURE_SECONDS + JUDGE_GRACE_SECONDS
    assert f"Gradescope's timeout less {overhead} s" in guide
    assert f"less {GRADER_MEMORY_MB} MB" in guide and f"{WATCHDOG_MARGIN} s before Gradescope's limit" in guide
    assert f"below {overhead + MIN_NOTEBOOK_SECONDS} s" in guide
    assert "under 3 MB" not in guide and "~7.5 MB" in guide, "the regularization lesson submits two networks"
    assert "time at half a CPU" in guide and '`cpu.max` "50000 100000"' in guide, "timings measured at Gradescope's default"
    assert "not measured" not in guide and "roughly doubled" not in guide, "no estimate in place of a measurement"
    assert "regularization needs 1 GB" not in guide and "fit every lesson, regularization included" in guide, \
        "as every lesson.yaml states"
    assert "holds no .ipynb notebook" not in guide and "zip of a whole *folder* (the lesson folder, say) unpacks into a " \
        "subfolder, and is found there" in guide, "test_student_folders_with_subfolders_and_gradescope_submissions_are_read_alike"
    assert "otter_config.json` is not in the zip" in guide
    assert "only time the internet is reachable" not in guide and "not blocked" in guide
    sizes = sum(COURSE.reference_weights(COURSE.lesson(i)).stat().st_size for i in ("regularization", "cifar-cnn")
                if COURSE.reference_weights(COURSE.lesson(i)).is_file())
    assert sizes < 8e6
