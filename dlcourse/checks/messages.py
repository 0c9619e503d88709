"""Sentences shared by the checks in the student's kernel and the grader's clean room."""


def shortfall(accuracy: float, images: int, target: float) -> str:
    return (f"your network classifies {accuracy:.2%} of the {images:,} test images correctly; "
            f"the target is {target:.0%}.")


def gap_not_smaller(gap: float, baseline_gap: float) -> str:
    return (f"your network's train-test accuracy gap is {100 * gap:.1f} points, the unregularized "
            f"baseline's {100 * baseline_gap:.1f}: regularization should make it smaller.")
