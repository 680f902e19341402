"""AppTest of the Curate page (dashboard/views/curate.py)."""

from __future__ import annotations

import json

from tests.dashboard.helpers import assert_clean, shown, texts


def curate_with(app, home, ids):
    app.session_state["map_selection"] = ids
    app.run()
    app.button(key="send_selection").click().run()
    assert app.title[0].value == "Curate"
    return app



def test_curate_edit_save_and_reload(app, home):
    ids = list(home.tasks["task_id"].iloc[:4])
    curate_with(app, home, ids)
    version = app.session_state["curate_version"]
    app.session_state[f"curate_editor_{version}"] = {
        "edited_rows": {1: {"include": False}, 2: {"notes": "label names are arbitrary"}},
        "added_rows": [], "deleted_rows": []}
    app.run()
    assert "4 tasks in the table, **3 included**" in texts(app)
    app.text_input(key="subset_name").input("my-pick").run()
    app.button(key="save_subset").click().run()
    assert_clean(app)
    path = home.root / "curated" / "my-pick.json"
    saved = json.loads(path.read_text())
    assert saved["name"] == "my-pick"
    assert saved["task_ids"] == [ids[0], ids[2], ids[3]]
    assert saved["notes"][ids[2]] == "label names are arbitrary"
    assert saved["scored_set"] == str(home.scored_set)
    assert saved["created"]
    assert f"Saved 3 tasks to {path}." in texts(app)

    # reload into an empty table
    app.button(key="clear_table").click().run()
    assert app.session_state["curate_table"].empty
    app.button(key="load_replace").click().run()
    table = app.data_editor[0].value
    assert list(table["task_id"]) == saved["task_ids"]
    assert table.set_index("task_id").loc[ids[2], "notes"] == "label names are arbitrary"



def test_curate_rejects_bad_names(app, home):
    curate_with(app, home, list(home.tasks["task_id"].iloc[:2]))
    app.text_input(key="subset_name").input("../escape").run()
    app.button(key="save_subset").click().run()
    assert any("must start with a letter or digit" in shown(e.value) for e in app.error)
    assert not list((home.root / "curated").glob("*.json"))



def test_curate_exports(app, home):
    ids = list(home.tasks["task_id"].iloc[:3])
    curate_with(app, home, ids)
    app.text_input(key="subset_name").input("three").run()
    downloads = {b.label for b in app.get("download_button")} if app.get("download_button") else set()
    assert {"NIV2 split list (.txt)", "table (.csv)"} <= {b.proto.label for b in app.get("download_button")} | downloads
    app.button(key="export_dir").click().run()
    assert_clean(app)
    out = home.root / "curated" / "three"
    files = sorted(p.name for p in (out / "tasks").glob("*.json"))
    assert files == sorted(f"{t}.json" for t in ids)
    niv2 = json.loads((out / "tasks" / f"{ids[0]}.json").read_text())
    assert niv2["Definition"] and niv2["Instances"]
    assert (out / "split.txt").read_text() == "".join(f"{t}\n" for t in ids)
    assert any(b.proto.label == "download three.zip" for b in app.get("download_button"))



def test_curate_adds_policy_picks(app, home):
    app.run()
    app.switch_page("views/policies.py").run()
    picks = app.session_state["policy_picks"]["task_ids"]
    app.switch_page("views/curate.py").run()
    app.button(key="add_picks").click().run()
    assert list(app.data_editor[0].value["task_id"]) == picks
    assert set(app.data_editor[0].value["added_from"]) == {"policy uncertainty"}

