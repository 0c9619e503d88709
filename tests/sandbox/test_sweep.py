"""What a grader or judge killed with SIGKILL leaves (its scratch folders, its cgroups, what
still ran in them) is removed by the next one on the machine; a live grader's are never
touched, nor anything a run could plant to be removed in their place (scratch.py, cgroups.py)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psutil
import pytest

from dlcourse.grading.sandbox import CGROUP_ROOT, RUN_UID_BASE, Cgroups, cgroups_available
from dlcourse.grading.sandbox.cgroups import GROUP_NAME, fork_stop, sweep_gone_owners
from dlcourse.grading.sandbox.owners import OWNER, owner_gone
from dlcourse.grading.scratch import OWNER_FILE, PREFIX, sweep

PY = sys.executable
# A grader process: its scratch folder and one run folder, left as a killed run may leave them
# (a folder closed to its owner, thousands deep, a link out of the tree), then killed or alive.
GRADER = """
import os, pathlib, signal, sys
from dlcourse.grading.scratch import scratch_folder
run = scratch_folder('run')
deep = run / 'closed'
deep.mkdir()
for _ in range(300):
    deep = deep / 'd'
    deep.mkdir()
(run / 'closed' / 'file').write_text('x')
os.chmod(run / 'closed', 0)
(run / 'out').symlink_to(sys.argv[2])
print(run, flush=True)
if sys.argv[1] == 'die':
    os.kill(os.getpid(), signal.SIGKILL)
sys.stdin.read()
"""
# A judge that made its cgroups (pids.max 128) and started a command in them (the arguments
# after the first), then was killed or lives on.
JUDGE = """
import os, signal, subprocess, sys
from dlcourse.grading.sandbox import Cgroups, Limits
group = Cgroups.create(Limits(timeout=60))
stray = subprocess.Popen(group.joined(sys.argv[2:]), start_new_session=True)
print(stray.pid, *group.dirs, flush=True)
if sys.argv[1] == 'die':
    os.kill(os.getpid(), signal.SIGKILL)
sys.stdin.read()
group.kill_all()
group.remove()
"""
# Student code left running: a chain of processes that each fork and leave at once, so the pid
# a kill loop has read is gone when its kill lands while its child forks on. Bounded: it ends
# by itself after 30 s, and its group's pids.max caps it.
FORK_CHAIN = """
import os, time
end = time.monotonic() + 30
while time.monotonic() < end:
    try:
        if os.fork():
            os._exit(0)
    except BlockingIOError:   # EAGAIN: the group's pids.max
        time.sleep(0.001)
"""
# Runs its arguments as a subreaper: the orphans of what it starts are its own to reap at once
# (not a slow init's, whose unreaped zombies keep a group busy), and it ends when the last has.
REAPER = """
import ctypes, os, subprocess, sys
ctypes.CDLL(None).prctl(36, 1)   # PR_SET_CHILD_SUBREAPER
subprocess.Popen(sys.argv[1:])
while True:
    try:
        os.wait()
    except ChildProcessError:
        break
"""
# A run folder as a run leaves it (given to the user in argv[1]): a kernel's socket, a fifo, a
# folder closed to everyone with a tree in it, and the sandbox's folder `run/` itself closed.
RUN_LEFT = """
import os, socket, sys
from dlcourse.grading.judge_client import Judge
uid = int(sys.argv[1])
with Judge() as judge, judge.run_folder() as folder:
    run = folder / 'run'
    (run / 'home' / 'runtime').mkdir()
    os.chdir(run / 'home' / 'runtime')   # a socket's path may not exceed 107 bytes, and tmp_path's is long
    socket.socket(socket.AF_UNIX).bind('kernel-1.sock')
    os.chdir('/')
    os.mkfifo(run / 'fifo')
    (run / 'closed' / 'deeper').mkdir(parents=True)
    (run / 'closed' / 'deeper' / 'file').write_text('x')
    for path in [run, *run.rglob('*')]:
        os.chown(path, uid, uid, follow_symlinks=False)
    os.chmod(run / 'closed', 0)
    os.chmod(run, 0)
    print(folder, flush=True)
"""


def started(script: str, action: str, *args: str, tmp: Path | None = None) -> tuple[subprocess.Popen, list[str]]:
    """A process running ``script``, and the words of the first line it printed (once it was
    killed, where ``action`` is "die")."""
    env = {**os.environ, **({"TMPDIR": str(tmp)} if tmp else {})}
    process = subprocess.Popen([PY, "-c", script, action, *args], env=env, stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    printed = process.stdout.readline().split()
    assert printed, "the process printed what it made"
    if action == "die":
        assert process.wait(timeout=20) == -9
    return process, printed


def ended(process: subprocess.Popen) -> None:
    assert process.stdin is not None
    process.stdin.close()
    process.wait(timeout=20)


@pytest.fixture
def tmp(tmp_path) -> Path:
    """A temporary folder as /tmp is: anyone may write, only an entry's owner remove it."""
    folder = tmp_path / "tmp"
    folder.mkdir(mode=0o1777)
    os.chmod(folder, 0o1777)
    return folder


@pytest.fixture
def outside(tmp_path) -> Path:
    """A folder outside every scratch folder, which no sweep may empty."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "precious").write_text("kept")
    return folder


def test_the_next_grader_removes_a_killed_graders_folder_and_keeps_a_live_ones(tmp, outside):
    live, (live_run,) = started(GRADER, "live", str(outside), tmp=tmp)
    _, (dead_run,) = started(GRADER, "die", str(outside), tmp=tmp)
    dead = Path(dead_run).parent
    assert dead.is_dir(), "SIGKILL left the killed grader's folder"
    try:
        _, (next_run,) = started(GRADER, "die", str(outside), tmp=tmp)   # the next grader sweeps as it starts
        assert not dead.exists()
        assert Path(live_run, "out").is_symlink() and Path(live_run, "closed").exists(), "the live grader's run is whole"
        assert (outside / "precious").read_text() == "kept", "the link out of the killed run was not followed"
        assert sorted(p.name for p in tmp.iterdir()) == sorted([Path(live_run).parent.name, Path(next_run).parent.name])
    finally:
        ended(live)


def test_a_grader_removes_its_folder_when_it_ends(tmp, outside):
    process, (run,) = started(GRADER, "live", str(outside), tmp=tmp)
    Path(run, "closed").chmod(0o700)
    ended(process)
    assert process.returncode == 0 and list(tmp.iterdir()) == []


def test_a_sweep_touches_only_real_folders_of_its_user_recording_a_gone_owner_here(tmp, outside):
    """A link named as a grader's folder (a run may make one in /tmp) to a folder recording a
    killed grader, such a folder of another user, one whose record is a link, another machine's,
    container's or boot's, one without a record, and any other name stay as they are."""
    _, (dead_run,) = started(GRADER, "die", str(outside), tmp=tmp)
    record = (Path(dead_run).parent / OWNER_FILE).read_text()
    owner = re.fullmatch(OWNER, record)
    assert owner is not None
    (outside / OWNER_FILE).write_text(record)
    link = tmp / f"{PREFIX}link0000"
    link.symlink_to(outside)
    kept = {f"{PREFIX}machine0": record.replace(owner["boot"], "0" * 12, 1),
            f"{PREFIX}namespac": record.replace(f"-{owner['ns']}-", "-1-", 1),
            f"{PREFIX}norecord": None, f"{PREFIX}recolink": outside / OWNER_FILE, "dlcourse-judge-x": record}
    if os.geteuid() == 0:
        kept[f"{PREFIX}otheruid"] = record
    for name, what in kept.items():
        (tmp / name).mkdir()
        (tmp / name / "file").write_text("x")
        if isinstance(what, Path):
            (tmp / name / OWNER_FILE).symlink_to(what)
        elif what is not None:
            (tmp / name / OWNER_FILE).write_text(what)
    if os.geteuid() == 0:
        os.chown(tmp / f"{PREFIX}otheruid", RUN_UID_BASE, RUN_UID_BASE)
    sweep(tmp)
    assert not Path(dead_run).parent.exists()
    assert link.is_symlink() and (outside / "precious").read_text() == "kept"
    assert all((tmp / name / "file").is_file() for name in kept)


def test_no_sweep_where_anyone_may_rename_what_is_in_the_folder(tmp, outside):
    _, (dead_run,) = started(GRADER, "die", str(outside), tmp=tmp)
    os.chmod(tmp, 0o777)   # not sticky: a folder checked there could be swapped for a link before its removal
    sweep(tmp)
    assert Path(dead_run).parent.is_dir()
    os.chmod(tmp, 0o1777)
    sweep(tmp)
    assert not Path(dead_run).parent.exists()


def test_a_killed_judges_cgroups_are_removed_and_what_ran_in_them_ended_a_live_ones_kept():
    if not cgroups_available():
        pytest.skip("no cgroups here")
    live, (live_stray, *live_groups) = started(JUDGE, "live", "sleep", "300")
    _, (stray, *groups) = started(JUDGE, "die", "sleep", "300")
    try:
        assert all(GROUP_NAME.fullmatch(Path(group).name) for group in groups + live_groups)
        assert psutil.pid_exists(int(stray)), "what the killed judge ran outlived it, in its groups"
        deadline = time.monotonic() + 10
        sweep_gone_owners()
        # A group stays busy until its killed process is reaped (by whoever adopted it): a later sweep removes it.
        while any(Path(group).exists() for group in groups):
            assert time.monotonic() < deadline, "the killed judge's groups were removed"
            time.sleep(0.2)
            sweep_gone_owners()
        while psutil.pid_exists(int(stray)) and psutil.Process(int(stray)).status() != psutil.STATUS_ZOMBIE:
            assert time.monotonic() < deadline, "the killed judge's command was ended"
            time.sleep(0.05)
        assert all(Path(group).is_dir() for group in live_groups)
        assert psutil.Process(int(live_stray)).is_running()
    finally:
        ended(live)
    assert not any(Path(group).exists() for group in live_groups), "the live judge removed its own"


def test_no_sweep_where_another_user_or_a_group_may_rename_what_is_in_the_folder(tmp, outside):
    """Not only a world-writable folder without the sticky bit: a folder of another user (its owner
    may rename anything in it) and a group-writable one (`sudo -E` keeping a TA's TMPDIR, a shared
    0775 scratch folder) could swap a live grader's folder in between the check and the removal."""
    _, (dead_run,) = started(GRADER, "die", str(outside), tmp=tmp)
    os.chmod(tmp, 0o775)
    sweep(tmp)
    assert Path(dead_run).parent.is_dir()
    if os.geteuid() == 0:
        os.chmod(tmp, 0o755)
        os.chown(tmp, RUN_UID_BASE, RUN_UID_BASE)
        sweep(tmp)
        assert Path(dead_run).parent.is_dir()
        os.chown(tmp, 0, 0)
    os.chmod(tmp, 0o755)
    sweep(tmp)
    assert not Path(dead_run).parent.exists()


def test_a_sweep_stopped_part_way_keeps_the_record_and_the_next_one_finishes(tmp, outside, monkeypatch):
    """A run still writing into its folder, or a tree that cannot be removed at once, stops a
    removal part way: the folder's record goes last, so the next sweep still knows the folder."""
    from dlcourse.grading import scratch

    _, (dead_run,) = started(GRADER, "die", str(outside), tmp=tmp)
    dead = Path(dead_run).parent

    def stopped(path: Path) -> None:   # as remove_tree stops part way: the plain files went first
        for entry in path.iterdir():
            if entry.is_file():
                entry.unlink()
        raise OSError("busy")

    monkeypatch.setattr(scratch, "remove_tree", stopped)
    sweep(tmp)
    assert (dead / OWNER_FILE).is_file()
    monkeypatch.undo()
    sweep(tmp)
    assert not dead.exists()


def test_a_record_of_odd_bytes_stops_nothing(tmp):
    (tmp / f"{PREFIX}oddbytes").mkdir()
    (tmp / f"{PREFIX}oddbytes" / OWNER_FILE).write_bytes(b"\xff\xfe" * 50)
    sweep(tmp)
    assert (tmp / f"{PREFIX}oddbytes").is_dir()


def test_a_tree_deeper_than_the_open_files_limit_is_removed(tmp_path):
    """A run may nest folders thousands deep; removing them holds a bounded number of folders
    open (a descriptor per level ran out of descriptors: EMFILE, and the folder stayed)."""
    script = """
import os, resource, sys
from pathlib import Path
from dlcourse.grading.sandbox import remove_tree
resource.setrlimit(resource.RLIMIT_NOFILE, (200, 200))
top = Path(sys.argv[1])
top.mkdir()
fd = os.open(top, os.O_RDONLY)
for level in range(3000):
    os.mkdir("d", dir_fd=fd)
    with open(os.open("f", os.O_WRONLY | os.O_CREAT, dir_fd=fd), "w") as f:
        f.write("x")
    child = os.open("d", os.O_RDONLY, dir_fd=fd)
    os.close(fd)
    fd = child
os.close(fd)
remove_tree(top)
print(top.exists())
"""
    try:
        done = subprocess.run([PY, "-c", script, str(tmp_path / "deep")], capture_output=True, text=True, timeout=120)
    finally:   # what a failed removal leaves would stop pytest's own clean-up (shutil recurses per level)
        subprocess.run(["rm", "-rf", str(tmp_path / "deep")], check=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "False"


def test_a_kill_stops_a_groups_forks_first_with_the_kernels_own_kill_else_a_pids_limit_of_0(tmp_path):
    """The file a kill writes first (fork_stop), on folders laid out as the kernel's: a v2 group
    has cgroup.kill from kernel 5.14 and pids.max; a v1 group is a folder per hierarchy, pids.max
    in the pids one; a v1 group left without its pids folder has neither (the loop alone)."""
    v2 = tmp_path / "v2"
    v2.mkdir()
    for name in ("cgroup.procs", "memory.max", "pids.max"):
        (v2 / name).write_text("")
    assert fork_stop([v2]) == (v2 / "pids.max", "0")
    (v2 / "cgroup.kill").write_text("")
    assert fork_stop([v2]) == (v2 / "cgroup.kill", "1")
    Cgroups([v2], 2, ()).kill_all()
    assert (v2 / "cgroup.kill").read_text() == "1" and (v2 / "pids.max").read_text() == ""
    memory, pids = tmp_path / "memory", tmp_path / "pids"
    for folder, limit in ((memory, "memory.limit_in_bytes"), (pids, "pids.max")):
        folder.mkdir()
        (folder / "cgroup.procs").write_text("")
        (folder / limit).write_text("max")
    assert fork_stop([memory, pids]) == (pids / "pids.max", "0")
    assert fork_stop([memory]) is None
    Cgroups([memory, pids], 1, ()).kill_all()
    assert (pids / "pids.max").read_text() == "0"


@pytest.fixture
def late_killer(monkeypatch) -> None:
    """A killer that, each time it has listed a group's processes, gets to kill them only once
    they have left the group (or 0.5 s later): the worst a loaded machine's scheduler may do to a
    loop that lists and kills, where each process forks and leaves."""
    listed = Cgroups.pids

    def late(self: Cgroups) -> set[int]:
        found = listed(self)
        deadline = time.monotonic() + 0.5
        while found & listed(self) and time.monotonic() < deadline:
            time.sleep(0.001)
        return found

    monkeypatch.setattr(Cgroups, "pids", late)


def forking(group: Cgroups) -> bool:
    """Whether what runs in ``group`` keeps starting processes (over 10 seen within 2 s)."""
    seen: set[int] = set()
    deadline = time.monotonic() + 2
    while len(seen) <= 10 and time.monotonic() < deadline:
        seen |= group.pids()
    return len(seen) > 10


def test_a_fork_chain_left_in_a_killed_judges_groups_cannot_outrun_their_sweep(late_killer):
    if not cgroups_available():
        pytest.skip("no cgroups here")
    reaper = subprocess.Popen([PY, "-c", REAPER, PY, "-c", JUDGE, "die", PY, "-c", FORK_CHAIN],
                              stdout=subprocess.PIPE, text=True)
    assert reaper.stdout is not None
    _, *groups = reaper.stdout.readline().split()
    found = GROUP_NAME.fullmatch(Path(groups[0]).name)
    assert found is not None
    try:
        assert forking(Cgroups([Path(group) for group in groups], 1, ())), "the chain forks in the killed judge's groups"
        deadline = time.monotonic() + 10
        while not owner_gone(found):
            assert time.monotonic() < deadline, "the judge was killed"
            time.sleep(0.01)
        sweep_gone_owners()
        assert not any(Path(group).exists() for group in groups), "the chain was ended and its groups removed"
        assert reaper.wait(timeout=10) == 0, "no process of the chain is left"
    finally:   # where it failed: the chain ends by itself, and the next sweep removes its groups
        reaper.wait(timeout=40)


def test_cgroup_kill_ends_a_fork_chain_at_once(late_killer):
    """cgroup v2's own kill, for real wherever a v2 hierarchy is mounted (beside v1's too, as
    /sys/fs/cgroup/unified, where only the v2 core files are: cgroup.kill is one)."""
    hierarchy = CGROUP_ROOT if (CGROUP_ROOT / "cgroup.controllers").is_file() else CGROUP_ROOT / "unified"
    folder = hierarchy / f"dlcourse-test-{uuid.uuid4().hex[:12]}"
    try:
        folder.mkdir()
    except OSError:
        pytest.skip("no cgroup v2 hierarchy to make a group in here")
    group = Cgroups([folder], 2, ())
    try:
        if fork_stop(group.dirs) != (folder / "cgroup.kill", "1"):
            pytest.skip("no cgroup.kill (kernel before 5.14)")
        reaper = subprocess.Popen([PY, "-c", REAPER, *group.joined([PY, "-c", FORK_CHAIN])])
        try:
            assert forking(group)
            group.kill_all()
            assert reaper.wait(timeout=10) == 0, "no process of the chain is left"
        finally:
            reaper.wait(timeout=40)
    finally:
        group.remove()


@pytest.mark.parametrize("grader", ["root", "not root"])
def test_a_run_folder_is_removed_whatever_the_run_left_in_it(tmp, grader):
    """A judge's run folder (judge_client's run_folder and _remove) with what a run leaves: as
    root, the sandbox's user owns it all; a grader that is not root (here root without the
    capabilities that pass over file modes) runs student code as its own user, which may close
    folders even to their owner. Either way the folder goes at once, and the grader's folder at exit."""
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        pytest.skip("needs root and setpriv: a user to give the files to, or capabilities to drop")
    prefix = [] if grader == "root" else ["setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner", "--"]
    uid = RUN_UID_BASE if grader == "root" else 0
    done = subprocess.run([*prefix, PY, "-c", RUN_LEFT, str(uid)], env={**os.environ, "TMPDIR": str(tmp)},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert not Path(done.stdout.strip()).exists(), "the run folder was removed"
    assert list(tmp.iterdir()) == [], "the grader's folder was removed at exit"
