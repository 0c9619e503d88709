from otter.test_files import test_case

OK_FORMAT = False

name = "steps"
points = None

@test_case(points=0, hidden=False)
def test_steps_format(optimizer_steps):
    from dlcourse.checks import number_answer
    number_answer(optimizer_steps, 'optimizer_steps')

