from otter.test_files import test_case

OK_FORMAT = False

name = "example_counts"
points = 3

@test_case(points=None, hidden=False)
def test_counts_match_the_example(textbook_counts, example_counts, example_total, example):
    from torch import nn
    from dlcourse.checks import student_function
    textbook_counts = student_function(textbook_counts, 'textbook_counts')
    assert isinstance(example, nn.Module), 'run the cell that defines `example`'
    assert isinstance(example_counts, (list, tuple)) and len(example_counts) == 4, 'example_counts should list 4 numbers, one per layer with parameters'
    layers = [m for m in example.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    for position, (yours, layer) in enumerate(zip(example_counts, layers), start=1):
        actual = sum((p.numel() for p in layer.parameters()))
        assert yours == actual, f'layer {position} with parameters ({layer}) holds {actual:,}; you counted {yours}'
    assert list(textbook_counts(32, 64)) == list(example_counts), 'example_counts should come from textbook_counts(32, 64), the counts of `example` itself'
    assert example_total == 305194, 'example_total should be the sum of example_counts: 305,194'

