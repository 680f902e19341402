"""AppTest of the Overview page (dashboard/views/overview.py)."""

from __future__ import annotations

from tests.dashboard.helpers import assert_clean, metric_values


def test_overview_counts(app, home):
    app.run()
    app.switch_page("views/overview.py").run()
    assert_clean(app)
    metrics = metric_values(app)
    assert metrics == {"scored sets": "1", "runs": "6", "curated subsets": "0"}
    assert len(app.dataframe[1].value) == 6

