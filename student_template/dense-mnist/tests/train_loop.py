from otter.test_files import test_case

OK_FORMAT = False

name = "train_loop"
points = 3

@test_case(points=1, hidden=False)
def test_train_epoch_steps(train_epoch):
    from dlcourse.checks import check_train_epoch
    check_train_epoch(train_epoch, seed=0)

