from otter.test_files import test_case

OK_FORMAT = False

name = "label_keeping"
points = None

@test_case(points=0, hidden=False)
def test_label_keeping_format(label_keeping):
    from dlcourse.checks import chosen_answer
    chosen_answer(label_keeping, 'abcde', 'label_keeping')

