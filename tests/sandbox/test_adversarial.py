"""Attacks on the grader, each a small dense-mnist submission graded through `dlcourse grade`'s
batch grader as it runs in CI (root, so student code runs as the unprivileged user).

Each attack starts from an honest control, the untouched stub with untrained weights ("stub")
or the reference ("reference"), adds one cell, and must score no more than that control,
read nothing it must not, and end with the status the table names. The classes follow the
judge issue:

1. the trusted side reads what student code writes (results, weights, importable modules);
2. tests running in the student's process (patching Otter, the checks, torch);
3. the run seeing the whole machine (hidden tests by path, through /proc, from a thread
   that outlives the notebook; other submissions; the autograder; the solutions);
4. a silent fallback to root;
5. folder input that follows links.
"""

from __future__ import annotations

import hashlib
import http.server
import os
import re
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import nbformat
import psutil
import pytest

from dlcourse.course import Course
from dlcourse.grading.batch import grade_batch
from dlcourse.grading.pipeline import GradingOptions, grade_submission
from dlcourse.grading.sandbox import RUN_UID_BASE, RUN_UID_SPAN, bubblewrap_works, cgroups_available
from dlcourse.settings import SAMPLE_DIR
from helpers.paths import ROOT, on_sample_data

COURSE = Course(ROOT)
DENSE = COURSE.lesson("dense-mnist")
MARKER = f"dlcourse-escape-{time.time_ns()}"
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]  # one batch of every attack, two at a time

# What the probes below print when they read something they must not.
LEAK = "LEAKED:"
PROBE_PATHS = f"""\
import glob, os
SECRETS = ("def test_", "@test_case", "OTTER_", "BEGIN SOLUTION")
OWN = os.path.realpath("..")  # the run's own folder: the student's own files
def probe(paths):
    for path in paths:
        if os.path.realpath(path).startswith(OWN + "/"):
            continue
        try:
            if os.path.isdir(path):
                for name in os.listdir(path):
                    print("listed", path, name)
                continue
            data = open(path, 'rb').read()
        except OSError as error:
            print("refused", path, type(error).__name__)
            continue
        text = data.decode(errors="replace")
        if any(s in text for s in SECRETS) or path.endswith((".zip", ".pt")):
            print("{LEAK}", path, len(data))
"""
READ_BY_PATH = PROBE_PATHS + """\
candidates = ["../../autograder/source/tests/model.py", "../autograder", "../../autograder", "/autograder/source/tests/model.py",
              {course!r} + "/autograder/dense-mnist/dense-mnist-autograder.zip",
              {course!r} + "/solutions/dense-mnist/dense_mnist.pt", {course!r} + "/assignments/dense-mnist/dense-mnist.ipynb"]
candidates += glob.glob("/tmp/dlcourse-judge-*/**", recursive=True) + glob.glob("/tmp/**/tests/*.py", recursive=True)
candidates += glob.glob({inbox!r} + "/*") + glob.glob({outbox!r} + "/**/*.json", recursive=True)
probe(candidates)
"""
READ_THROUGH_PROC = PROBE_PATHS + """\
paths = []
for pid in os.listdir("/proc"):
    if pid.isdigit():
        for pattern in ("cwd/*", "cwd/tests/*.py", "cwd/../autograder/tests/*.py", "root/tmp/dlcourse-judge-*/*/*",
                        "root/tmp/dlcourse-judge-*/autograder/tests/*.py"):
            paths += glob.glob(f"/proc/{pid}/{pattern}")
        try:
            print("process", pid, open(f"/proc/{pid}/cmdline", "rb").read()[:200])
        except OSError:
            pass
probe(paths)
"""
OUTLIVE = PROBE_PATHS + """\
import threading, time, subprocess
def watch():
    for _ in range(600):
        probe(glob.glob("../**/tests/*.py", recursive=True) + glob.glob("/tmp/**/tests/*.py", recursive=True))
        time.sleep(0.1)
threading.Thread(target=watch, daemon=True).start()
subprocess.Popen(["sleep", "600", "{marker}"], start_new_session=True)
"""
FORGE_RESULTS = """\
import json, os
verdict = json.dumps({"weights_found": True, "fits_lesson": True, "accuracy": 0.99, "meets_threshold": True,
                      "questions": {"model": {"score": 4, "possible": 4, "tests": []}}})
for folder in (".", "..", "../..", "../oracle", "../results", "../home", "/tmp"):
    for name in ("cleanroom.json", "notebook_run.json", "results.json", "answer", "report.json", "verdict.json"):
        try:
            os.makedirs(folder, exist_ok=True)
            open(os.path.join(folder, name), "w").write(verdict)
        except OSError:
            pass
"""
SWAP_WEIGHTS = """\
import glob, shutil
for found in [{reference!r}] + glob.glob("/tmp/**/*.pt", recursive=True)[:50] + glob.glob("/work*/**/*.pt", recursive=True)[:50]:
    try:
        shutil.copyfile(found, "dense_mnist.pt")
        print("swapped in", found)
        break
    except OSError:
        pass
"""
PLANT_MODULES = """\
import os
payload = "import builtins\\nbuiltins.PLANTED = True\\n"
for folder in (".", "..", "../..", "../home", "/tmp"):
    for name in ("sitecustomize.py", "usercustomize.py", "torch.py", "otter.py", "dlcourse.py", "json.py"):
        try:
            open(os.path.join(folder, name), "w").write(payload)
        except OSError:
            pass
"""
PATCH_OTTER = """\
import otter.test_files.exception_test as et
from otter.test_files.abstract_test import TestCaseResult
def _all_pass(self, env):
    self.test_case_results = [TestCaseResult(tc, "ok", True) for tc in self.test_cases]
et.ExceptionTestFile.run = _all_pass
"""
PATCH_CHECKS = """\
import torch
import dlcourse.checks as checks
import dlcourse.checks.architecture as architecture
for name in ("check_architecture", "check_output_shape", "check_parameter_layers", "check_accuracy"):
    setattr(architecture, name, lambda *a, **k: None)
    setattr(checks, name, lambda *a, **k: None)
torch.allclose = lambda *a, **k: True
torch.Tensor.__eq__ = lambda self, other: True
class Anything(int):
    def __eq__(self, other): return True
    def __ne__(self, other): return False
    __hash__ = int.__hash__
def flat_features(shape): return Anything(0)
def linear_params(n_in, n_out): return Anything(0)
total_params = Anything(0)
"""
WHOAMI = "import os\nprint('uid', os.getuid(), 'euid', os.geteuid())"
# Issue 24: the runner (the kernel's parent, same user) forged, silenced or killed; the judge
# fed data that is cheap to send and costly to build; the grader's cleanup and the saved
# notebook made large; a neighbour's CPU taken.
FORGE_READY = """\
import ctypes, glob, json, os, struct
runner = os.getppid()
libc = ctypes.CDLL(None, use_errno=True)
print("ptrace", "attached" if libc.ptrace(16, runner, 0, 0) == 0 else "refused")  # PTRACE_ATTACH
forged = json.dumps({"body": {"event": "ready", "cell_errors": []}, "blobs": []}).encode()
for path in ["/proc/%d/mem" % runner] + glob.glob("/proc/%d/fd/*" % runner):
    try:
        with open(path, "wb") as f:
            f.write(struct.pack(">I", len(forged)) + forged)
        print("forged through", path)
    except OSError as error:
        print("refused", path, type(error).__name__)
"""
HUGE_NETWORK = """\
import dlcourse.grading.oracle as oracle
leaf = {"class": "Identity", "torch": True, "attrs": {}, "params": {}, "buffers": {}, "children": [], "training": True}
tree = {"class": "Sequential", "torch": True, "attrs": {}, "params": {}, "buffers": {}, "training": True,
        "children": [[str(i), leaf] for i in range(35000)]}
oracle.respond = lambda namespace, request, blobs: ({"value": {"$": "module", "ref": 1, "tree": tree}}, [])
"""
EMPTY_DICTS = """\
import dlcourse.grading.oracle as oracle
oracle.respond = lambda namespace, request, blobs: ({"value": [{}] * 240001}, [])
"""
DEEP_FOLDER = """\
import os
fd = os.open(".", os.O_RDONLY)
for _ in range(3000):
    os.mkdir("d", dir_fd=fd)
    inner = os.open("d", os.O_RDONLY, dir_fd=fd)
    os.close(fd)
    fd = inner
os.chmod("d", 0)
"""
DISPLAY_FLOOD = """\
from IPython.display import HTML, display
for i in range(300):
    display(HTML("<b>x</b>" * 12000))
"""
CPU_BURN = """\
import multiprocessing, os
def burn():
    while True:
        pass
for _ in range(4 * (os.cpu_count() or 1)):
    multiprocessing.Process(target=burn, daemon=True).start()
burn()
"""

# name -> (control, extra cell, weights, expected status)
ATTACKS = {
    # 1. the trusted side reads what student code writes
    "forge-results": ("stub", FORGE_RESULTS, "untrained", "flagged"),
    "swap-weights": ("stub", SWAP_WEIGHTS, "untrained", "error"),  # the stub's cells raise
    "plant-modules": ("stub", PLANT_MODULES, "untrained", "error"),
    # 2. tests in the student's process
    "patch-otter": ("stub", PATCH_OTTER, "untrained", "flagged"),
    "patch-checks": ("stub", PATCH_CHECKS, "untrained", "flagged"),
    # 3. the whole machine
    "read-by-path": ("reference", READ_BY_PATH, "reference", "flagged"),
    "read-through-proc": ("reference", READ_THROUGH_PROC, "reference", None),
    "outlive-the-notebook": ("reference", OUTLIVE, "reference", None),
    # 4. root
    "whoami": ("reference", WHOAMI, "reference", "ok"),
    # stopping early, or making the judge do the work
    "kill-the-kernel": ("stub", "import os\nos._exit(0)", "untrained", "error"),
    "slow-network": ("stub", "model = nn.Sequential(nn.Upsample(scale_factor=40), "
                             "*[nn.Conv2d(1, 1, 31, padding=15) for _ in range(100)], nn.Identity())",
                     "untrained", "error"),
    # resources, pickles and printed claims
    "crafted-pickle": ("reference", "", "crafted", "flagged"),
    "printed-accuracy": ("reference", "print('Test accuracy: 99.9%')", "untrained", "ok"),
    "memory-bomb": ("reference", "import torch\nhog = []\nwhile True:\n    hog.append(torch.ones(2**27))", "reference",
                    "out-of-memory"),
    "fork-loop": ("reference", "import os, time\nwhile True:\n    if os.fork() == 0:\n        time.sleep(600)",
                  "reference", None),  # error (fork refused), timeout or out-of-memory
    "output-flood": ("reference", "for i in range(300000):\n    print('x' * 100)", "reference", "ok"),
    "network": ("reference", "import socket\ntry:\n    socket.create_connection(('127.0.0.1', {port}), timeout=3)\n"
                             "    print('CONNECTED')\nexcept OSError as error:\n    print('network blocked:', error)",
                "reference", "ok"),
    "write-outside": ("reference", "try:\n    open({outside!r}, 'w').write('pwned')\nexcept OSError as error:\n"
                                   "    print('write refused:', error)", "reference", "ok"),
    # issue 24
    "forge-ready": ("stub", FORGE_READY, "untrained", "flagged"),  # ctypes: the scan flags it
    "kill-the-runner": ("reference", "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)", "reference", "error"),
    "kill-everything": ("reference", "import os, signal\nos.kill(-1, signal.SIGKILL)", "reference", "error"),
    "huge-network": ("stub", HUGE_NETWORK, "untrained", "error"),
    "empty-dicts": ("stub", EMPTY_DICTS, "untrained", "error"),
    "deep-folder": ("reference", DEEP_FOLDER, "reference", "ok"),
    "display-flood": ("reference", DISPLAY_FLOOD, "reference", "ok"),
    "cpu-burn": ("reference", CPU_BURN, "reference", "timeout"),
}
if not cgroups_available():
    del ATTACKS["fork-loop"]  # without a process limit, a fork loop would take the machine down with it
CONTROLS = {"stub": ("stub", "", "untrained", None), "reference": ("reference", "", "reference", "ok")}


def crafted_pickle(path: Path, sentinel: Path) -> None:
    """A weights file that would run a shell command if unpickled without weights_only."""
    import torch

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {sentinel}",))

    torch.save({"0.weight": Payload()}, path)


def make_submission(folder: Path, name: str, base: str, cell: str, weights: str, root: Path, untrained: bytes,
                    **values) -> Path:
    source = COURSE.solution_notebook(DENSE.id) if base == "reference" else COURSE.student_dir(DENSE.id) / DENSE.notebook
    notebook = nbformat.read(source, as_version=4)
    if cell:
        code = cell
        for key, value in values.items():
            code = code.replace("{" + key + "!r}", repr(str(value))).replace("{" + key + "}", str(value))
        notebook.cells.append(nbformat.v4.new_code_cell(code))
    path = folder / f"{name}.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(DENSE.notebook, nbformat.writes(notebook))
        if weights == "reference":
            archive.write(COURSE.reference_weights(DENSE), DENSE.weights)
        elif weights == "untrained":
            archive.writestr(DENSE.weights, untrained)
        elif weights == "crafted":
            crafted_pickle(root / "crafted.pt", root / "outside" / "pickle-ran")
            archive.write(root / "crafted.pt", DENSE.weights)
    return path


@pytest.fixture(scope="module")
def attacked(tmp_path_factory):
    root = tmp_path_factory.mktemp("attacks")
    inbox, outbox, outside = root / "in", root / "out", root / "outside"
    inbox.mkdir()
    outside.mkdir()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    untrained = _untrained_weights(root)
    values = dict(port=server.server_address[1], outside=outside / "written", course=ROOT, inbox=inbox,
                  outbox=outbox, reference=COURSE.reference_weights(DENSE), marker=MARKER)
    for name, (base, cell, weights, _) in {**ATTACKS, **CONTROLS}.items():
        make_submission(inbox, name, base, cell, weights, root, untrained, **values)
    protected = {p: _digest(p) for p in (COURSE.autograder_zip(DENSE.id), DENSE.directory / "lesson.yaml",
                                         COURSE.reference_weights(DENSE))}
    with on_sample_data():
        summary = grade_batch(COURSE.autograder_zip(DENSE.id), inbox, outbox, workers=2, timeout=60,
                              memory_mb=1500, progress=False)
    server.shutdown()
    results = {r.submission.removesuffix(".zip"): r for r in summary.results.values()}
    return results, outbox, root, protected


def _untrained_weights(root: Path) -> bytes:
    import torch

    path = root / "untrained.pt"
    torch.save(DENSE.architecture.build().state_dict(), path)
    return path.read_bytes()


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run_uid(output: str) -> bool:
    """Whether WHOAMI printed a user id of a run's own, the same real and effective."""
    found = re.search(r"uid (\d+) euid (\d+)", output)
    return found is not None and found[1] == found[2] and int(found[1]) in range(RUN_UID_BASE, RUN_UID_BASE + RUN_UID_SPAN)


def executed_output(out: Path, name: str) -> str:
    notebook = nbformat.read(out / "notebooks" / f"{name}.ipynb", as_version=4)
    return "".join(o.get("text", "") for c in notebook.cells for o in c.get("outputs", []))


@pytest.mark.parametrize("name", list(ATTACKS))
def test_no_attack_scores_above_its_honest_control(attacked, name):
    results = attacked[0]
    control = results[ATTACKS[name][0]]
    result = results[name]
    assert result.score <= control.score, {q.name: q.score for q in result.questions.values()}
    for question in result.questions.values():
        assert question.score <= control.questions[question.name].score, question.name


@pytest.mark.parametrize("name", [n for n, (*_, status) in ATTACKS.items() if status])
def test_each_attack_gets_its_status(attacked, name):
    result = attacked[0][name]
    assert result.status == ATTACKS[name][3], (result.status, result.reason)


def test_student_code_runs_as_the_unprivileged_user(attacked):
    results, out, *_ = attacked
    assert run_uid(executed_output(out, "whoami"))
    assert "unprivileged user" in results["whoami"].enforced
    assert not any("ROOT" in promise for promise in results["whoami"].not_enforced)


@pytest.mark.parametrize("name", ["read-by-path", "read-through-proc", "outlive-the-notebook"])
def test_nothing_hidden_is_readable_from_the_notebook(attacked, name):
    """Hidden tests, the autograder, the solutions, other submissions and their results."""
    results, out, *_ = attacked
    text = executed_output(out, name)
    assert LEAK not in text, [line for line in text.splitlines() if LEAK in line][:5]
    assert "refused" in text or "listed" in text or name != "read-by-path", "the probe ran"


def test_the_scan_is_evidence_not_the_defence(attacked):
    results = attacked[0]
    for name in ("patch-otter", "patch-checks", "forge-results"):
        assert any("tampering evidence" in flag for flag in results[name].flags), name
    reference = results["read-by-path"]  # honest answers plus a probe: flagged, yet every point it earned stands
    assert reference.score == results["reference"].score


def test_stopping_early_or_a_slow_network_costs_the_notebook_not_the_grader(attacked):
    """Untrained weights of the right shapes earn nothing when the notebook stops before its
    tests; a network too slow to run uses up its own sandbox's time, and the row still has
    every question."""
    results = attacked[0]
    assert results["kill-the-kernel"].reason.startswith("the notebook's run ended before its tests ran"), \
        results["kill-the-kernel"].reason
    slow = results["slow-network"]
    assert slow.possible == results["stub"].possible and slow.score == 0
    assert slow.seconds < 60 + 120, "the judge did not wait on the network beyond the run's limit"


def test_weights_are_the_bytes_submitted(attacked):
    results, out, *_ = attacked
    assert results["swap-weights"].questions["accuracy"].score == 0
    assert results["swap-weights"].accuracy < DENSE.accuracy_threshold


def test_a_crafted_pickle_is_refused_not_run(attacked):
    results, _, root, _ = attacked
    result = results["crafted-pickle"]
    assert "unsafe weights file" in result.reason and "posix.system" in result.reason
    assert result.questions["accuracy"].score == 0
    assert not (root / "outside" / "pickle-ran").exists()


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
    assert "network namespace" in results["network"].enforced
    text = executed_output(out, "network")
    assert "network blocked" in text and "CONNECTED" not in text


def test_nothing_outside_the_sandbox_changed(attacked):
    results, out, root, protected = attacked
    for path, digest in protected.items():
        assert _digest(path) == digest, f"{path} changed"
    assert not any(MARKER in " ".join(p.info["cmdline"] or []) for p in psutil.process_iter(["cmdline"])), \
        "a process that left its session survived"
    assert not (root / "outside" / "written").exists()
    assert "write refused" in executed_output(out, "write-outside")
    assert not any((ROOT / name).exists() for name in ("sitecustomize.py", "torch.py", "otter.py"))


def test_the_runner_is_out_of_the_kernels_reach(attacked):
    """The kernel runs as the runner's user, but cannot trace it or write through its
    descriptors: the judge hears no forged "ready", and the stub's cell errors still show."""
    results, out, *_ = attacked
    text = executed_output(out, "forge-ready")
    assert "ptrace refused" in text and "forged through" not in text
    assert results["forge-ready"].notes == results["stub"].notes


@pytest.mark.parametrize("name", ["kill-the-runner", "kill-everything"])
def test_a_run_that_kills_its_runner_is_an_error_in_the_judges_words(attacked, name):
    result = attacked[0][name]
    assert result.status == "error"
    assert result.reason.startswith("the notebook's run ended before its tests ran: its kernel or the grader's runner "
                                    "stopped"), result.reason


@pytest.mark.parametrize("name", ["huge-network", "empty-dicts"])
def test_answers_costly_to_build_are_refused_not_built(attacked, name):
    result = attacked[0][name]
    assert result.status not in {"grader-error", "ok"} and result.possible == attacked[0]["stub"].possible


def test_the_saved_notebook_stays_small_valid_json(attacked):
    results, out, *_ = attacked
    path = out / "notebooks" / "display-flood.ipynb"
    assert path.stat().st_size < 12 * 2**20
    nbformat.read(path, as_version=4)
    assert "cut by the grader" in executed_output(out, "display-flood")
    assert results["deep-folder"].score == results["reference"].score


def test_nothing_else_in_the_batch_changed(attacked):
    """The honest controls, graded beside every attack (two at a time, the CPU burner among
    them), end exactly as alone: full marks for the reference, the stub's zero."""
    results = attacked[0]
    assert results["reference"].status == "ok" and results["reference"].score == results["reference"].possible
    assert results["stub"].score == 0 and results["stub"].status not in {"grader-error", "timeout"}
    assert not [name for name, r in results.items() if r.status == "grader-error"]


# ---------------------------------------------------------------- 4. never root, never silently


def test_without_bubblewrap_a_python_nobody_can_reach_is_required(tmp_path):
    """Where only permissions guard the run (as in Gradescope's container), a grader whose
    Python nobody can reach refuses with one message naming the path: never a silent root run."""
    if not any(_closed(p) for p in _python_paths()):
        pytest.skip("this machine's Python is reachable by everyone: the refusal has nothing to refuse")
    submission = COURSE.reference_weights(DENSE).parent / f"{DENSE.id}-solution.ipynb"
    result = grade_submission(COURSE.autograder_zip(DENSE.id), submission,
                              GradingOptions(data=SAMPLE_DIR, sandbox="permissions", timeout=60))
    assert result.status == "not-graded" and result.score == 0
    assert "student code would run as root" in result.reason and "bubblewrap" in result.reason
    assert any(str(p) in result.reason for p in _python_paths() if _closed(p))


def test_a_grader_in_a_venv_under_a_closed_home_still_runs_student_code_unprivileged(tmp_path):
    """The ordinary install: a venv in a home folder other users cannot enter."""
    if os.geteuid() != 0 or not bubblewrap_works():
        pytest.skip("needs root and bubblewrap, as CI has")
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    venv = home / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = next((venv / "lib").glob("python*/site-packages"))
    parent = next(Path(p) for p in sys.path if p.endswith("site-packages") and Path(p).is_dir())
    # the course's packages (and the toolkit's editable install), reached from the closed venv
    (site / "parent.pth").write_text(f"import site; site.addsitedir({str(parent)!r})\n")
    inbox = tmp_path / "in"
    inbox.mkdir()
    make_submission(inbox, "whoami", "reference", WHOAMI, "reference", tmp_path, b"")
    out = tmp_path / "out"
    done = subprocess.run([str(venv / "bin" / "python"), "-m", "dlcourse", "grade", str(inbox / "whoami.zip"),
                           "--autograder", str(COURSE.autograder_zip(DENSE.id)), "--out", str(out)],
                          capture_output=True, text=True, env={**os.environ, "DLCOURSE_DATA": str(SAMPLE_DIR)},
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "sandbox: " in done.stdout and "unprivileged user" in done.stdout
    assert run_uid(executed_output(out, "whoami"))


def _python_paths() -> list[Path]:
    return [Path(sys.executable).resolve(), Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve()]


def _closed(path: Path) -> bool:
    from dlcourse.grading.sandbox import readable_by_everyone

    return not readable_by_everyone(path)


# ---------------------------------------------------------------- 5. links


def test_folder_input_never_follows_links(tmp_path):
    inbox = tmp_path / "in"
    student = inbox / "student-a"
    student.mkdir(parents=True)
    (student / DENSE.notebook).write_bytes((COURSE.student_dir(DENSE.id) / DENSE.notebook).read_bytes())
    (student / DENSE.weights).symlink_to(COURSE.reference_weights(DENSE))  # the reference, through a link
    (inbox / "linked-solution").symlink_to(COURSE.solution_notebook(DENSE.id).parent)  # a whole folder
    (inbox / "linked.ipynb").symlink_to(COURSE.solution_notebook(DENSE.id))
    with on_sample_data():
        summary = grade_batch(COURSE.autograder_zip(DENSE.id), inbox, tmp_path / "out", workers=1, timeout=60,
                              progress=False)
    assert [r.submission for r in summary.results.values()] == ["student-a"]
    result = summary.results["student-a"]
    assert result.status == "missing-weights" and result.score == 0
    assert sorted((a.name, a.reason) for a in summary.discovery.set_aside) == [
        ("linked-solution", "a link (not followed)"), ("linked.ipynb", "a link (not followed)")]
