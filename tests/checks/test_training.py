"""Student helpers: fit/evaluate/predict, seeding, summary, plots."""

import matplotlib

matplotlib.use("Agg")

import pytest
import torch
from torch import nn

from dlcourse import (MNIST, confusion_matrix, evaluate, fit, plot_confusion_matrix, plot_history, predict,
                      seed_everything, show_feature_maps, show_filters, show_predictions, summary)
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


def test_confusion_matrix_counts_each_true_and_predicted_pair():
    class Guess(nn.Module):  # predicts the class written in each image's first pixel
        def forward(self, x):
            return nn.functional.one_hot(x[:, 0, 0, 0].long(), 10).float()

    images = torch.zeros(6, 1, 2, 2, dtype=torch.uint8)
    images[:, 0, 0, 0] = torch.tensor([3, 3, 5, 1, 1, 1])
    labels = torch.tensor([3, 5, 5, 1, 2, 1])
    matrix = confusion_matrix(Guess(), (images, labels))
    assert matrix.shape == (10, 10) and int(matrix.sum()) == 6
    assert (matrix[3, 3], matrix[5, 3], matrix[5, 5], matrix[1, 1], matrix[2, 1]) == (1, 1, 1, 2, 1)
    figure = plot_confusion_matrix(matrix, [str(k) for k in range(10)])
    axes = figure.axes[0]
    assert (axes.get_xlabel(), axes.get_ylabel()) == ("predicted", "true") and len(axes.texts) == 100


def test_filters_and_feature_maps_are_drawn_one_picture_each():
    grey, colour = nn.Conv2d(1, 6, 3), nn.Conv2d(3, 4, 3)
    assert len([ax for ax in show_filters(grey).axes if ax.images]) == 6
    assert len([ax for ax in show_filters(colour, n=3).axes if ax.images]) == 3
    assert show_filters(colour).axes[0].images[0].get_array().shape == (3, 3, 3)  # drawn in colour
    with pytest.raises(ValueError, match="1 or 3 input channels"):
        show_filters(nn.Conv2d(8, 4, 3))
    layers = nn.Sequential(nn.Conv2d(1, 20, 3), nn.ReLU()).train()
    figure = show_feature_maps(layers, MNIST(SAMPLE_DIR, train=False).images[0], prepare=scale, n=5)
    titles = [ax.get_title() for ax in figure.axes if ax.images]
    assert titles == ["image", "map 0", "map 1", "map 2", "map 3", "map 4"]
    assert figure.axes[1].images[0].get_array().shape == (26, 26) and layers.training  # mode restored


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
