"""Lesson 4 (regularization) states only what its executed solution measured (issue 23): the
weight decay's pull over the training, what the one-cycle schedule really does to AdamW, the
ablation table's time and the model answer that reads it, the design task's starting point and limits,
and lesson 3's gap as lesson 4 prints it. `dlcourse train regularization` rewrites the executed
solution; a retrain that changes a figure turns these tests red until the text follows."""

from __future__ import annotations

import inspect
import re

import nbformat
import torch

from helpers.lessons import COURSE, master, question

LESSON = "regularization"


def text() -> str:
    return "\n\n".join(cell.source for cell in master(LESSON).cells if cell.cell_type == "markdown")


def executed() -> nbformat.NotebookNode:
    return nbformat.read(COURSE.executed_solution(LESSON), as_version=4)


def printed(predicate) -> str:
    """What the first executed code cell whose source satisfies ``predicate`` printed."""
    cell = next(c for c in executed().cells if c.cell_type == "code" and predicate(c))
    return "".join(output.get("text", "") for output in cell.outputs)


def ablation_rows() -> dict[str, tuple[float, float, float, float]]:
    """variant -> (training %, validation %, gap in points, seconds), as the executed solution printed them."""
    table = printed(lambda c: "ablation" in c.metadata.get("tags", []) and "print(f\"{'variant'" in c.source)
    rows = {}
    for line in table.splitlines()[1:]:
        *name, training, validation, gap, seconds = line.split()
        rows[" ".join(name)] = (float(training.rstrip("%")), float(validation.rstrip("%")), float(gap), float(seconds))
    return rows


def training_settings() -> dict[str, float]:
    """max_lr, epochs and batch size of the graded training cell, as written in it."""
    cell = next(c.source for c in master(LESSON).cells
                if c.cell_type == "code" and "OneCycleLR" in c.source and "history = fit(" in c.source)
    epochs, batch_size = re.search(r"epochs, batch_size = (\d+), (\d+)", cell).groups()
    return {"max_lr": float(re.search(r"max_lr=([\d.e-]+)", cell).group(1)), "epochs": int(epochs),
            "batch_size": int(batch_size)}


def test_the_weight_decay_pull_is_the_training_cells():
    """'the decay alone would shrink a weight to about F of its size': the product of
    (1 - lr * decay) over every step of section 8's schedule, replayed on a stand-in."""
    settings = training_settings()
    lesson = COURSE.lesson(LESSON)
    steps_per_epoch = -(-round(50_000 * (1 - lesson.validation_fraction)) // settings["batch_size"])
    decay = float(re.search(r"weight_decay=([\d.]+)", "\n".join(question(LESSON, "weight_decay")[0])).group(1))
    stand_in = torch.optim.AdamW([torch.zeros(1, requires_grad=True)], weight_decay=decay)
    schedule = torch.optim.lr_scheduler.OneCycleLR(stand_in, max_lr=settings["max_lr"], epochs=settings["epochs"],
                                                   steps_per_epoch=steps_per_epoch)
    factor = 1.0
    for _ in range(schedule.total_steps):
        factor *= 1 - stand_in.param_groups[0]["lr"] * decay
        stand_in.step()
        schedule.step()
    stated = re.search(r"would shrink a weight to about (0\.\d+) of its size", text())
    assert stated and float(stated.group(1)) == round(factor, 2), f"the decay shrinks a weight to {factor:.3f}"


def test_the_text_says_what_one_cycle_does_to_adamw():
    """OneCycleLR overwrites the optimizer's learning rate (so question 6 asks for none) and
    cycles Adam's beta1: the figures section 8 gives are its defaults with the cell's max_lr."""
    defaults = inspect.signature(torch.optim.lr_scheduler.OneCycleLR).parameters
    max_lr = training_settings()["max_lr"]
    start = max_lr / defaults["div_factor"].default
    section_8 = next(cell for cell in master(LESSON).cells if cell.source.startswith("## 8."))
    assert f"rising from {start:g} to {max_lr:g}" in section_8.source
    assert (f"{defaults['max_momentum'].default} down to {defaults['base_momentum'].default} and back"
            in section_8.source)
    assert "overwrites AdamW's own rate at every step" in section_8.source
    solution, tests = question(LESSON, "weight_decay")
    assert "lr=" not in "\n".join(solution) and "lr=" not in "\n".join(tests), \
        "question 6 must not ask for a learning rate that OneCycleLR overwrites"
    assert "Leave the learning rate alone" in text()


def test_the_ablation_time_is_what_the_runs_took():
    rows = ablation_rows()
    assert len(rows) == 5
    total = sum(seconds for *_, seconds in rows.values())
    stated = re.findall(r"the five runs took about (\d+) minutes in all", text())
    assert len(stated) == 1 and abs(int(stated[0]) - total / 60) <= 0.5 + 0.1 * total / 60, \
        f"the five ablation runs took {total:.0f} s"


def model_answer() -> str:
    """The model answer to the ablation question (the design task's report has one too)."""
    return next(cell.source for cell in master(LESSON).cells
                if cell.source.startswith("*What a full answer says.*") and "ablation" in cell.source)


def test_the_model_answer_quotes_the_executed_ablations():
    """Every figure of the model answer to Understanding 4 is a value the executed ablation table
    printed, or the difference of two values in one of its columns, with one decimal."""
    rows = ablation_rows()
    columns = [[row[k] for row in rows.values()] for k in range(3)]
    allowed = {round(v, 1) for column in columns for v in column}
    allowed |= {round(abs(a - b), 1) for column in columns for a in column for b in column}
    answer = model_answer()
    figures = [float(f) for f in re.findall(r"(\d+\.\d)(?:%| points)", answer)]
    assert len(figures) >= 4, "the model answer should quote the reference table"
    for figure in figures:
        assert any(abs(figure - value) < 0.051 for value in allowed), \
            f"the model answer says {figure}; the executed solution's table is {rows}"
    assert "ABL_" not in answer and "ABL_" not in text()


def test_the_design_tasks_starting_point_is_quoted_as_it_ran():
    """"Your own network" quotes what its starting network reached and in how long, where it
    introduces it and in the model answer: the executed solution's own-network cell (the line it
    prints after training), within the rounding of the accuracy and 15% of the time."""
    shown = printed(lambda c: "save_design(own_model)" in c.source)
    seconds, accuracy = re.search(r"^(\d+) s: loss [\d.]+ - accuracy ([\d.]+)%", shown, re.MULTILINE).groups()
    stated = re.findall(r"([\d.]+)% in (\d+) seconds on the course's 2-core", text())
    assert len(stated) == 2, "the design task should quote its starting network where it introduces it and in the model answer"
    for percent, time_stated in stated:
        assert abs(float(percent) - float(accuracy)) <= 0.05 + 1e-9, f"the text says {percent}%; it ran to {accuracy}%"
        assert abs(int(time_stated) - int(seconds)) <= 0.15 * int(seconds), f"the text says {time_stated} s; it took {seconds} s"
    assert float(accuracy) >= 100 * COURSE.lesson(LESSON).design.accuracy_threshold


def test_the_design_tasks_limits_are_the_lessons():
    """The target, the time limit and the budget the text gives are those lesson.yaml's design
    section holds (the grader's own figures)."""
    design = COURSE.lesson(LESSON).design
    target, minutes = f"{100 * design.accuracy_threshold:g}%", f"{design.training_minutes:g} minutes"
    body = text()
    for phrase in (f"at least {target} of the 10,000 test images", f"at most {minutes} of training",
                   f"2 for reaching {target}", f"within the {minutes}", f"at most {design.max_parameters:,} parameters"):
        assert phrase in body, phrase
    assert len(re.findall(r"at least \d+% of the 10,000 test images|2 for reaching \d+%", body)) == 2


def test_lesson_4_prints_the_gap_of_lesson_3s_reference(real_data):
    """The gap section 9 prints for lesson 3's network is that of lesson 3's reference weights
    today (the executed solution ran with them), measured as the grader measures it."""
    from dlcourse.measurement import baseline_model, gap_images, train_test_gap
    from helpers.paths import data_dir_set_to

    lesson = COURSE.lesson(LESSON)
    baseline = lesson.baseline_lesson()
    with data_dir_set_to(real_data):
        network = baseline_model(lesson, COURSE.reference_weights(baseline).parent)
        gap = train_test_gap(network, baseline.reference_prepare(), gap_images(lesson))
    shown = printed(lambda c: "check_gap(model, prepare)" in c.source and "print(" in c.source)
    assert f"lesson 3 network {100 * gap:.1f} points" in shown


def test_the_statistics_are_read_a_chunk_at_a_time():
    """The statistics cell never gathers the 45,000 training images (grading fits 768 MB)."""
    cell = "\n".join(question(LESSON, "standardize")[0])
    assert "channel_mean_std(train_set)" in cell and ".images" not in cell and "dataset.take(positions)" in cell
