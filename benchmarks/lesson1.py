"""Issue figures for lesson 1 (dense-mnist), on this machine:

- `dlcourse grade` of the reference submission: wall time and peak memory above a bare
  `import torch` (goals: <= 10 s on 2 cores, <= 300 MB);
- `dlcourse build dense-mnist`: wall time;
- the reference recipe's time to reach 97% test accuracy on 2 cores.

    DLCOURSE_DATA=<full datasets> .venv/bin/python benchmarks/lesson1.py [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.measure import bare_torch_mb, measure, median_of  # noqa: E402
from dlcourse.course import Course  # noqa: E402
from dlcourse.sample_submissions import reference_submission  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def grading(runs: int) -> None:
    course = Course(ROOT)
    with tempfile.TemporaryDirectory() as scratch:
        submission = reference_submission(course, course.lesson("dense-mnist"), Path(scratch) / "in")
        results = [measure([sys.executable, "-m", "dlcourse", "grade", "--lesson", "dense-mnist", str(submission),
                            "--out", f"{scratch}/out{i}"]) for i in range(runs)]
    assert all(r.returncode == 0 and "ok  14/14" in r.output for r in results), results[0].output
    seconds, peak = median_of(results)
    floor = bare_torch_mb()
    print(f"grade reference (median of {runs}): {seconds:.1f} s, peak {peak:.0f} MB = "
          f"{peak - floor:.0f} MB above a bare import torch ({floor:.0f} MB)")


def building(runs: int) -> None:
    results = [measure([sys.executable, "-m", "dlcourse", "build", "dense-mnist"]) for _ in range(runs)]
    print(f"dlcourse build dense-mnist (median of {runs}): {statistics.median(r.seconds for r in results):.1f} s")


def time_to_97(runs: int) -> None:
    """The lesson's recipe (Adam 1e-3, batch 128), evaluated on the test set after every epoch."""
    import torch
    from torch import nn

    from dlcourse import MNIST, evaluate, fit, seed_everything

    train, val = MNIST(train=True).split(5000)
    test = MNIST(train=False)
    prepare = lambda images: images.float() / 255  # noqa: E731
    times = []
    for seed in range(runs):
        seed_everything(seed)
        model = nn.Sequential(nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(),
                              nn.Linear(256, 10))
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        training = 0.0  # seconds spent training; the per-epoch test evaluation is not counted
        for epoch in range(1, 11):
            history = fit(model, train, optimizer=optimizer, epochs=1, batch_size=128, prepare=prepare, progress=False)
            training += sum(history.seconds)
            if evaluate(model, test, prepare=prepare).accuracy >= 0.97:
                break
        times.append(training)
        print(f"  seed {seed}: 97% after epoch {epoch}, {training:.1f} s of training")
    print(f"time to 97% (median of {runs} seeds): {statistics.median(times):.1f} s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    grading(args.runs)
    building(args.runs)
    time_to_97(3)
