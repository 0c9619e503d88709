"""Sentences shared by the checks in the student's kernel and the grader's clean room."""


def shortfall(accuracy: float, images: int, target: float) -> str:
    return (f"your network classifies {accuracy:.2%} of the {images:,} test images correctly; "
            f"the target is {target:.0%}.")
