from otter.test_files import test_case

OK_FORMAT = False

name = "predicted_names"
points = 2

@test_case(points=None, hidden=False)
def test_names_for_test_images(predicted_names, model, test_set, classes):
    from dlcourse.checks import student_function
    predicted_names = student_function(predicted_names, 'predicted_names')
    assert test_set is not None and classes is not None, 'run the data cell above without errors'
    names = predicted_names(model, test_set.images[:5])
    assert isinstance(names, list) and len(names) == 5, 'predicted_names should return a list with one name per image'
    assert all((name in classes for name in names)), 'every name should be one of `classes`'

