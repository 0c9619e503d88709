from otter.test_files import test_case

OK_FORMAT = False

name = "weight_decay"
points = 2

@test_case(points=None, hidden=False)
def test_weight_decay_on_every_weight(make_optimizer):
    import torch
    from torch import nn
    from dlcourse.checks import student_function
    make_optimizer = student_function(make_optimizer, 'make_optimizer')
    probe = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.Flatten(), nn.Linear(8, 2))
    optimizer = make_optimizer(probe)
    assert isinstance(optimizer, torch.optim.Optimizer), 'make_optimizer should return a torch.optim optimizer'
    listed = [id(p) for group in optimizer.param_groups for p in group['params']]
    assert len(listed) == len(set(listed)), 'each parameter should belong to exactly one parameter group'
    assert set(listed) == {id(p) for p in probe.parameters()}, 'the optimizer should update every parameter of the model it is given'
    decayed = {id(p) for group in optimizer.param_groups if group.get('weight_decay', 0) > 0 for p in group['params']}
    assert all((id(p) in decayed for p in probe.parameters() if p.ndim > 1)), 'the weights of convolution and linear layers (parameters with p.ndim > 1) need weight_decay > 0; only biases and batch-normalization parameters may go without'

