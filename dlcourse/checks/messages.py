"""Sentences shared by the checks in the student's kernel and the grader's clean room."""


def percent(fraction: float) -> str:
    """A threshold as people write it: 0.97 as "97%", 0.965 as "96.5%"."""
    return f"{fraction:.1%}".replace(".0%", "%")


def shortfall(accuracy: float, images: int, target: float) -> str:
    return (f"your network classifies {accuracy:.2%} of the {images:,} test images correctly; "
            f"the target is {percent(target)}.")


def gap_not_smaller(gap: float, baseline_gap: float) -> str:
    return (f"your network's train-test accuracy gap is {100 * gap:.1f} points, the unregularized "
            f"baseline's {100 * baseline_gap:.1f}: regularization should make it smaller.")
