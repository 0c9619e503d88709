"""dlcourse: an autograded deep-learning course in PyTorch.

Students use the helpers re-exported here (data, training, summaries, plots, seeding);
instructors use the ``dlcourse`` command (build, grade, demo). Names load on first use,
so ``import dlcourse`` stays cheap in a grading kernel.
"""

import importlib

__version__ = "0.1.0"

_EXPORTS = {
    "MNIST": "data", "CIFAR10": "data", "ImageDataset": "data", "data_dir": "data",
    "DataNotFoundError": "data",
    "fit": "training", "evaluate": "training", "predict": "training", "History": "training", "batches": "training",
    "confusion_matrix": "training",
    "summary": "model_summary",
    "plot_history": "plots", "show_predictions": "plots", "show_images": "plots", "show_filters": "plots",
    "show_feature_maps": "plots", "plot_confusion_matrix": "plots",
    "seed_everything": "seeding",
    "best_device": "device", "device_of": "device",
    "load_weights": "checks.weights",
    "save_design": "design", "DesignProblem": "design",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
