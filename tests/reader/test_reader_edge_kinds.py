"""The reader's remaining edge kinds of issue 20: a student's backup copy of their own files, a
class whose students all forgot their weights, a student's data archive zipped along,
Blackboard's interleaved students, zips that PowerShell's Compress-Archive wrote, and the
attacks a class download carries (links in a tar, one student reaching another's files,
weights swapped after the grader took them). Every input is built here from the lesson's own
reference notebook and weights; each student's notebook differs by a byte, as real ones do."""

from __future__ import annotations

import io
import stat
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from dlcourse.course import Course
from dlcourse.grading.inputs import discover
from dlcourse.grading.judge_client import Judge
from dlcourse.grading.pipeline import grade_submission
from dlcourse.grading.submission import SubmissionProblem, read_submission, stage
from helpers.files import put, zipped
from helpers.paths import ROOT

COURSE = Course.find(ROOT)
DENSE = COURSE.lesson("dense-mnist")
NB = (COURSE.solution_dir(DENSE.id) / f"{DENSE.id}-solution.ipynb").read_bytes()
PT = COURSE.reference_weights(DENSE).read_bytes()
LESSON_FILES = (DENSE.notebook, DENSE.weights)


def notebook(who: str) -> bytes:
    """The reference notebook, made this student's own (one more space at its end)."""
    return NB + b" " * (1 + sum(map(ord, who)) % 50)


def tarred(path: Path, files: dict[str, bytes], links: dict[str, tuple[bytes, str]] = {}) -> Path:
    """A tar.gz of ``files``, plus ``links``: name -> (tarfile.SYMTYPE or LNKTYPE, target)."""
    with tarfile.open(path, "w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        for name, (kind, target) in links.items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = kind, target
            archive.addfile(info)
    return path


def rows(target: Path) -> dict[str, object]:
    found = discover(target, lesson_files=LESSON_FILES)
    return {entry.label: entry for entry in found.entries}


# ---------------------------------------------------------------- 1. a backup subfolder is the student's own copy

ALICE = {DENSE.notebook: notebook("alice"), DENSE.weights: PT}


@pytest.mark.parametrize("backup, copy", [("backup", ALICE), ("backup", {DENSE.notebook: notebook("older"),
                                                                        DENSE.weights: PT + b"older"}),
                                          ("alice - Copy", {DENSE.notebook: notebook("older"), DENSE.weights: PT[:-1]}),
                                          ("run2", ALICE)])
@pytest.mark.parametrize("given", ["the folder", "in a class folder", "zipped", "zipped in a class folder"])
def test_a_students_folder_with_a_backup_subfolder_is_one_row_the_top_files_graded(tmp_path, given, backup, copy):
    files = {**ALICE, **{f"{backup}/{name}": data for name, data in copy.items()}}
    bob = {f"bob/{name}": data for name, data in {DENSE.notebook: notebook("bob"), DENSE.weights: PT}.items()}
    if given == "the folder":
        target = put(tmp_path / "alice", files)
    elif given == "in a class folder":
        target = put(tmp_path / "class", {**{f"alice/{k}": v for k, v in files.items()}, **bob})
    elif given == "zipped":
        target = put(tmp_path, {"alice.zip": zipped(files)}) / "alice.zip"
    else:
        target = put(tmp_path / "class", {"alice.zip": zipped(files), **bob})
    found = rows(target)
    alice = "alice.zip" if "zipped" in given else "alice"
    assert sorted(found) == sorted([alice] + (["bob"] if "class" in given else [])), sorted(found)
    assert found[alice].students[0].key == "alice"
    sub = read_submission(found[alice], DENSE)
    assert sub.files[DENSE.weights] == PT and sub.notebook == read_submission(put(tmp_path / "top", ALICE), DENSE).notebook
    assert any(f"{backup}/{DENSE.notebook}" in note for note in sub.notes), sub.notes


def test_a_classmates_folder_beside_loose_lesson_files_is_still_a_row(tmp_path):
    """Names alone do not make a folder a backup: a classmate's folder of the same file names
    (their own notebook, not called backup) keeps its row."""
    root = put(tmp_path / "class", {**ALICE, f"bob/{DENSE.notebook}": notebook("bob"), f"bob/{DENSE.weights}": PT})
    assert sorted(rows(root)) == ["bob", DENSE.notebook]


# ---------------------------------------------------------------- 2. a class whose students forgot their weights

@pytest.mark.parametrize("loose", ["carl.ipynb", "carl_dense-mnist.ipynb", DENSE.notebook])
def test_student_folders_without_weights_beside_a_loose_notebook_are_each_a_row(tmp_path, loose):
    root = put(tmp_path / "class", {f"{who}/{DENSE.notebook}": notebook(who) for who in ("alice", "bob", "dana")}
               | {loose: notebook("carl")})
    found = rows(root)
    assert sorted(found) == sorted(["alice", "bob", "dana", loose])
    for label, entry in found.items():
        sub = read_submission(entry, DENSE)
        assert DENSE.weights not in sub.files, "each is graded as missing its weights"
        if label != loose:
            assert entry.students[0].key == label and sub.notebook == read_submission(
                put(tmp_path / label, {DENSE.notebook: notebook(label)}), DENSE).notebook


# ---------------------------------------------------------------- 3. a student's data archive zipped along

DATA = zipped({f"images/{i}.png": bytes([i]) * 64 for i in range(5)})


@pytest.mark.parametrize("data", ["data.zip", "mnist_png.tar.gz"])
@pytest.mark.parametrize("given", ["zip", "folder", "zip in a class folder"])
def test_a_students_data_archive_is_their_data_not_a_class(tmp_path, given, data):
    payload = DATA if data.endswith(".zip") else tarred(tmp_path / data, {"images/0.png": b"\0"}).read_bytes()
    files = {**ALICE, data: payload}
    if given == "zip":
        target = put(tmp_path / "in", {"alice.zip": zipped(files)}) / "alice.zip"
    elif given == "folder":
        target = put(tmp_path / "alice", files)
    else:
        target = put(tmp_path / "class", {"alice.zip": zipped(files), "bob.zip": zipped({DENSE.notebook: notebook("bob"),
                                                                                         DENSE.weights: PT})})
    found = rows(target)
    label = "alice" if given == "folder" else "alice.zip"
    assert sorted(found) == sorted([label] + (["bob.zip"] if "class" in given else []))
    sub = read_submission(found[label], DENSE)
    assert sub.files == {DENSE.weights: PT, data: payload}, "the data archive is staged as it is, not unpacked"


def test_an_archive_holding_a_notebook_beside_one_is_still_a_classmates(tmp_path):
    """The other side of the rule: a class zip of one loose submission and a student's zip keeps both."""
    target = put(tmp_path, {"class.zip": zipped({"carl_dense-mnist.ipynb": notebook("carl"), "carl_dense_mnist.pt": PT,
                                                 "bob.zip": zipped({DENSE.notebook: notebook("bob"),
                                                                    DENSE.weights: PT})})}) / "class.zip"
    assert sorted(rows(target)) == ["bob.zip", "carl_dense-mnist.ipynb"]


# ---------------------------------------------------------------- 4. Blackboard: interleaved students' files

STAMP, LATER = "2024-02-12-10-03-15", "2024-02-12-11-00-00"
RECEIPT = "Name: {name} ({user})\nAssignment: HW1\nFiles:\n\tOriginal filename: {original}\n\tFilename: {stored}\n"


@pytest.mark.parametrize("weights", ["dense_mnist.pt", "dense_mnist (1).pt", "model.pt", "dense_mnist_final.pth"])
@pytest.mark.parametrize("receipts", [True, False])
@pytest.mark.parametrize("zipped_download", [False, True])
def test_blackboard_pairs_each_students_weights_with_their_notebook(tmp_path, weights, receipts, zipped_download):
    """``ann`` and ``ann_lee`` (one's name starts the other's) and ``bob`` interleave when sorted;
    each student's weights (their own bytes, named otherwise than the notebook) stay theirs."""
    files = {}
    for user, stamp in (("ann", STAMP), ("ann_lee", LATER), ("bob", STAMP)):
        files[f"HW1_{user}_attempt_{stamp}_{DENSE.notebook}"] = notebook(user)
        files[f"HW1_{user}_attempt_{stamp}_{weights}"] = PT + user.encode()
        if receipts:
            stored = f"HW1_{user}_attempt_{stamp}_{DENSE.notebook}"
            files[f"HW1_{user}_attempt_{stamp}.txt"] = RECEIPT.format(name=user.title(), user=user,
                                                                       original=DENSE.notebook, stored=stored).encode()
    target = put(tmp_path / "in", {"gradebook.zip": zipped(files)}) / "gradebook.zip" if zipped_download \
        else put(tmp_path / "in", files)
    found = discover(target, lesson_files=LESSON_FILES)
    graded = {entry.students[0].key: read_submission(entry, DENSE) for entry in found.entries}
    assert sorted(graded) == ["ann", "ann_lee", "bob"]
    for user, sub in graded.items():
        assert sub.files[DENSE.weights] == PT + user.encode(), f"{user} was graded with another student's weights"
        assert sub.notebook == read_submission(put(tmp_path / user, {DENSE.notebook: notebook(user)}), DENSE).notebook
    assert len(found.set_aside) == (3 if receipts else 0)


def test_weights_added_as_a_later_blackboard_attempt_are_graded_with_the_notebook(tmp_path):
    """A student who forgot the weights adds them as a new attempt: the latest attempt (the
    weights) is graded with the notebook of the attempt before it, with a note; a classmate's
    attempts never lend theirs."""
    files = {f"HW1_ann_attempt_{STAMP}_{DENSE.notebook}": notebook("ann"),
             f"HW1_ann_attempt_{LATER}_{DENSE.weights}": PT + b"ann",
             f"HW1_ann_lee_attempt_{STAMP}_{DENSE.weights}": PT + b"lee",
             f"HW1_ann_lee_attempt_{LATER}_{DENSE.notebook}": notebook("lee"),
             f"HW1_bob_attempt_{LATER}_{DENSE.notebook}": notebook("bob")}
    found = discover(put(tmp_path / "in", files), lesson_files=LESSON_FILES)
    rows = {entry.students[0].key: entry for entry in found.entries}
    assert sorted(rows) == ["ann", "ann_lee", "bob"]
    ann = read_submission(rows["ann"], DENSE)
    assert ann.files[DENSE.weights] == PT + b"ann" and rows["ann"].submitted_at == "2024-02-12T11:00:00"
    assert any(f"the notebook ({DENSE.notebook}) taken from the attempt of {STAMP}" in n for n in ann.notes), ann.notes
    assert read_submission(rows["ann_lee"], DENSE).files[DENSE.weights] == PT + b"lee"
    assert rows["ann"].earlier == [] and rows["ann_lee"].earlier == []
    assert DENSE.weights not in read_submission(rows["bob"], DENSE).files


def test_loose_uploads_pair_with_the_student_whose_name_is_longest(tmp_path):
    """The plain layout's rule for loose weights: ``ann_lee_model.pt`` is ann_lee's, not ann's."""
    root = put(tmp_path / "class", {"ann_dense-mnist.ipynb": notebook("ann"), "ann_lee_dense-mnist.ipynb": notebook("lee"),
                                    "ann_dense_mnist (1).pt": PT + b"ann", "ann_lee_model.pt": PT + b"lee"})
    found = rows(root)
    assert sorted(found) == ["ann_dense-mnist.ipynb", "ann_lee_dense-mnist.ipynb"]
    assert read_submission(found["ann_dense-mnist.ipynb"], DENSE).files[DENSE.weights] == PT + b"ann"
    assert read_submission(found["ann_lee_dense-mnist.ipynb"], DENSE).files[DENSE.weights] == PT + b"lee"


# ---------------------------------------------------------------- 5. PowerShell's Compress-Archive: backslashes

POWERSHELL = {"hw\\": b"", f"hw\\{DENSE.notebook}": NB, f"hw\\{DENSE.weights}": PT, "hw\\src\\__init__.py": b"",
              "hw\\src\\models.py": b"X = 1\n"}


def test_a_powershell_zip_keeps_its_folders(tmp_path):
    sub = read_submission(put(tmp_path, {"alice.zip": zipped(POWERSHELL)}) / "alice.zip", DENSE)
    assert sub.files == {DENSE.weights: PT, "src/__init__.py": b"", "src/models.py": b"X = 1\n"}
    stage(sub, DENSE, tmp_path / "run")
    assert (tmp_path / "run" / "src" / "models.py").read_bytes() == b"X = 1\n"


def test_a_powershell_zip_unpacked_as_is_reads_the_same(tmp_path):
    """Unpacked by a tool that keeps the names (Python's zipfile on Linux: one file named
    ``hw\\src\\models.py``), as Gradescope's submission folder or an instructor's folder."""
    folder = tmp_path / "alice"
    folder.mkdir()
    for name, data in POWERSHELL.items():
        if not name.endswith("\\"):
            (folder / name).write_bytes(data)
    [entry] = discover(folder, lesson_files=LESSON_FILES).entries
    assert entry.students[0].key == "alice"
    sub = read_submission(entry, DENSE)
    assert sub.files == {DENSE.weights: PT, "src/__init__.py": b"", "src/models.py": b"X = 1\n"}


def test_a_powershell_class_download_is_a_row_per_student(tmp_path):
    download = zipped({f"Lab 2\\{who}\\{name}": data for who in ("alice", "bob")
                       for name, data in {DENSE.notebook: notebook(who), DENSE.weights: PT}.items()})
    found = rows(put(tmp_path, {"Lab 2.zip": download}) / "Lab 2.zip")
    assert sorted(found) == ["alice", "bob"]
    assert all(read_submission(e, DENSE).files == {DENSE.weights: PT} for e in found.values())


def test_traversal_through_backslashes_is_refused(tmp_path):
    evil = {DENSE.notebook: NB, DENSE.weights: PT, "..\\..\\escaped.py": b"x"}
    with pytest.raises(SubmissionProblem, match=r"unsafe path: \.\.\\\.\.\\escaped\.py"):
        read_submission(put(tmp_path, {"e.zip": zipped(evil)}) / "e.zip", DENSE)
    class_zip = zipped({**{f"{who}\\{n}": d for who in ("a", "b") for n, d in ALICE.items()}, "..\\..\\escaped.py": b"x"})
    [entry] = discover(put(tmp_path, {"c.zip": class_zip}) / "c.zip").entries
    with pytest.raises(SubmissionProblem, match="unsafe path"):
        read_submission(entry, DENSE)
    assert not (tmp_path.parent / "escaped.py").exists()
    unpacked = put(tmp_path / "u", evil)  # one file named "..\..\escaped.py": never read, never staged
    sub = read_submission(unpacked, DENSE)
    assert not any("escaped" in name for name in [*sub.files, *sub.tree])
    stage(sub, DENSE, tmp_path / "u-run" / "submission")
    assert [p.name for p in (tmp_path / "u-run").iterdir()] == ["submission"]


# ---------------------------------------------------------------- 6. attacks: links, classmates, swapped weights

def test_links_in_a_students_tar_are_left_out_with_a_reason(tmp_path):
    path = tarred(tmp_path / "s.tar.gz", {f"hw/{DENSE.notebook}": NB},
                  {f"hw/{DENSE.weights}": (tarfile.LNKTYPE, "/etc/passwd"), "hw/etc": (tarfile.SYMTYPE, "/etc"),
                   "hw/x.pt": (tarfile.SYMTYPE, f"../../{DENSE.weights}")})
    sub = read_submission(path, DENSE)
    assert sub.files == {}, "no link is followed: the weights are missing, not /etc/passwd"
    assert any("links and special files inside it were not followed" in note and "hw/dense_mnist.pt" in note
               for note in sub.notes)


def _zip_with_a_link(files: dict[str, bytes], link: str, target: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
        info = zipfile.ZipInfo(link)
        info.external_attr = (stat.S_IFLNK | 0o777) << 16   # as `zip --symlinks` stores one
        archive.writestr(info, target)
    return buffer.getvalue()


@pytest.mark.parametrize("kind", ["tar", "zip"])
def test_links_in_a_class_download_are_set_aside_with_a_reason_never_made(tmp_path, kind):
    files = {f"c/{who}/{n}": d for who in ("alice", "bob") for n, d in ALICE.items()}
    if kind == "tar":
        download = tarred(tmp_path / "class.tar.gz", files, {"c/bob/passwd": (tarfile.SYMTYPE, "/etc/passwd"),
                                                             "c/alice/hard": (tarfile.LNKTYPE, "/etc/passwd")})
        links = {"c/bob/passwd", "c/alice/hard"}
    else:
        download = put(tmp_path, {"class.zip": _zip_with_a_link(files, "c/bob/passwd", "/etc/passwd")}) / "class.zip"
        links = {"c/bob/passwd"}
    found = discover(download, lesson_files=LESSON_FILES)
    assert sorted(e.label for e in found.entries) == ["alice", "bob"]
    assert {(a.name, a.reason) for a in found.set_aside} == {
        (f"{download.name}: {link}", "a link inside the archive: not followed") for link in links}
    for entry in found.entries:
        assert not any(p.is_symlink() for p in entry.path.rglob("*"))
        assert read_submission(entry, DENSE).files == {DENSE.weights: PT}


@dataclass
class _Refusal:
    refused: str = "the test's judge looked and stopped"


class _LookingJudge:
    """A judge that runs nothing: it looks at the job the grader hands it, as student code then
    could (the staged folder), then swaps the weights everywhere a student could reach."""

    run_folder = Judge.run_folder   # the run folders a real judge client hands out
    next_run = None                 # (it pre-starts no kernel)

    def __init__(self, swap: list[Path]) -> None:
        self.swap, self.seen = swap, {}

    def start(self) -> None:
        pass

    def run(self, job, stop) -> _Refusal:
        run_dir = Path(job.run_dir)
        self.seen["mode"] = stat.S_IMODE(run_dir.stat().st_mode)
        self.seen["files"] = sorted(p.relative_to(run_dir).as_posix() for p in run_dir.rglob("*") if p.is_file())
        for path in [*self.swap, run_dir / "submission" / DENSE.weights]:
            path.write_bytes(b"swapped")
        self.seen["weights"] = Path(job.weights[DENSE.weights]).read_bytes()
        return _Refusal()

    def take_evidence(self) -> list[str]:
        return []


def test_each_student_is_staged_alone_and_graded_on_the_weights_captured(tmp_path):
    """Two students of one class folder: each run's folder holds that student's files only and
    is closed to every other user (a run of the batch under another user id); the weights the
    judge measures are the bytes read before the run, whatever replaces the student's file or
    the staged copy afterwards."""
    root = put(tmp_path / "class", {f"{who}/{n}": d for who in ("alice", "bob")
                                    for n, d in {DENSE.notebook: notebook(who), DENSE.weights: PT + who.encode()}.items()})
    for entry in discover(root, lesson_files=LESSON_FILES).entries:
        who = entry.label
        judge = _LookingJudge([root / who / DENSE.weights])
        result = grade_submission(COURSE.autograder_zip(DENSE.id), entry, judge=judge)
        assert result.status == "not-graded"
        assert judge.seen["mode"] == 0o700, oct(judge.seen["mode"])
        assert f"submission/{DENSE.weights}" in judge.seen["files"]
        assert not any("alice" in f or "bob" in f for f in judge.seen["files"]), judge.seen["files"]
        assert judge.seen["weights"] == PT + who.encode(), "the judge measures the bytes captured, not the swap"


def test_weights_kept_only_in_the_backup_are_the_students(tmp_path):
    folder = put(tmp_path / "alice", {DENSE.notebook: notebook("alice"), f"backup/{DENSE.notebook}": notebook("old"),
                                      f"backup/{DENSE.weights}": PT})
    [entry] = discover(folder, lesson_files=LESSON_FILES).entries
    sub = read_submission(entry, DENSE)
    assert entry.label == "alice" and sub.files[DENSE.weights] == PT
    assert any(f"backup/{DENSE.weights} was graded as {DENSE.weights}" in note for note in sub.notes), sub.notes
