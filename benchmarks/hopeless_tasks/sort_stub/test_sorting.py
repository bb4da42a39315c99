from sorting import my_sort

def test_two():
    assert my_sort([2, 1]) == [1, 2]

def test_three():
    assert my_sort([3, 1, 2]) == [1, 2, 3]

def test_dupes():
    assert my_sort([5, 1, 5, 0]) == [0, 1, 5, 5]

def test_negative():
    assert my_sort([0, -4, 9, -1]) == [-4, -1, 0, 9]
