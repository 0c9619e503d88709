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


# Accuracies through two input pipelines closer than this (a fraction) count as the same.
PIPELINES_AGREE = 0.005


def pipelines_differ(yours: float, graded: float, pipeline: str) -> str:
    return (f"That is measured as the grade measures it: the lesson's network with your weights, on inputs "
            f"{pipeline}. Through your `prepare`, the same weights reach {yours:.2%}, so your `prepare` "
            f"differs from the lesson's pipeline and the grade would count {graded:.2%}. Make `prepare` "
            f"do exactly that, then train again.")
