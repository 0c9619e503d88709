"""Refusals and trust (issue 24): student code never runs as the grader's own user unless an
option accepts it, and a resumed batch reuses only results the grader itself signed."""

from __future__ import annotations

import json
import os
import threading

import pytest

from dlcourse.grading.sandbox import (CONFINEMENTS, RUN_UID_BASE, Limits, Permissions, SandboxUnavailable, Sandboxed, View,
                                      choose, plan_for)
from dlcourse.grading.trust import KEY_FILE, results_key, seal, unseal


@pytest.fixture
def not_root(monkeypatch):
    """The grader started as an ordinary user (uid 1000)."""
    monkeypatch.setattr(os, "geteuid", lambda: 1000)


def test_an_ordinary_user_without_bubblewrap_is_refused_with_the_fix(not_root, tmp_path):
    with pytest.raises(SandboxUnavailable) as refused:
        plan_for(Limits(timeout=5, confinement="permissions"), View(writable=(tmp_path,)))
    message = str(refused.value)
    assert "your own user (uid 1000)" in message and "\n" not in message
    assert "apt-get install bubblewrap" in message and "--allow-root" in message


def test_the_refusal_comes_before_anything_runs(not_root, tmp_path):
    with pytest.raises(SandboxUnavailable):
        Sandboxed(["touch", str(tmp_path / "ran")], cwd=tmp_path, env={}, view=View(writable=(tmp_path,)),
                  limits=Limits(timeout=5, confinement="permissions"), stop=threading.Event())
    assert not (tmp_path / "ran").exists()


def test_accepting_it_is_reported_and_marks_the_run_as_reaching_the_grader(not_root):
    plan = plan_for(Limits(timeout=5, confinement="permissions", allow_root=True))
    assert plan.reaches_grader and plan.uid is None
    assert any("grader's user" in promise for promise in plan.not_enforced)


def test_a_confinement_is_chosen_by_name_and_an_unknown_name_is_refused():
    assert set(CONFINEMENTS) == {"bubblewrap", "permissions"}
    assert isinstance(choose("permissions", Limits(timeout=1)), Permissions)
    with pytest.raises(SandboxUnavailable, match="no sandbox called 'nsjail'"):
        choose("nsjail", Limits(timeout=1))


def test_bubblewrap_as_root_runs_each_run_as_a_user_of_its_own_out_of_the_graders_reach():
    if os.geteuid() != 0 or "bubblewrap" not in {type(choose("auto", Limits(timeout=1))).name}:
        pytest.skip("needs root and bubblewrap, as CI has")
    plans = [plan_for(Limits(timeout=5)) for _ in range(2)]
    assert plans[0].uid != plans[1].uid and all(p.uid >= RUN_UID_BASE for p in plans)
    assert not any(p.reaches_grader for p in plans)
    assert all("a user of its own" in p.enforced for p in plans)


def test_without_bubblewrap_each_run_has_a_user_of_its_own(monkeypatch):
    """Two runs of a batch confined by permissions cannot signal, trace or read each other."""
    monkeypatch.setattr("dlcourse.grading.sandbox.confinement.can_drop_privileges", lambda: True)
    monkeypatch.setattr("dlcourse.grading.sandbox.confinement.readable_by_everyone", lambda path: True)
    plans = [plan_for(Limits(timeout=5, confinement="permissions")) for _ in range(2)]
    assert plans[0].uid != plans[1].uid and all(p.uid > 2**20 for p in plans)
    assert not any(p.reaches_grader for p in plans)


def test_a_run_uid_is_one_the_graders_user_namespace_maps():
    """Rootless and userns-remapped containers map 65,536 ids: an id outside the map can own no
    file, and every submission was a grader error (attack27b)."""
    from dlcourse.grading.sandbox.confinement import NARROW_RUN_UIDS, run_uid

    assert run_uid("         0          0 4294967295\n") >= RUN_UID_BASE
    narrow = {run_uid("0 100000 65536\n") for _ in range(20)}
    assert all(uid in NARROW_RUN_UIDS for uid in narrow) and len(narrow) > 1
    with pytest.raises(SandboxUnavailable, match="maps only"):
        run_uid("0 1000 1\n")


# ---------------------------------------------------------------- signed results


def test_a_record_is_trusted_only_with_the_graders_signature(tmp_path):
    key = results_key(tmp_path, sandbox_reaches_grader=False)
    assert (tmp_path / KEY_FILE).stat().st_mode & 0o777 == 0o600
    assert results_key(tmp_path, sandbox_reaches_grader=False) == key
    record = {"content_hash": "a", "autograder_hash": "b", "result": {"score": 4}}
    assert unseal(seal(record, key), key) == record
    forged = json.loads(seal(record, key))
    forged["result"]["score"] = 18
    assert unseal(json.dumps(forged), key) is None
    assert unseal(json.dumps(record), key) is None                       # unsigned
    assert unseal(seal(record, os.urandom(32)), key) is None             # another key
    assert unseal("[" * 100_000, key) is None


def test_a_planted_key_is_replaced(tmp_path):
    (tmp_path / KEY_FILE).write_text("00" * 32)
    os.chmod(tmp_path / KEY_FILE, 0o644)                                  # readable by others: not ours
    assert results_key(tmp_path, sandbox_reaches_grader=False) != bytes(32)


def test_a_batch_whose_sandbox_reaches_the_grader_retires_the_key_and_signs_nothing(tmp_path):
    results_key(tmp_path, sandbox_reaches_grader=False)
    assert results_key(tmp_path, sandbox_reaches_grader=True) is None
    assert not (tmp_path / KEY_FILE).exists()
    assert unseal(seal({"a": 1}, None), None) is None


def test_dlcourse_grade_refuses_in_one_line_before_grading(not_root, tmp_path, capsys):
    from dlcourse.cli import main
    from dlcourse.course import Course
    from helpers.paths import ROOT, on_sample_data

    notebook = tmp_path / "alice.ipynb"
    notebook.write_text('{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}')
    with on_sample_data():  # data that is there, wherever the suite runs: the refusal is the sandbox's
        code = main(["grade", str(notebook), "--autograder", str(Course(ROOT).autograder_zip("dense-mnist")),
                     "--out", str(tmp_path / "out"), "--sandbox", "permissions"])
    error = capsys.readouterr().err.strip()
    assert code == 2 and len(error.splitlines()) == 1
    assert error.startswith("dlcourse: not grading: student code would run as your own user")
    assert not (tmp_path / "out").exists()


def test_a_forged_or_unsigned_result_in_the_output_folder_is_not_reused(tmp_path):
    """What the batch saves it signs; a record written by anyone else (the sandbox's user, if it
    ever reached OUT/results/) is regraded, not believed."""
    from dlcourse.grading.collect import RESULTS, prepare, save_result, saved_result
    from dlcourse.grading.inputs import Entry, Student
    from dlcourse.grading.result import GradeResult

    (tmp_path / "in").mkdir()
    upload = tmp_path / "in" / "ada.ipynb"
    upload.write_text("{}")
    entry = Entry(upload, "ada.ipynb", [Student("ada")])
    out = tmp_path / "out"
    key = prepare(out, sandbox_reaches_grader=False)
    honest = GradeResult(submission="ada.ipynb", lesson="dense-mnist", status="error", reason="", questions={})
    save_result(out, entry, honest, "grader", key)
    assert saved_result(out, entry, "grader", key) == honest

    path = out / RESULTS / f"{entry.key}.json"
    record = json.loads(path.read_text())
    record["result"]["status"] = "ok"                       # a forged improvement, signature kept
    path.write_text(json.dumps(record))
    assert saved_result(out, entry, "grader", key) is None
    record.pop("signature")                                  # or no signature at all
    path.write_text(json.dumps(record))
    assert saved_result(out, entry, "grader", key) is None
    assert prepare(out, sandbox_reaches_grader=True) is None  # an unconfined batch believes nothing saved
