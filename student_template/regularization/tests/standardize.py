from otter.test_files import test_case

OK_FORMAT = False

name = "standardize"
points = 3

@test_case(points=1, hidden=False)
def test_prepare_standardizes(prepare, train_set):
    import torch
    from dlcourse.checks import student_function
    prepare = student_function(prepare, 'prepare')
    assert train_set is not None, 'run the data cell above without errors'
    images = train_set.take(torch.arange(len(train_set))[:500])
    x = prepare(images)
    assert torch.is_tensor(x) and x.dtype == torch.float32, 'prepare should return float32 values'
    assert x.shape == images.shape, 'prepare should keep the shape of the batch'
    means, stds = (x.mean(dim=(0, 2, 3)), x.std(dim=(0, 2, 3)))
    assert means.abs().max() < 0.25 and (stds - 1).abs().max() < 0.25, f'training images should come out with each channel centred near 0 and spread near 1; got means {means.tolist()} and stds {stds.tolist()}'

