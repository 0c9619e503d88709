from otter.test_files import test_case

OK_FORMAT = False

name = "augment"
points = 3

@test_case(points=2, hidden=False)
def test_training_only(augment, train_set, val_set, test_set):
    import torch
    assert augment is not None and callable(augment), 'set `augment` to a v2.Compose of the transforms'
    assert train_set is not None and val_set is not None, 'run the cell that splits off the validation set'
    image = test_set.images[0]
    out = augment(image)
    assert torch.is_tensor(out) and out.shape == image.shape and (out.dtype == image.dtype), 'augment should return a uint8 image of the same shape'
    assert train_set.transform is augment, 'the training set should use `augment` as its transform'
    assert val_set.transform is None and test_set.transform is None, 'augmentation is for training only: the validation and test sets must have no transform'
    picture, label = train_set[0]
    assert picture.shape == (3, 32, 32) and label == int(train_set.labels[0]), 'augmentation must keep labels'

