"""Map selections read back as task ids (dashboard.maps)."""

from dashboard.maps import selected_task_ids


def test_selected_task_ids_come_from_customdata_not_point_index():
    points = [{"curve_number": 2, "point_index": 0, "customdata": ["task_b", "Cat", "generation"]},
              {"curve_number": 1, "point_index": 0, "customdata": ["task_a", "Cat", "classification"]},
              {"curve_number": 2, "point_index": 0, "customdata": ["task_b"]},
              {"curve_number": 0, "point_index": 5}]
    assert selected_task_ids(points) == ["task_b", "task_a"]
    assert selected_task_ids([]) == []
