"""Student helpers: fit/evaluate/predict, seeding, summary, plots."""

import matplotlib

matplotlib.use("Agg")

import torch
from torch import nn

from dlcourse import MNIST, evaluate, fit, plot_history, predict, seed_everything, show_predictions, summary
from dlcourse.data import SAMPLE_DIR


def scale(images):
    return images.float() / 255


def small_net():
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 32), nn.ReLU(), nn.Linear(32, 10))


def test_fit_lowers_the_loss_and_records_a_history():
    seed_everything(0)
    train = MNIST(SAMPLE_DIR, train=True)
    model = small_net()
    history = fit(model, train, optimizer=torch.optim.Adam(model.parameters(), lr=3e-3), epochs=4,
                  batch_size=50, prepare=scale, val_data=MNIST(SAMPLE_DIR, train=False), progress=False)
    assert history.epochs == 4 and len(history.val_accuracy) == 4 and len(history.seconds) == 4
    assert history.loss[-1] < history.loss[0] * 0.6
    assert history.val_accuracy[-1] > 0.6


def test_seeding_repeats_a_run_exactly():
    def run():
        seed_everything(7)
        model = small_net()
        fit(model, MNIST(SAMPLE_DIR, train=True), optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
            epochs=1, batch_size=100, prepare=scale, progress=False)
        return torch.cat([p.flatten() for p in model.parameters()])

    assert torch.equal(run(), run())


def test_evaluate_uses_eval_mode_and_restores_training_mode():
    model = nn.Sequential(nn.Flatten(), nn.Dropout(0.9), nn.Linear(784, 10))
    model.train()
    test = MNIST(SAMPLE_DIR, train=False)
    first = evaluate(model, test, prepare=scale)
    second = evaluate(model, test, prepare=scale)
    assert first == second  # dropout off: the same answer twice
    assert model.training


def test_fit_applies_the_datasets_per_image_transform_to_training_only():
    seen = []
    train = MNIST(SAMPLE_DIR, train=True, transform=lambda image: seen.append(1) or image)
    model = small_net()
    fit(model, train, optimizer=torch.optim.SGD(model.parameters(), lr=0.01), epochs=1, batch_size=100,
        prepare=scale, val_data=MNIST(SAMPLE_DIR, train=False), progress=False)
    assert len(seen) == len(train)


def test_predict_returns_one_class_per_image():
    test = MNIST(SAMPLE_DIR, train=False)
    labels = predict(small_net(), test.images[:37], prepare=scale)
    assert labels.shape == (37,) and labels.dtype == torch.int64


def test_summary_reports_layers_and_parameter_counts():
    stats = summary(small_net(), (1, 28, 28))
    assert stats.total_params == 784 * 32 + 32 + 32 * 10 + 10
    assert "Linear" in str(stats)


def test_plots_draw_curves_and_a_labelled_grid():
    model = small_net()
    history = fit(model, MNIST(SAMPLE_DIR, train=True), optimizer=torch.optim.Adam(model.parameters()),
                  epochs=2, batch_size=100, prepare=scale, val_data=MNIST(SAMPLE_DIR, train=False), progress=False)
    curves = plot_history(history)
    assert [ax.get_ylabel() for ax in curves.axes] == ["loss", "accuracy"]
    assert len(curves.axes[0].lines) == 2  # training and validation
    grid = show_predictions(model, MNIST(SAMPLE_DIR, train=False), prepare=scale, n=8)
    titles = [ax.get_title() for ax in grid.axes if ax.get_title()]
    assert len(titles) == 8 and all("(" in t for t in titles)


def test_fit_prints_one_line_per_epoch_beside_its_progress_bars(capsys):
    """The bars are widgets in a notebook, which it does not save; the printed lines stay."""
    import re

    seed_everything(0)
    model = small_net()
    fit(model, MNIST(SAMPLE_DIR, train=True), optimizer=torch.optim.Adam(model.parameters(), lr=3e-3), epochs=2,
        batch_size=100, prepare=scale, val_data=MNIST(SAMPLE_DIR, train=False))
    captured = capsys.readouterr()
    lines = captured.out.strip().splitlines()
    number, percent = r"\d+\.\d{4}", r"\d+\.\d\d%"
    assert [re.fullmatch(rf"epoch {e}/2 - \d+\.\d s - loss {number} - accuracy {percent} - val_loss {number} - "
                         rf"val_accuracy {percent}", line) is not None for e, line in enumerate(lines, 1)] == [True, True], lines
    assert "epoch 2/2" in captured.err and "batch" in captured.err  # tqdm's bars, on stderr outside a notebook
