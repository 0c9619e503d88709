from otter.test_files import test_case

OK_FORMAT = False

name = "parameters"
points = 2

@test_case(points=None, hidden=False)
def test_total_matches_your_model(linear_params, total_params, model):
    from torch import nn
    assert callable(linear_params), 'define the function `linear_params` first (run its cell)'
    assert isinstance(total_params, int), 'set `total_params` to a whole number'
    assert isinstance(model, nn.Module), 'build `model` first (question 3)'
    counted = sum((p.numel() for p in model.parameters()))
    assert total_params == counted, f'total_params is {total_params:,}, but your model has {counted:,} parameters'

