"""The design task's network as data (dlcourse/design.py) and its measurement (verify_design):
an ordinary nn.Sequential becomes a description the grader builds without student code; a
hostile description is refused with one line, from arithmetic, before anything is allocated;
and the clean room scores the target and the parameter budget from the files alone."""

from __future__ import annotations

import json
import tracemalloc
from dataclasses import asdict
from pathlib import Path

import pytest
import torch
import yaml
from torch import nn

from dlcourse.data import SAMPLE_DIR
from dlcourse.design import (DESCRIPTION_BYTES, MAX_PARAMETERS, DesignProblem, describe, footprint, read_description,
                             save_design)
from dlcourse.grading.cleanroom import DesignVerdict, verify_design
from dlcourse.grading.judge import JudgeReport
from dlcourse.grading.result import QuestionResult
from dlcourse.grading.sandbox import Outcome
from dlcourse.grading.scoring import combine
from dlcourse.lesson import Lesson
from dlcourse.lesson_config import LessonConfigError

IMAGES = (3, 32, 32)


def fast_network() -> nn.Sequential:
    """The regularization lesson's challenge network (benchmarks/fast_cifar.py), nested as written there."""
    def block(i: int, o: int) -> nn.Sequential:
        return nn.Sequential(nn.Conv2d(i, o, 3, padding=1, bias=False), nn.BatchNorm2d(o), nn.ReLU(), nn.MaxPool2d(2))

    return nn.Sequential(block(3, 24), block(24, 48), block(48, 96), nn.Conv2d(96, 96, 3, padding=1, bias=False),
                         nn.BatchNorm2d(96), nn.ReLU(), nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Linear(96, 10))


def read(description: dict | bytes):
    data = description if isinstance(description, bytes) else json.dumps(description).encode()
    return read_description(data, IMAGES, 10, "design.json")


def refused(description: dict | bytes) -> str:
    with pytest.raises(DesignProblem) as problem:
        read(description)
    message = str(problem.value)
    assert "\n" not in message and len(message) < 400, message
    return message


@pytest.mark.parametrize("network", [
    fast_network(),
    nn.Sequential(nn.Conv2d(3, 8, 5, stride=2, padding=2), nn.LeakyReLU(0.1), nn.AvgPool2d(3, stride=2, padding=1),
                  nn.Dropout2d(0.1), nn.Conv2d(8, 16, 1), nn.GELU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(),
                  nn.BatchNorm1d(64, eps=1e-3), nn.SiLU(), nn.Dropout(0.3), nn.Linear(64, 32, bias=False), nn.Tanh(),
                  nn.Linear(32, 10)),
    nn.Sequential(nn.Flatten(), nn.Linear(3072, 10)),
])
def test_a_described_network_is_rebuilt_with_the_same_shapes_parameters_and_outputs(network):
    spec, cost = read(describe(network, IMAGES))
    built = spec.build()
    assert cost.parameters == sum(p.numel() for p in network.parameters()) == sum(p.numel() for p in built.parameters())
    built.load_state_dict(nn.Sequential(*[m for m in network.modules() if not list(m.children())]).state_dict())
    x = torch.randn(4, *IMAGES)
    network.eval(), built.eval()
    assert torch.allclose(network(x), built(x), atol=1e-5)


def test_the_reference_network_has_the_figures_the_lesson_states():
    cost = footprint(read(describe(fast_network(), IMAGES))[0])
    assert cost.parameters == 136_930 and cost.output == (10,)


@pytest.mark.parametrize("network, named", [
    (nn.Sequential(nn.Conv2d(3, 8, 3), nn.Identity()), "layer 2 is Identity"),
    (nn.Sequential(nn.Flatten(), type("Residual", (nn.Module,), {"forward": lambda self, x: x})()),
     "layer 2 is Residual, a module of your own"),
    (nn.Sequential(nn.Conv2d(3, 6, 3, groups=3)), "layer 1 (Conv2d) sets groups"),
    (nn.Sequential(nn.Conv2d(3, 6, (3, 5))), "kernel_size (3, 5) is not square"),
    (nn.ModuleList([nn.Flatten()]), "not an nn.Sequential"),
])
def test_what_the_grammar_cannot_write_is_refused_naming_the_layer(network, named):
    with pytest.raises(DesignProblem, match="residual|square|sets|nn.Sequential") as problem:
        describe(network, IMAGES)
    assert named in str(problem.value)


@pytest.mark.parametrize("description, reason", [
    (b"x" * (DESCRIPTION_BYTES + 1), "a description is at most 64 KB"),
    (b"[" * 100_000 + b"]" * 100_000, "a description is at most 64 KB"),
    (b"[" * 30_000 + b"]" * 30_000, "nested too deeply"),
    (b"\xff\xfe", "not JSON"),
    ({"input": [3, 32, 32], "layers": [{"Linear": 10**12}]}, "out_features must be int from 1 to 4096"),
    ({"input": [3, 32, 32], "layers": ["Flatten"] + [{"Linear": 4096}] * 3 + [{"Linear": 10}]},
     f"at most {MAX_PARAMETERS:,}"),
    ({"input": [3, 32, 32], "layers": [{"Conv2d": {"out_channels": 1024, "kernel_size": 1}}]}, "values per image"),
    ({"input": [3, 32, 32], "layers": ["Flatten", {"Linear": 10}] * 40}, "a list of 1 to 64 layers"),
    ({"input": [3, 32, 32], "layers": [{"Conv2d": {"out_channels": True, "kernel_size": 3}}]}, "out_channels must be int"),
    ({"input": [3, 32, 32], "layers": [{"Conv2d": {"out_channels": "8", "kernel_size": 3}}]}, "out_channels must be int"),
    ({"input": [3, 32, 32], "layers": [{"Conv2d": {"out_channels": 8.0, "kernel_size": 3}}]}, "out_channels must be int"),
    ({"input": [3, 32, 32], "layers": [{"Dropout": "0.5"}]}, "p must be a number"),
    ({"input": [3, 32, 32], "layers": [{"Conv2d": {"out_channels": 8}}]}, "needs kernel_size"),
    ({"input": [3, 32, 32], "layers": [{"Upsample": {"scale_factor": 1000}}]}, "'Upsample', which the design grammar"),
    ({"input": [3, 32, 32], "layers": [{"Conv2d": {"out_channels": 8, "kernel_size": 3, "groups": 8}}]},
     "argument 'groups'"),
    ({"input": [3, 32, 32], "layers": [{"Linear": 10}]}, "layer 1 (Linear) needs one value per feature"),
    ({"input": [3, 32, 32], "layers": ["Flatten", {"Linear": 7}]}, "not one value per class (N, 10)"),
    ({"input": [3, 2**40, 32], "layers": ["Flatten"]}, "not this lesson's images"),
    ({"input": [3, 32, 32], "layers": [{"MaxPool2d": 8}, {"MaxPool2d": 8}]}, "does not fit an input of 4 pixels"),
    ({"input": [3, 32, 32], "layers": [{"Linear": {"__class__": 1}}]}, "argument '__class__'"),
    ([1, 2, 3], "not a network description"),
])
def test_a_hostile_description_gets_one_line_before_anything_is_built(description, reason):
    tracemalloc.start()
    try:
        message = refused(description)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert reason in message, message
    assert peak < 50 * 2**20, f"{peak / 2**20:.0f} MB to refuse it"


# -- the clean room, on the bundled sample of CIFAR-10 -----------------------------------------

DESIGN = {"description": "design.json", "weights": "design.pt", "accuracy_threshold": 0.7,
          "max_parameters": 200_000, "training_minutes": 5}


def design_lesson(folder: Path, **design) -> Lesson:
    folder.mkdir(parents=True, exist_ok=True)
    settings = {"id": "own-network", "title": "Your own network", "dataset": "cifar10",
                "architecture": {"input": list(IMAGES), "layers": ["Flatten", {"Linear": 10}]},
                "design": {**DESIGN, **design}, "verified_questions": {"design": "own_network"}}
    (folder / "lesson.yaml").write_text(yaml.safe_dump(settings))
    return Lesson.load(folder)


def test_the_clean_room_measures_a_saved_design_and_counts_its_parameters(tmp_path, capsys):
    lesson = design_lesson(tmp_path)
    save_design(fast_network(), lesson, tmp_path)
    assert "136,930 parameters, within the budget of 200,000" in capsys.readouterr().out
    verdict = verify_design(lesson, tmp_path, SAMPLE_DIR)
    assert verdict.problem is None and verdict.parameters == 136_930 and verdict.within_budget
    assert verdict.test_images == 500 and 0 <= verdict.accuracy < 0.7 and not verdict.meets_threshold


def test_weights_of_another_network_than_the_description_are_not_measured(tmp_path):
    lesson = design_lesson(tmp_path)
    save_design(fast_network(), lesson, tmp_path)
    torch.save(nn.Sequential(nn.Flatten(), nn.Linear(3072, 10)).state_dict(), tmp_path / "design.pt")
    verdict = verify_design(lesson, tmp_path, SAMPLE_DIR)
    assert verdict.accuracy is None and "design.pt does not hold the network design.json describes" in verdict.problem
    (tmp_path / "design.pt").unlink()
    assert verify_design(lesson, tmp_path, SAMPLE_DIR).problem == "design.pt was not submitted"


def test_a_huge_description_file_is_not_read_whole(tmp_path):
    lesson = design_lesson(tmp_path)
    save_design(fast_network(), lesson, tmp_path)
    with open(tmp_path / "design.json", "wb") as big:
        big.truncate(2**34)  # sparse: 16 GB that would not fit in memory
    verdict = verify_design(lesson, tmp_path, SAMPLE_DIR)
    assert verdict.accuracy is None and "design.json is 16,384 MB" in verdict.problem


def test_a_design_role_needs_a_design_section(tmp_path):
    (tmp_path / "lesson.yaml").write_text(yaml.safe_dump(
        {"id": "x", "title": "x", "dataset": "cifar10", "verified_questions": {"design": "own_network"}}))
    with pytest.raises(LessonConfigError, match="verified_questions.design needs design and architecture"):
        Lesson.load(tmp_path)


# -- scoring: half the points for the target, half for reaching it within the budget --------

def scored(tmp_path, **verdict) -> QuestionResult:
    lesson = design_lesson(tmp_path)
    found = {"max_parameters": 200_000, "threshold": 0.7, "test_images": 10_000, **verdict}
    report = JudgeReport(ready=True, design=asdict(DesignVerdict(**found)), outcome=Outcome(returncode=0, seconds=1.0))
    result = combine(Path("s.zip"), lesson, {"own_network": 4.0}, {}, report, [])
    return result.questions["own_network"]


def test_the_reference_figures_score_full_marks(tmp_path):
    question = scored(tmp_path, parameters=136_930, within_budget=True, accuracy=0.778, meets_threshold=True)
    assert question.score == 4 and question.measured_ok
    assert "77.80% of 10,000 test images (target 70%), 136,930 parameters (budget 200,000)" in question.verification


def test_a_network_over_the_budget_loses_the_budget_points_naming_it(tmp_path):
    question = scored(tmp_path, parameters=480_000, within_budget=False, accuracy=0.81, meets_threshold=True)
    assert question.score == 2
    assert [t.message for t in question.tests if not t.passed] == [
        "your own network has 480,000 parameters, over the budget of 200,000"]


def test_a_network_under_the_target_earns_nothing_not_even_the_budget(tmp_path):
    question = scored(tmp_path, parameters=20_000, within_budget=True, accuracy=0.55, meets_threshold=False)
    assert question.score == 0
    messages = " ".join(t.message for t in question.tests)
    assert "classifies 55.00% of the 10,000 test images correctly, under the design target of 70%" in messages
    assert "budget counts for a network that reaches the target" in messages


def test_a_design_not_measured_scores_zero_saying_why(tmp_path):
    question = scored(tmp_path, problem="layer 3 is 'Upsample', which the design grammar does not have")
    assert question.score == 0 and "not measured: layer 3 is 'Upsample'" in question.tests[0].message


# -- the export takes the design files when they are there, and warns when they are not -------

def test_export_takes_the_design_files_and_warns_without_them(tmp_path, capsys):
    from dlcourse.export import design_files

    lesson = design_lesson(tmp_path)
    assert design_files(lesson, tmp_path, sorted(p.name for p in tmp_path.iterdir())) == {}
    assert "design.json is not in" in capsys.readouterr().out
    save_design(fast_network(), lesson, tmp_path)
    (tmp_path / "design (1).pt").write_bytes((tmp_path / "design.pt").read_bytes())
    (tmp_path / "design.pt").unlink()
    files = design_files(lesson, tmp_path, sorted(p.name for p in tmp_path.iterdir()))
    assert set(files) == {"design.json", "design.pt"} and "design (1).pt was graded as design.pt" in capsys.readouterr().out
    (tmp_path / "design.json").write_text('{"input": [3, 32, 32], "layers": ["Upsample"]}')
    design_files(lesson, tmp_path, sorted(p.name for p in tmp_path.iterdir()))
    assert "Warning: layer 1 is 'Upsample'" in capsys.readouterr().out

