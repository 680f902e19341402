"""The taskmap command: score (with bad inputs mixed in), map, export, tasks, --help."""

import json
import shutil

import pandas as pd
import pytest

from core.cli import build_parser, main
from tests.conftest import MALFORMED, REPO

TINY = ["--n", "3", "--k", "2", "--max-new-tokens", "6", "--dtype", "float32", "--device", "cpu"]


@pytest.fixture()
def mixed_tasks(tmp_path):
    """Four valid built-in tasks next to the malformed fixtures."""
    d = tmp_path / "tasks"
    d.mkdir()
    for path in sorted((REPO / "data" / "tasks").glob("task*.json"))[:4]:
        shutil.copy(path, d)
    for path in MALFORMED.glob("task*.json"):
        shutil.copy(path, d)
    return d


def test_score_map_export(tiny_causal_dir, mixed_tasks, tmp_path, capsys):
    out = tmp_path / "scored"
    assert main(["score", str(mixed_tasks), "--model", str(tiny_causal_dir), "--out", str(out), *TINY]) == 0
    captured = capsys.readouterr()
    assert "skipped: " in captured.err and "task02_not_json.json" in captured.err
    assert "field 'Definition'" in captured.err
    tasks = pd.read_parquet(out / "tasks.parquet")
    assert len(tasks) == 7  # 4 built-in + the 3 malformed-fixture tasks that are still valid
    manifest = json.loads((out / "manifest.json").read_text())
    assert len(manifest["skipped"]) >= 7
    assert "7 tasks scored" in captured.out

    assert main(["map", str(out), "--top", "2"]) == 0
    html = (out / "map.html").read_text()
    assert "ambiguous" in html and "difficult" in html and "cube-root" in html
    printed = capsys.readouterr().out
    assert "regions: ambiguous" in printed

    assert main(["export", str(out), "--format", "split", "--region", "ambiguous"]) == 0
    split = (out / "tasks-ambiguous.txt").read_text().split()
    assert set(split) == set(tasks[tasks.region == "ambiguous"].task_id)
    assert main(["export", str(out), "--format", "csv", "--out", str(tmp_path / "t.csv")]) == 0
    assert len(pd.read_csv(tmp_path / "t.csv")) == 7
    assert main(["export", str(out), "--format", "parquet", "--sequences", "--kind", "classification",
                 "--out", str(tmp_path / "s.parquet")]) == 0
    seq = pd.read_parquet(tmp_path / "s.parquet")
    assert set(seq.task_id) == set(tasks[tasks.kind == "classification"].task_id)

    # a rerun is a cache read
    assert main(["score", str(mixed_tasks), "--model", str(tiny_causal_dir), "--out", str(out), *TINY]) == 0
    assert "7 from cache, 0 computed" in capsys.readouterr().out


def test_rule_options_change_regions(tiny_causal_dir, tmp_path, capsys):
    out = tmp_path / "scored"
    main(["score", "builtin", "--limit", "10", "--model", str(tiny_causal_dir), "--out", str(out), *TINY])
    main(["export", str(out), "--format", "split", "--region", "ambiguous", "--ambiguous-frac", "0.5",
          "--out", str(tmp_path / "half.txt")])
    assert len((tmp_path / "half.txt").read_text().split()) == 5


def test_errors_are_messages_not_tracebacks(tmp_path, capsys):
    assert main(["map", str(tmp_path)]) == 2
    assert "is not a scored set" in capsys.readouterr().err
    assert main(["score", str(tmp_path / "missing"), "--model", "x"]) == 2
    assert "no valid task" in capsys.readouterr().err


def test_tasks_command_lists_and_validates(capsys):
    assert main(["tasks", str(MALFORMED)]) == 1
    captured = capsys.readouterr()
    assert "task01_valid" in captured.out and "skipped" in captured.err


def test_help_explains_every_option():
    parser = build_parser()
    sub = parser._subparsers._group_actions[0].choices
    for name in sub:
        for action in sub[name]._actions:
            if action.option_strings and action.dest != "help":
                assert action.help, f"{name} {action.option_strings} has no help text"


@pytest.mark.parametrize("options, message", [
    (["--workers", "999"], "needs 999 CPUs"),
    (["--ray-address", "127.0.0.1:1"], "no Ray cluster answers at 127.0.0.1:1"),
    (["--backend", "nosuch"], "unknown scoring backend 'nosuch'"),
])
def test_scale_out_and_backend_options_that_cannot_work_exit_2_in_one_line(options, message, tiny_causal_dir,
                                                                          tmp_path, capsys):
    cache = tmp_path / "cache"
    code = main(["score", "builtin", "--limit", "2", "--model", str(tiny_causal_dir), "--out", str(tmp_path / "out"),
                 "--cache-dir", str(cache), *TINY, *options])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err[-1].startswith("error: ") and message in err[-1]
    assert not (tmp_path / "out").exists()
    assert not list(cache.glob("scores/*/shards/*.parquet"))  # nothing computed, nothing cached


def test_doctor_says_what_auto_picks_here(capsys):
    assert main(["doctor", "--seconds", "0.05"]) == 0
    out = capsys.readouterr().out
    from core.scoring.hardware import cpu_info

    assert cpu_info().kind in out and "--dtype auto" in out and "GFLOP/s" in out and "vLLM" in out and "Ray" in out
