"""The batch's figures as the instructor opens them (report.html's charts, report.md's
scores.png), and what a grade does not pay for them: figures drawn without pyplot, matplotlib and
jinja2 loaded while the judge runs, a lone submission not read again for copies."""

from __future__ import annotations

import base64
import re
import subprocess
import sys

from dlcourse.grading import submission
from dlcourse.grading.figures import warm_up
from dlcourse.grading.html import environment
from dlcourse.grading.inputs import Discovery
from dlcourse.grading.outputs import write_outputs
from dlcourse.grading.rows import OutputSettings
from dlcourse.grading.similarity import find_copies
from helpers.gradebooks import canvas_like

FIGURE = re.compile(r'<img (?:id="(?P<id>[\w-]+)" )?alt="(?P<alt>[^"]*)" src="data:image/svg\+xml;base64,(?P<svg>[^"]+)"')


def figures(html: str) -> dict[str, str]:
    """report.html's inline figures, by their alt text: each decoded SVG."""
    return {m["alt"]: base64.b64decode(m["svg"]).decode() for m in FIGURE.finditer(html)}


def test_report_html_has_a_figure_per_question_and_the_accuracy_histogram_with_their_labels(tmp_path):
    found, results = canvas_like(tmp_path)
    write_outputs(tmp_path, found, results, OutputSettings(accuracy_target=0.96))
    html = (tmp_path / "report.html").read_text()
    drawn = figures(html)
    assert set(drawn) == {"score distribution of model", "score distribution of accuracy",
                          "histogram of the test accuracy measured from each submission's weights"}
    for name in ("model", "accuracy"):   # text stays text in these SVGs: the axes say what they count
        assert f"{name}: points (of 4)" in drawn[f"score distribution of {name}"]
        assert "submissions" in drawn[f"score distribution of {name}"]
    accuracy = drawn["histogram of the test accuracy measured from each submission's weights"]
    assert "target 96%" in accuracy and "test accuracy measured from the weights (%)" in accuracy
    assert (tmp_path / "scores.png").read_bytes()[:4] == b"\x89PNG", "report.md's histogram is a PNG beside it"


def test_the_same_results_give_the_same_report_bytes(tmp_path):
    found, results = canvas_like(tmp_path)
    for out in ("a", "b"):
        (tmp_path / out).mkdir()
        write_outputs(tmp_path / out, found, results, OutputSettings(accuracy_target=0.96))
    for name in ("report.html", "scores.png"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), \
            f"{name}: no date, version or random id in the figures"


def test_a_lone_submission_is_not_read_again_for_copies(tmp_path, monkeypatch):
    found, results = canvas_like(tmp_path)
    alone = Discovery(found.entries[:1], [])

    def read_again(*args, **kwargs):
        raise AssertionError("read a second time, with no other submission to compare it with")

    monkeypatch.setattr(submission, "read_submission", read_again)
    assert find_copies(alone, results) == []


def test_the_warm_up_loads_the_drawing_and_the_pages_once_in_the_background():
    thread = warm_up()
    assert warm_up() is thread, "one thread per process, however many submissions call it"
    thread.join(timeout=60)
    assert not thread.is_alive() and thread.daemon
    assert {"matplotlib.figure", "jinja2"} <= set(sys.modules)
    assert environment().cache is not None and len(environment().cache) == len(environment().list_templates()), \
        "every page's template compiled"


def test_starting_a_grade_loads_neither_matplotlib_nor_jinja2():
    """What the grader imports before it hands a submission to the judge: the figures' and the
    pages' modules are left for figures.warm_up, while the judge runs."""
    code = ("import sys, dlcourse.cli, dlcourse.grading.batch, dlcourse.grading.preflight, dlcourse.grading.answer_sheet, "
            "dlcourse.grading.lms_export; print(sorted(m for m in ('matplotlib', 'jinja2') if m in sys.modules))")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == "[]"
