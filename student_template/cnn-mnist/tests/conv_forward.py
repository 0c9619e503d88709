from otter.test_files import test_case

OK_FORMAT = False

name = "conv_forward"
points = 3

@test_case(points=1, hidden=False)
def test_conv2d_forward_matches_pytorch(conv2d_forward):
    from dlcourse.checks import check_conv2d_forward
    check_conv2d_forward(conv2d_forward, seed=0)

