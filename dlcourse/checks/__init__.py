"""Checks that lesson tests call: architecture against the lesson's spec, weights, accuracy;
answers given as a value (a function's result, a whole number, a choice of statements, a
shape); training and evaluation loops (run on a network the check makes); a layer written
from scratch (against PyTorch's own); and
``for_input``, which makes a hidden test's failure name the input that failed.

Names load on first use, so a test that needs only the architecture check does not pay
for the rest.
"""

import importlib

_EXPORTS = {
    "ArchitectureMismatch": "architecture",
    "architecture_problem": "architecture", "check_architecture": "architecture",
    "check_output_shape": "architecture", "output_problem": "architecture",
    "check_parameter_layers": "architecture", "parameter_layers_problem": "architecture",
    "WeightsProblem": "weights", "read_weights": "weights", "state_dict_problem": "weights",
    "check_accuracy": "accuracy", "load_submitted_weights": "accuracy", "check_gap": "accuracy",
    "student_function": "answers", "whole_number": "answers", "for_input": "inputs",
    "chosen_answer": "answers", "number_answer": "answers", "shape_answer": "answers",
    "check_choice": "answers", "check_number": "answers", "check_shape": "answers",
    "check_design": "design",
    "check_train_epoch": "loops", "check_evaluate_accuracy": "loops", "check_conv2d_forward": "layers",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
