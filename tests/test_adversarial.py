"""Attacks on the grader, each a small dense-mnist submission: every one ends with the exact
status expected, no score above what its honest parts earn, and nothing changed outside the
grader's scratch folder."""

from __future__ import annotations

import hashlib
import http.server
import threading
import time
import zipfile
from pathlib import Path

import nbformat
import psutil
import pytest

from dlcourse.course import Course
from dlcourse.grading.batch import grade_batch
from dlcourse.grading.sandbox import cgroups_available
from tests.conftest import ROOT, on_sample_data

COURSE = Course(ROOT)
DENSE = COURSE.lesson("dense-mnist")
MARKER = f"dlcourse-escape-{time.time_ns()}"
pytestmark = pytest.mark.slow

# name -> (base notebook, extra cell source, weights to include, expected status)
PATCH_OTTER = """\
import otter.test_files.exception_test as et
from otter.test_files.abstract_test import TestCaseResult
def _all_pass(self, env):
    self.test_case_results = [TestCaseResult(tc, "ok", True) for tc in self.test_cases]
et.ExceptionTestFile.run = _all_pass
"""
HIDDEN_PATCH = """\
_b = __builtins__ if isinstance(__builtins__, dict) else __builtins__.__dict__
_m = _b['__imp' + 'ort__']('ot' + 'ter.test_files.exception_test', fromlist=['x'])
setattr(getattr(_m, 'Exception' + 'TestFile'), 'r' + 'un', lambda self, env: None)
"""
ATTACKS = {
    "patch-otter": ("stub", PATCH_OTTER, None, "flagged"),
    "obfuscated-patch": ("stub", HIDDEN_PATCH, None, "flagged"),
    "rebind-grader": ("solution", "grader = None", "reference", "flagged"),
    "read-hidden-tests": ("solution", "import os\nprint('tests seen:', os.path.exists('tests'))\n"
                                      "print(open('tests/model.py').read() if os.path.exists('tests') else '')", "reference", "flagged"),
    "overwrite-results": ("solution", "open('../results/notebook_run.json', 'w').write('{}')", "reference", "flagged"),
    "redirect-data": ("solution", "import os\nos.environ['DLCOURSE_DATA'] = '/tmp/my-own-labels'", "reference", "flagged"),
    "crafted-pickle": ("solution", "", "crafted", "flagged"),
    "printed-accuracy": ("solution", "print('Test accuracy: 99.9%')", "untrained", "ok"),
    "memory-bomb": ("solution", "import torch\nhog = []\nwhile True:\n    hog.append(torch.ones(2**27))", "reference", "out-of-memory"),
    "fork-loop": ("solution", "import os, time\nwhile True:\n    if os.fork() == 0:\n        time.sleep(600)",
                  "reference", None),  # error (fork refused), timeout or out-of-memory
    "output-flood": ("solution", "for i in range(300000):\n    print('x' * 100)", "reference", "ok"),
    "network": ("solution", "import socket\ntry:\n    socket.create_connection(('127.0.0.1', {port}), timeout=3)\n"
                            "    print('CONNECTED')\nexcept OSError as error:\n    print('network blocked:', error)", "reference", "ok"),
    "escape-and-write-outside": ("solution", "import subprocess\nsubprocess.Popen(['sleep', '600', '" + MARKER + "'], "
                                             "start_new_session=True)\ntry:\n    open({outside!r}, 'w').write('pwned')\n"
                                             "except OSError as error:\n    print('write refused:', error)", "reference", "ok"),
}
if not cgroups_available():
    del ATTACKS["fork-loop"]  # without a process limit, a fork loop would take the machine down with it


def crafted_pickle(path: Path, sentinel: Path) -> None:
    """A weights file that would run a shell command if unpickled without weights_only."""
    import os

    import torch

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {sentinel}",))

    torch.save({"0.weight": Payload()}, path)


@pytest.fixture(scope="module")
def attacked(tmp_path_factory):
    root = tmp_path_factory.mktemp("attacks")
    folder, outside = root / "in", root / "outside"
    folder.mkdir()
    outside.mkdir()
    sentinel = outside / "pickle-ran"
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    untrained = _untrained_weights(root)
    for name, (base, cell, weights, _) in ATTACKS.items():
        source = COURSE.solution_notebook(DENSE.id) if base == "solution" else COURSE.student_dir(DENSE.id) / DENSE.notebook
        notebook = nbformat.read(source, as_version=4)
        if cell:
            code = cell.replace("{port}", str(server.server_address[1])).replace("{outside!r}", repr(str(outside / "written")))
            notebook.cells.insert(4, nbformat.v4.new_code_cell(code))
        with zipfile.ZipFile(folder / f"{name}.zip", "w") as archive:
            archive.writestr(DENSE.notebook, nbformat.writes(notebook))
            if weights == "reference":
                archive.write(COURSE.reference_weights(DENSE), DENSE.weights)
            elif weights == "untrained":
                archive.writestr(DENSE.weights, untrained)
            elif weights == "crafted":
                crafted_pickle(root / "crafted.pt", sentinel)
                archive.write(root / "crafted.pt", DENSE.weights)
    protected = {p: _digest(p) for p in (COURSE.autograder_zip(DENSE.id), DENSE.directory / "lesson.yaml")}
    with on_sample_data():
        summary = grade_batch(COURSE.autograder_zip(DENSE.id), folder, root / "out", workers=2, timeout=40,
                              memory_mb=1500, progress=False)
    server.shutdown()
    results = {r.submission.removesuffix(".zip"): r for r in summary.results.values()}
    return results, root / "out", outside, sentinel, protected


def _untrained_weights(root: Path) -> bytes:
    import torch

    path = root / "untrained.pt"
    torch.save(DENSE.architecture.build().state_dict(), path)
    return path.read_bytes()


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def executed_output(out: Path, name: str) -> str:
    notebook = nbformat.read(out / "notebooks" / f"{name}.zip.ipynb", as_version=4)
    return "".join(o.get("text", "") for c in notebook.cells for o in c.get("outputs", []))


@pytest.mark.parametrize("name", [n for n, (*_, status) in ATTACKS.items() if status])
def test_each_attack_gets_its_status(attacked, name):
    results = attacked[0]
    expected = ATTACKS[name][3]
    assert results[name].status == expected, (results[name].status, results[name].reason)


def test_patching_otters_runner_scores_nothing(attacked):
    results = attacked[0]
    for name in ("patch-otter", "obfuscated-patch"):
        result = results[name]
        assert result.score == 0, {q.name: q.score for q in result.questions.values()}
        assert any("tampering evidence" in flag for flag in result.flags)
    assert "otter" in results["patch-otter"].reason


def test_tampering_keeps_only_what_the_clean_room_verified(attacked):
    result = attacked[0]["rebind-grader"]
    assert "rebinds grader" in result.reason
    # honest reference weights: the clean room verifies the architecture and the accuracy
    assert result.questions["model"].score == result.questions["model"].possible
    assert result.questions["accuracy"].score == result.questions["accuracy"].possible
    for name in ("prepare", "flatten", "parameters"):
        assert result.questions[name].score == 0


def test_hidden_tests_are_not_on_disk_while_student_code_runs(attacked):
    results, out, *_ = attacked
    assert "tests seen: False" in executed_output(out, "read-hidden-tests")
    assert "names a grading file" in " ".join(results["read-hidden-tests"].flags)


def test_a_crafted_pickle_is_refused_not_run(attacked):
    results, _, _, sentinel, _ = attacked
    result = results["crafted-pickle"]
    assert "unsafe weights file" in result.reason and "posix.system" in result.reason
    assert result.questions["accuracy"].score == 0
    assert not sentinel.exists()


def test_a_printed_accuracy_counts_for_nothing(attacked):
    result = attacked[0]["printed-accuracy"]
    assert result.questions["accuracy"].score == 0
    assert "test images correctly; the target is" in result.questions["accuracy"].tests[0].message


def test_resource_abuse_ends_as_a_row(attacked):
    results, out, *_ = attacked
    if "fork-loop" in results:
        assert results["fork-loop"].status in {"error", "timeout", "out-of-memory"}  # forked kernels copy memory
    flood = results["output-flood"]
    assert flood.score == flood.possible
    assert len(executed_output(out, "output-flood")) < 200_000, "the executed notebook keeps a capped output"


def test_no_network_from_inside(attacked):
    results, out, *_ = attacked
    if "network namespace" not in results["network"].enforced:
        pytest.skip("network namespaces are not available here: the network is not blocked")
    text = executed_output(out, "network")
    assert "network blocked" in text and "CONNECTED" not in text


def test_nothing_outside_the_scratch_folder_changed(attacked):
    results, out, outside, sentinel, protected = attacked
    for path, digest in protected.items():
        assert _digest(path) == digest, f"{path} changed"
    assert not any(MARKER in " ".join(p.info["cmdline"] or []) for p in psutil.process_iter(["cmdline"])), \
        "a process that left its session survived"
    if "unprivileged user" in results["escape-and-write-outside"].enforced:
        assert not (outside / "written").exists()
        assert "write refused" in executed_output(out, "escape-and-write-outside")
