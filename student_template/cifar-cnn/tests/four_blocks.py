from otter.test_files import test_case

OK_FORMAT = False

name = "four_blocks"
points = None

@test_case(points=0, hidden=False)
def test_four_blocks_format(flat_features_four_blocks):
    from dlcourse.checks import number_answer
    number_answer(flat_features_four_blocks, 'flat_features_four_blocks')

