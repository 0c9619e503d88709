from otter.test_files import test_case

OK_FORMAT = False

name = "model"
points = 5

@test_case(points=1, hidden=False)
def test_model_is_your_own_class(model):
    from torch import nn
    assert isinstance(model, nn.Module), 'set `model = DigitCNN()` (run the cell that defines the class)'
    kind = type(model).__name__
    assert not hasattr(nn, kind), f'model is an nn.{kind}: write the network as a class of your own, `class DigitCNN(nn.Module)` with `__init__` and `forward`'
    assert list(model.parameters()), f'your {kind} holds no layers yet: create them in `__init__`'

@test_case(points=1, hidden=False)
def test_model_outputs_ten_scores(model):
    from dlcourse.checks import check_output_shape
    check_output_shape(model, (1, 28, 28), classes=10)

@test_case(points=2, hidden=False)
def test_model_layers(model):
    from dlcourse.checks import check_architecture
    from dlcourse.lesson import current_lesson
    check_architecture(model, current_lesson().architecture)

