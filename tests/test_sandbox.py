"""The sandbox: every way a command can misbehave ends in a bounded, cleaned-up outcome."""

import os
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pytest

from dlcourse.grading.sandbox import Limits, network_namespace_supported, run_limited

PY = sys.executable


def run(code: str, tmp_path: Path, **limits) -> "Outcome":
    return run_limited([PY, "-c", code], cwd=tmp_path, env={"PATH": "/usr/bin:/bin"},
                       limits=Limits(**{"timeout": 20, **limits}), writable=(tmp_path,))


def test_a_normal_command_runs_and_reports(tmp_path):
    outcome = run("print('hello')", tmp_path)
    assert outcome.returncode == 0 and outcome.output == "hello\n"
    assert not (outcome.timed_out or outcome.out_of_memory)


def test_an_infinite_loop_is_stopped_at_the_timeout(tmp_path):
    start = time.monotonic()
    outcome = run("while True: pass", tmp_path, timeout=2)
    assert outcome.timed_out and time.monotonic() - start < 6


def test_a_memory_bomb_is_stopped_and_reported(tmp_path):
    outcome = run("x = []\nwhile True: x.append(bytearray(20 * 2**20))", tmp_path, memory_mb=300)
    assert outcome.out_of_memory and outcome.returncode != 0


def test_a_flood_of_output_is_capped(tmp_path):
    outcome = run("import sys\nfor _ in range(200000): sys.stdout.write('x' * 99 + '\\n')", tmp_path,
                  max_output_bytes=10_000)
    assert len(outcome.output) == 10_000 and outcome.output_bytes == 20_000_000 and outcome.output_truncated


def test_processes_that_escape_the_process_group_are_killed(tmp_path):
    marker = f"dlcourse-escape-{time.time_ns()}"
    outcome = run_limited(["sh", "-c", f"setsid sleep 300 {marker} 2>/dev/null & echo started"], cwd=tmp_path,
                          env={"PATH": "/usr/bin:/bin"}, limits=Limits(timeout=5))
    assert "started" in outcome.output
    time.sleep(0.3)
    survivors = [p for p in psutil.process_iter(["cmdline"]) if marker in " ".join(p.info["cmdline"] or [])]
    assert not survivors


def test_a_fork_loop_hits_the_process_limit(tmp_path):
    outcome = run("import os, time\nn = 0\ntry:\n    while True:\n        if os.fork() == 0:\n"
                  "            time.sleep(60)\n            os._exit(0)\n        n += 1\n"
                  "except OSError:\n    print('stopped after', n)\n", tmp_path, max_processes=40)
    if "cgroup pids" not in outcome.enforced:
        pytest.skip("no pids cgroup on this machine: only the timeout bounds a fork loop")
    assert "stopped after" in outcome.output
    assert int(outcome.output.split()[-1]) < 40


def test_no_network_inside(tmp_path):
    if not network_namespace_supported():
        pytest.skip("network namespaces are not available here")
    outcome = run("import socket\ns = socket.socket()\ns.settimeout(3)\n"
                  "try:\n    s.connect(('1.1.1.1', 53))\n    print('connected')\n"
                  "except OSError as e:\n    print('blocked', e.errno)", tmp_path)
    assert "blocked" in outcome.output and "network namespace" in outcome.enforced


def test_the_command_cannot_write_outside_its_folders_when_run_as_nobody():
    with tempfile.TemporaryDirectory() as scratch:
        os.chmod(scratch, 0o711)  # as the grading pipeline does: passable, not listable
        work = Path(scratch) / "work"
        work.mkdir()
        outcome = run(f"open({str(Path.home() / 'dlcourse-sandbox-probe')!r}, 'w')", work)
        if "unprivileged user" not in outcome.enforced:
            pytest.skip("not started as root: nothing to drop")
        assert "PermissionError" in outcome.output
        assert not (Path.home() / "dlcourse-sandbox-probe").exists()
        assert run(f"open({str(work / 'ok.txt')!r}, 'w').write('fine')", work).returncode == 0


def test_stop_event_ends_a_run_early(tmp_path):
    import threading

    stop = threading.Event()
    threading.Timer(1.0, stop.set).start()
    outcome = run_limited([PY, "-c", "import time; time.sleep(30)"], cwd=tmp_path, env={},
                          limits=Limits(timeout=30), stop=stop)
    assert outcome.interrupted and outcome.seconds < 5
