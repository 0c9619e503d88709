"""The sandbox: every way a command can misbehave ends in a bounded, cleaned-up outcome."""

import errno
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path, PurePosixPath

import psutil
import pytest

import dlcourse.grading.sandbox as sandbox
from dlcourse.grading.sandbox import Limits, Outcome, View, cgroups_available, network_namespace_supported, run_limited
from dlcourse.grading.sandbox.syscalls import filter_program

PY = sys.executable


def run(code: str, tmp_path: Path, **limits) -> Outcome:
    return run_limited([PY, "-c", code], cwd=tmp_path, env={"PATH": "/usr/bin:/bin"},
                       limits=Limits(**{"timeout": 20, **limits}), view=View(writable=(tmp_path,)))


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


def test_without_cgroups_a_memory_bomb_is_stopped_by_polling(tmp_path, monkeypatch):
    """As in a Gradescope container, where the cgroup file system is read-only."""
    monkeypatch.setattr(sandbox.Cgroups, "create", classmethod(lambda cls, limits: None))
    outcome = run("x = []\nwhile True: x.append(bytearray(20 * 2**20))", tmp_path, memory_mb=300)
    assert outcome.out_of_memory and "cgroup memory" not in outcome.enforced
    assert 300 < outcome.peak_memory_mb < 600


def test_without_cgroups_a_mapped_file_is_not_counted_against_the_limit(tmp_path, monkeypatch):
    """A memory-mapped dataset is page cache, shared and reclaimable: it must not get a
    healthy run killed, however large it is next to the limit."""
    monkeypatch.setattr(sandbox.Cgroups, "create", classmethod(lambda cls, limits: None))
    (tmp_path / "data.bin").write_bytes(bytes(400 * 2**20))
    outcome = run("import mmap, time\nf = open('data.bin', 'rb')\nm = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)\n"
                  "print(sum(m[i] for i in range(0, len(m), 4096)))\ntime.sleep(0.5)", tmp_path, memory_mb=300)
    assert outcome.returncode == 0 and not outcome.out_of_memory, outcome.output
    assert outcome.peak_memory_mb < 100


def test_a_command_is_limited_inside_the_graders_own_cgroup(tmp_path):
    """So a limit placed on the grader (a container, a systemd unit) covers what it starts."""
    if not cgroups_available():
        pytest.skip("no cgroups to create here")

    def memory_group(proc_cgroup: str) -> PurePosixPath:
        line = next(line for line in proc_cgroup.splitlines() if ":memory:" in line or line.startswith("0::"))
        return PurePosixPath(line.split(":", 2)[2])

    mine = memory_group(Path("/proc/self/cgroup").read_text())
    theirs = memory_group(run("print(open('/proc/self/cgroup').read())", tmp_path).output)
    assert theirs.name.startswith("dlcourse-")
    # cgroup v2 lets a group hold controllers only below a group without processes of its own.
    v2_fallback = not (sandbox.CGROUP_ROOT / "memory").is_dir() and theirs.parent == PurePosixPath("/")
    assert theirs.parent == mine or v2_fallback



BUSY_SECOND = "import os, time\nstart = time.time()\nwhile time.time() - start < 1: pass\nprint(sum(os.times()[:2]))"


def test_a_cpu_quota_holds_a_command_to_its_share():
    """What the Gradescope emulation gives a grading: a container's CPU limit (half a CPU
    there; 5% here, so the quota binds even on a machine busy with other work)."""
    group = sandbox.Cgroups.create(Limits(timeout=10, cpus=0.05))
    if group is None:
        pytest.skip("no cgroups with a cpu controller to create here")
    try:
        start = time.monotonic()
        done = subprocess.run(group.joined([PY, "-c", BUSY_SECOND]), capture_output=True, text=True, timeout=60)
        wall = time.monotonic() - start
        assert "cgroup cpu" in group.enforced and group.counters("cpu.stat", group.dirs[-1])["nr_throttled"] > 0
        assert float(done.stdout) < 0.2 * wall, "the command used more CPU than its quota"
    finally:
        group.remove()

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


def test_the_command_cannot_write_outside_its_folders_when_run_unprivileged():
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


@pytest.mark.skipif(not (sandbox.can_drop_privileges() and sandbox.bubblewrap_works()), reason="needs root and bubblewrap")
def test_each_bubblewrap_run_has_a_user_of_its_own_that_owns_its_processes_and_files(tmp_path):
    """Runs of one user would share what the kernel counts per user (processes, inotify
    instances, pipe buffers: attack27 #4), and a leftover process of one would pass for the next's."""
    code = ("import os, subprocess\nchild = subprocess.Popen(['sleep', '10'])\nopen('made', 'w').close()\n"
            "print(os.getuid(), os.geteuid(), os.stat(f'/proc/{child.pid}').st_uid)\nchild.kill()")
    uids = []
    for name in ("one", "two"):
        folder = tmp_path / name
        folder.mkdir()
        outcome = run(code, folder, confinement="bubblewrap")
        assert "a user of its own" in outcome.enforced and "unprivileged user" in outcome.enforced
        uid, euid, child_uid = map(int, outcome.output.split())
        assert uid == euid == child_uid != 0, outcome.output
        assert (folder / "made").stat().st_uid == folder.stat().st_uid == uid
        uids.append(uid)
    assert uids[0] != uids[1]


@pytest.mark.skipif(not (sandbox.can_drop_privileges() and sandbox.bubblewrap_works()), reason="needs root and bubblewrap")
def test_student_code_can_use_its_private_tmp_and_no_other_runs(tmp_path):
    """A notebook that saves a checkpoint to /tmp (common on Colab) must not fail only when graded;
    the /tmp it writes is the run's own, gone with it."""
    code = "import os; print(os.path.exists('/tmp/weights.pt')); open('/tmp/weights.pt', 'w').write('x')"
    for name in ("one", "two"):
        folder = tmp_path / name
        folder.mkdir()
        outcome = run(code, folder, confinement="bubblewrap")
        assert outcome.returncode == 0 and outcome.output == "False\n", outcome.output


def test_stop_event_ends_a_run_early(tmp_path):
    import threading

    stop = threading.Event()
    threading.Timer(1.0, stop.set).start()
    outcome = run_limited([PY, "-c", "import time; time.sleep(30)"], cwd=tmp_path, env={},
                          limits=Limits(timeout=30), stop=stop)
    assert outcome.interrupted and outcome.seconds < 5


def test_cleanup_survives_a_folder_thousands_deep_and_closed(tmp_path):
    """What a notebook can leave in its folder: folders nested past Python's recursion limit and
    PATH_MAX (1100 deep, 5.5 kB of path; the attack used 3000), a closed one, a link out of the tree."""
    top = tmp_path / "run"
    top.mkdir()
    (tmp_path / "keep").write_text("outside")
    fd = os.open(top, os.O_RDONLY)
    for _ in range(1100):
        os.mkdir("dddd", dir_fd=fd)
        inner = os.open("dddd", os.O_RDONLY, dir_fd=fd)
        os.close(fd)
        fd = inner
    os.close(fd)
    (top / "closed").mkdir()
    (top / "closed" / "file").write_text("x")
    os.symlink(tmp_path / "keep", top / "closed" / "link")
    os.chmod(top / "closed", 0)
    sandbox.remove_tree(top)
    assert not top.exists() and (tmp_path / "keep").read_text() == "outside"


def test_a_run_that_fills_its_folder_is_stopped_at_its_disk_limit(tmp_path):
    """A neighbour in the same batch must not pay for it: the run stops at its own limit."""
    outcome = run("import os\nfor i in range(1000):\n    open(f'f{i}', 'wb').write(os.urandom(2**20))", tmp_path,
                  disk_mb=20, timeout=60)
    assert outcome.out_of_disk and outcome.returncode != 0
    assert sum(f.stat().st_size for f in tmp_path.iterdir()) < 200 * 2**20


@pytest.mark.skipif(not sandbox.bubblewrap_works() or filter_program() is None,
                    reason="needs bubblewrap and libseccomp")
def test_a_run_cannot_reserve_disk_without_writing_it(tmp_path):
    """fallocate reserves a gigabyte in about a millisecond: between two polls of the disk limit
    a run could fill the machine's disk. Refused, and its other doors: io_uring, which would make
    it unfiltered, and the ioctl FS_IOC_RESVSP64 (also with bits above the 32 the kernel reads).
    posix_fallocate still works, by writing."""
    code = ("import ctypes, os, struct\nlibc = ctypes.CDLL(None, use_errno=True)\nfd = os.open('big', os.O_RDWR | os.O_CREAT)\n"
            "print(libc.fallocate(fd, 0, ctypes.c_long(0), ctypes.c_long(100 * 2**20)), ctypes.get_errno())\n"
            "print(libc.syscall(425, 1, ctypes.create_string_buffer(120)), ctypes.get_errno())\n"
            "space = ctypes.create_string_buffer(struct.pack('hhqqiI4i', 0, 0, 0, 100 * 2**20, 0, 0, 0, 0, 0, 0))\n"
            "for request in (0x4030582A, 0x1_4030582A):\n"
            "    print(libc.ioctl(fd, ctypes.c_ulong(request), space), ctypes.get_errno())\n"
            "os.posix_fallocate(fd, 0, 2**20)\nprint(os.fstat(fd).st_size)")
    outcome = run(code, tmp_path, confinement="bubblewrap")
    assert outcome.output.split() == ["-1", str(errno.EOPNOTSUPP), "-1", str(errno.ENOSYS), "-1", str(errno.ENOTTY),
                                      "-1", str(errno.ENOTTY), str(2**20)], outcome.output
    assert (tmp_path / "big").stat().st_blocks * 512 <= 2 * 2**20


@pytest.mark.skipif(not sandbox.bubblewrap_works(), reason="needs bubblewrap")
def test_where_bubblewrap_cannot_load_the_filter_runs_go_on_and_say_so(tmp_path, monkeypatch):
    """A kernel without seccomp filters would make bubblewrap refuse every run."""
    monkeypatch.setattr(sandbox.confinement, "seccomp_works", lambda isolate_network=True: False)
    outcome = run("print('ran')", tmp_path, confinement="bubblewrap")
    assert outcome.output == "ran\n" and any("fallocate" in promise for promise in outcome.not_enforced)


def test_one_file_past_the_disk_limit_is_refused_by_the_kernel(tmp_path):
    outcome = run("open('big', 'wb').write(bytes(40 * 2**20))", tmp_path, disk_mb=10)
    assert outcome.returncode != 0 and (tmp_path / "big").stat().st_size <= 10 * 2**20


def test_many_small_files_count_too(tmp_path):
    outcome = run("for i in range(100000):\n    open(f'f{i}', 'w').close()", tmp_path, max_files=500, timeout=60)
    assert outcome.out_of_disk
