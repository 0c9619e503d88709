from otter.test_files import test_case

OK_FORMAT = False

name = "parameters"
points = 2

@test_case(points=None, hidden=False)
def test_total_matches_your_model(linear_params, dense_params, total_params, model):
    from torch import nn
    from dlcourse.checks import student_function, whole_number
    linear_params = student_function(linear_params, 'linear_params')
    dense_params = student_function(dense_params, 'dense_params')
    total_params = whole_number(total_params, 'total_params')
    assert isinstance(model, nn.Module), 'build `model` first (question 3)'
    counted = sum((p.numel() for p in model.parameters()))
    assert total_params == counted, f'total_params is {total_params:,}, but your model has {counted:,} parameters'
    from dlcourse.checks.architecture import trace, used_layers
    layers = [m for m in used_layers(model, trace(model, (1, 28, 28))) if isinstance(m, nn.Linear)]
    sizes = [layers[0].in_features] + [layer.out_features for layer in layers] if layers else []
    assert whole_number(dense_params(sizes), 'dense_params(...)') == total_params, f"total_params should be what dense_params computes for your network's sizes, dense_params({sizes})"

