"""Spec-driven architecture checks and weights checks: each mistake named in the student's terms."""

import os
import re

import numpy as np
import pytest
import torch
from torch import nn

from dlcourse.checks import (architecture_problem, check_accuracy, check_architecture, for_input, output_problem,
                             parameter_layers_problem, read_weights, state_dict_problem, student_function,
                             whole_number)
from dlcourse.checks.messages import percent
from dlcourse.checks.mode import judged_in
from dlcourse.checks.weights import UnsafeWeights, WeightsProblem
from dlcourse.checks.accuracy import gap_images
from dlcourse.data import SAMPLE_DIR, ImageDataset, channel_stats
from dlcourse.lesson import Lesson
from dlcourse.spec import ArchSpec

DENSE = ArchSpec.from_config({"input": [1, 28, 28],
                              "layers": ["Flatten", {"Linear": 512}, "ReLU", {"Linear": 256}, "ReLU", {"Linear": 10}]})
CNN = ArchSpec.from_config({"input": [1, 28, 28], "layers": [
    {"Conv2d": {"out_channels": 32, "kernel_size": 3}}, "ReLU", {"MaxPool2d": 2},
    {"Conv2d": {"out_channels": 64, "kernel_size": 3}}, "ReLU", {"Dropout": 0.3},
    "Flatten", {"Linear": 10}]})


def dense(*layers):
    return nn.Sequential(*layers)


def right_dense():
    return dense(nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(), nn.Linear(256, 10))


def test_the_spec_builds_the_network_it_describes():
    model = DENSE.build()
    assert [type(m).__name__ for m in model] == ["Flatten", "Linear", "ReLU", "Linear", "ReLU", "Linear"]
    assert sum(p.numel() for p in model.parameters()) == 784 * 512 + 512 + 512 * 256 + 256 + 256 * 10 + 10
    assert architecture_problem(model, DENSE) is None


def test_a_network_written_as_its_own_class_passes_too():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.flat, self.a, self.b, self.c = nn.Flatten(), nn.Linear(784, 512), nn.Linear(512, 256), nn.Linear(256, 10)
            self.relu = nn.ReLU()

        def forward(self, x):
            return self.c(self.relu(self.b(self.relu(self.a(self.flat(x))))))

    assert architecture_problem(Net(), DENSE) is None


@pytest.mark.parametrize("model, expected", [
    (dense(nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 128), nn.ReLU(), nn.Linear(128, 10)),
     "layer 4 (Linear) should map 512 features to 256; yours maps 512 to 128."),
    (dense(nn.Flatten(), nn.Linear(784, 512), nn.Linear(512, 256), nn.ReLU(), nn.Linear(256, 10)),
     "layer 3 should be a ReLU activation after layer 2 (Linear 784->512); yours is Linear 512->256. Is an activation missing?"),
    (dense(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(), nn.Linear(256, 10)),
     "flatten them to (N, 784) with nn.Flatten() before the first Linear layer"),
    (dense(*right_dense(), nn.Softmax(dim=1)), "nn.CrossEntropyLoss expects raw scores"),
    (dense(nn.Flatten(), nn.Linear(784, 512), nn.Sigmoid(), nn.Linear(512, 256), nn.ReLU(), nn.Linear(256, 10)),
     "layer 3 should be ReLU; yours is Sigmoid."),
    (dense(nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 10)),
     "layer 4 (Linear) should map 512 features to 256; yours maps 512 to 10."),
    (None, "`model` should be a torch.nn.Module, not NoneType"),
])
def test_dense_mistakes_are_named(model, expected):
    assert expected in architecture_problem(model, DENSE)


@pytest.mark.parametrize("model, expected", [
    (dense(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3), nn.ReLU(),
           nn.Dropout(0.3), nn.Flatten(), nn.Linear(64 * 11 * 11, 10)),
     "layer 1 (Conv2d) should output 32 channels of 26x26; yours outputs 32 of 28x28. Check kernel_size and padding."),
    (dense(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3), nn.ReLU(),
           nn.Dropout(0.5), nn.Flatten(), nn.Linear(64 * 11 * 11, 10)),
     "layer 6 (Dropout) should use p=0.3; yours uses p=0.5."),
    (dense(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3), nn.ReLU(),
           nn.Dropout(0.3), nn.Flatten(), nn.Linear(64 * 12 * 12, 10)),
     "layer 8 (Linear) expects 9216 input features but receives 7744"),
])
def test_cnn_mistakes_are_named(model, expected):
    assert expected in architecture_problem(model, CNN)


def test_output_shape_check_names_a_wrong_class_count():
    model = dense(nn.Flatten(), nn.Linear(784, 5))
    assert "it should output (3, 10)" in output_problem(model, (1, 28, 28), classes=10)
    assert output_problem(right_dense(), (1, 28, 28), classes=10) is None


def test_parameter_layers_are_checked_even_when_the_network_cannot_run():
    unflattened = dense(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(), nn.Linear(256, 10))
    assert parameter_layers_problem(unflattened, DENSE) is None
    no_bias = dense(nn.Flatten(), nn.Linear(784, 512, bias=False), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(), nn.Linear(256, 10))
    assert "has no bias" in parameter_layers_problem(no_bias, DENSE)


def test_state_dict_matched_by_name_or_by_order():
    assert state_dict_problem(right_dense().state_dict(), DENSE) is None
    renamed = {f"layer{i}.{k}": v for i, (k, v) in enumerate(right_dense().state_dict().items())}
    assert state_dict_problem(renamed, DENSE) is None
    narrow = dense(nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 128), nn.ReLU(), nn.Linear(128, 10))
    assert "has shape (128, 512) where the lesson's network needs (256, 512)" in state_dict_problem(narrow.state_dict(), DENSE)


def test_weights_missing_whole_model_corrupt_and_crafted(tmp_path):
    with pytest.raises(WeightsProblem, match="dense.pt is missing"):
        read_weights(tmp_path / "dense.pt")
    torch.save(right_dense(), tmp_path / "whole.pt")
    with pytest.raises(WeightsProblem, match="holds a whole model object"):
        read_weights(tmp_path / "whole.pt")
    (tmp_path / "corrupt.pt").write_bytes(b"\x00garbage" * 100)
    with pytest.raises(WeightsProblem):
        read_weights(tmp_path / "corrupt.pt")

    sentinel = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {sentinel}",))

    torch.save({"weight": Payload()}, tmp_path / "crafted.pt")
    with pytest.raises(UnsafeWeights, match="asks to import posix.system"):
        read_weights(tmp_path / "crafted.pt")
    assert not sentinel.exists()  # refused, never executed


def test_accuracy_check_loads_weights_and_names_the_target(tmp_path, monkeypatch, course):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DLCOURSE_DATA", str(SAMPLE_DIR))
    lesson = course.lesson("dense-mnist")
    model = right_dense()
    with pytest.raises(AssertionError, match="dense_mnist.pt is missing"):
        check_accuracy(model, lambda x: x.float() / 255, lesson)
    torch.save(model.state_dict(), tmp_path / "dense_mnist.pt")
    with pytest.raises(AssertionError, match=rf"correctly; the target is {re.escape(percent(lesson.accuracy_threshold))}\."):
        check_accuracy(model, lambda x: x.float() / 255, lesson)  # untrained: about 10%
    with pytest.raises(AssertionError, match="define `prepare` first"):
        check_accuracy(model, None, lesson)
    # Graded, the judge's clean room measures: the check only loads (the judge says so, explicitly).
    with judged_in(tmp_path):
        assert check_accuracy(model, lambda x: x.float() / 255, lesson) is None
        (tmp_path / "dense_mnist.pt").unlink()
        with pytest.raises(AssertionError, match="dense_mnist.pt is missing"):
            check_accuracy(model, lambda x: x.float() / 255, lesson)


def test_accuracy_check_measures_as_the_grade_and_names_a_different_pipeline(tmp_path, monkeypatch, course):
    """Weights trained on unscaled pixels reach the target through the student's own
    `prepare`, but the grade feeds the lesson's pipeline (pixels / 255): the local check
    fails as the grade would, and says why."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DLCOURSE_DATA", str(SAMPLE_DIR))
    lesson = course.lesson("dense-mnist")
    state = torch.load(course.reference_weights(lesson), weights_only=True)
    first = next(name for name in state if name.endswith("weight"))
    state[first] = state[first] / 255  # the same network, for inputs of 0-255
    torch.save(state, tmp_path / lesson.weights)
    model = right_dense()
    with pytest.raises(AssertionError) as failure:
        check_accuracy(model, lambda x: x.float(), lesson)
    message = str(failure.value)
    assert "the target is" in message and "divided by 255" in message
    yours = re.search(r"Through your `prepare`, the same weights reach ([\d.]+)%", message)
    assert yours and float(yours.group(1)) >= 100 * lesson.accuracy_threshold, message

    torch.save(torch.load(course.reference_weights(lesson), weights_only=True), tmp_path / lesson.weights)
    assert check_accuracy(model, lambda x: x.float() / 255, lesson) >= lesson.accuracy_threshold


def test_a_function_that_returns_nothing_is_told_so():
    def flat_features(shape):
        print(shape[0] * shape[1] * shape[2])

    with pytest.raises(AssertionError, match="`flat_features` returned nothing"):
        student_function(flat_features, "flat_features")((1, 28, 28))
    with pytest.raises(AssertionError, match="define the function `flat_features` first"):
        student_function(None, "flat_features")
    assert student_function(lambda shape: 784, "flat_features")((1, 28, 28)) == 784


@pytest.mark.parametrize("value", [101_770, np.int64(101_770), np.array(101_770), torch.tensor(101_770)])
def test_whole_numbers_of_every_kind_are_whole_numbers(value):
    assert whole_number(value, "total_params") == 101_770 and type(whole_number(value, "total_params")) is int


@pytest.mark.parametrize("value, said", [(None, "nothing"), (101770.0, "the float"), ("101770", "a str"),
                                         (True, "a bool"), (torch.tensor([1, 2]), "a Tensor")])
def test_other_values_are_not_whole_numbers_and_say_what_they_are(value, said):
    with pytest.raises(AssertionError, match=f"set `total_params` to a whole number: it holds {said}"):
        whole_number(value, "total_params")


def test_lesson_settings_read_from_lesson_yaml(course):
    lesson = Lesson.load(course.assignments / "dense-mnist")
    assert lesson.weights == "dense_mnist.pt" and lesson.accuracy_threshold == 0.95
    assert lesson.verified_questions == {"architecture": "model", "accuracy": "accuracy"}
    assert lesson.architecture == DENSE


def test_thresholds_read_as_people_write_them():
    assert percent(0.97) == "97%" and percent(0.965) == "96.5%" and percent(0.7) == "70%"


def test_a_hidden_tests_failure_names_its_input_on_one_line():
    """The judge shows a failed test's last line: the input and the reason must both be on it."""
    with pytest.raises(AssertionError) as failed:
        with for_input("flat_features((3, 35, 12))"):
            raise AssertionError("flat_features should multiply\nchannels, height and width")
    assert str(failed.value) == "for flat_features((3, 35, 12)): flat_features should multiply channels, height and width"
    spec = ArchSpec.from_config({"input": [3, 8, 8], "layers": [{"Conv2d": {"out_channels": 5, "kernel_size": 3}}]})
    with pytest.raises(AssertionError, match=r"^for vgg_block\(3, 5\): \S.*5"):
        with for_input("vgg_block(3, 5)"):
            check_architecture(nn.Sequential(nn.Conv2d(3, 4, 3)), spec)
    with pytest.raises(AssertionError, match=r"^for f\(0\): ZeroDivisionError: division by zero$"):
        with for_input("f(0)"):
            1 / 0  # an error in the student's own code keeps its type
    with for_input("f(1)"):
        pass  # nothing fails, nothing is raised


def test_standardization_and_gaps_leave_the_validation_images_out(course, monkeypatch):
    """Issue 13: lesson 4's statistics come from the images the notebook trains on, and the
    train-test gap is never measured on an image held out for validation."""
    monkeypatch.setenv("DLCOURSE_DATA", str(SAMPLE_DIR))
    lesson = course.lesson("regularization")
    train = lesson.train_set()
    trained_on, validation = train.split(len(train) // 10)  # as the notebook splits it
    mean, std = channel_stats(trained_on)
    x = train.images[:50]
    expected = (x.float() / 255 - mean.view(1, -1, 1, 1)) / std.view(1, -1, 1, 1)
    assert torch.allclose(lesson.reference_prepare()(x), expected, atol=1e-6)
    (gap_train, gap_labels), _ = gap_images(lesson)
    held_out = {bytes(image.numpy()) for image in validation.images}
    assert not any(bytes(image.numpy()) in held_out for image in gap_train), "a validation image is measured as training"
    assert torch.equal(gap_train, trained_on.images[:len(gap_train)]) and torch.equal(gap_labels, trained_on.labels[:len(gap_train)])


def test_channel_stats_reads_a_split_part_chunk_by_chunk():
    images = torch.randint(0, 256, (37, 3, 4, 4), dtype=torch.uint8)
    part, _ = ImageDataset(images, torch.zeros(37, dtype=torch.long)).split(7)
    for got, wanted in zip(channel_stats(part, chunk=5), channel_stats(part.images)):
        assert torch.allclose(got, wanted, atol=1e-6)


BN_BLOCK = ArchSpec.from_config({"input": [3, 8, 8], "layers": [
    {"Conv2d": {"out_channels": 4, "kernel_size": 3, "padding": 1}}, "BatchNorm2d", "ReLU",
    {"MaxPool2d": 2}, {"Dropout": 0.25}, "Flatten", {"Linear": 10}]})


def bn_block(*middle):
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), *middle, nn.Flatten(), nn.Linear(4 * 4 * 4, 10))


def test_batchnorm_after_the_activation_is_named_even_when_freshly_built():
    # A fresh BatchNorm in eval mode is the identity: only non-trivial statistics tell the order.
    relu_first = bn_block(nn.ReLU(), nn.BatchNorm2d(4), nn.MaxPool2d(2), nn.Dropout(0.25))
    assert architecture_problem(relu_first, BN_BLOCK) == "layer 2 should be BatchNorm2d of 4 features; yours is ReLU."
    before = {k: v.clone() for k, v in relu_first.state_dict().items()}
    architecture_problem(relu_first, BN_BLOCK)
    assert all(torch.equal(before[k], v) for k, v in relu_first.state_dict().items()), "the check put back the network's own tensors"
    assert architecture_problem(bn_block(nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2), nn.Dropout(0.25)), BN_BLOCK) is None


def test_batchnorm_order_is_seen_in_a_class_that_applies_relu_as_a_function():
    class Net(nn.Module):
        def __init__(self, relu_first):
            super().__init__()
            self.conv, self.bn, self.fc, self.relu_first = nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.Linear(64, 10), relu_first

        def forward(self, x):
            x = self.conv(x)
            x = self.bn(torch.relu(x)) if self.relu_first else torch.relu(self.bn(x))
            return self.fc(nn.functional.dropout(nn.functional.max_pool2d(x, 2), 0.25, self.training).flatten(1))

    assert "computes something else" in architecture_problem(Net(relu_first=True), BN_BLOCK)


@pytest.mark.parametrize("middle, expected", [
    ((nn.BatchNorm2d(4), nn.ReLU(), nn.Dropout(0.25), nn.MaxPool2d(2)),
     "layer 4 (Dropout) is in the wrong place: it receives (N, 4, 8, 8); the lesson's dropout 1 receives (N, 4, 4, 4)"),
    ((nn.BatchNorm2d(4), nn.Dropout(0.25), nn.ReLU(), nn.MaxPool2d(2)), "layer 3 (Dropout) is in the wrong place"),
    ((nn.Dropout(0.25), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2)), "layer 2 (Dropout) is in the wrong place"),
    ((nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2), nn.Dropout(0.4)), "layer 5 (Dropout) should use p=0.25; yours uses p=0.4."),
])
def test_a_misplaced_dropout_is_named(middle, expected):
    assert expected in architecture_problem(bn_block(*middle), BN_BLOCK)


def test_a_dropout_misplaced_inside_forward_is_named_by_its_place():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.bn, self.drop, self.fc = nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.Dropout(0.25), nn.Linear(64, 10)

        def forward(self, x):  # dropout before the pooling, written with functions around it
            return self.fc(nn.functional.max_pool2d(self.drop(torch.relu(self.bn(self.conv(x)))), 2).flatten(1))

    assert architecture_problem(Net(), BN_BLOCK) == (
        "layer 3 (Dropout) is in the wrong place: it receives (N, 4, 8, 8); the lesson's dropout 1 receives "
        "(N, 4, 4, 4), right after layer 4 (MaxPool2d).")
