from otter.test_files import test_case

OK_FORMAT = False

name = "prepare"
points = 2

@test_case(points=None, hidden=False)
def test_prepare_output(prepare, test_set):
    import torch
    from dlcourse.checks import student_function
    prepare = student_function(prepare, 'prepare')
    assert test_set is not None, '`test_set` is not defined: run the data cell above without errors'
    images = test_set.images[:8]
    x = prepare(images)
    assert torch.is_tensor(x), 'prepare should return a tensor'
    assert x.dtype == torch.float32, f'prepare should return float32 values, not {x.dtype}'
    assert x.shape == images.shape, f'prepare should keep the shape {tuple(images.shape)}; it returned {tuple(x.shape)}'
    assert x.min() >= 0 and x.max() <= 1, f'values should lie between 0 and 1; yours range from {x.min():.3g} to {x.max():.3g}'
    assert x.max() > 0.9, 'the brightest pixels should come out close to 1: divide by the largest pixel value, 255'

