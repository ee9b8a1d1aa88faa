"""The README's results block is generated from a run (dattt_nb.reporting.summary, `dattt-nb report`)."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from dattt_nb.reporting import summary


def _fake_run(folder):
    (folder / "results").mkdir(parents=True)
    (folder / "manifest.json").write_text(json.dumps(dict(profile="tiny", git_commit="abcdef1234", finished="2026-12-06",
                                                          notebooks={"06_ttt_loop": {"seconds": 400.0}})))
    t3 = pd.DataFrame({"label": ["No TTT", "TTT-LTV"], "value_kind": ["absolute", "delta"],
                       "davis_J": [63.8, 0.14], "shifted_J": [54.2, 0.26], "davis_J_lo": [None, 0.05],
                       "davis_J_hi": [None, 0.5], "shifted_J_lo": [None, -0.18], "shifted_J_hi": [None, 0.68]},
                      index=pd.Index(["none", "loop_delta"], name="strategy"))
    t3.to_csv(folder / "results" / "table3_strategies.csv")


def test_block_states_the_commit_and_reads_the_intervals(tmp_path):
    _fake_run(tmp_path)
    block = summary.results_block(tmp_path)
    assert "commit `abcdef1`" in block and "all test videos" in block
    assert "Shifted splits: +0.26 [-0.18, +0.68] (no clear change)" in block
    assert "clean split: +0.14 [+0.05, +0.50] (gain)" in block  # a verdict reads the interval
    assert "Training-seed spread:** not measured" in block


def test_update_readme_replaces_only_the_marked_block(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{summary.BEGIN}\nold numbers\n{summary.END}\noutro\n")
    summary.update_readme(readme, "new block\n")
    text = readme.read_text()
    assert "old numbers" not in text and "new block" in text and text.startswith("intro") and text.endswith("outro\n")
    bare = tmp_path / "BARE.md"
    bare.write_text("no markers")
    with pytest.raises(ValueError, match="BARE.md: expected the markers"):
        summary.update_readme(bare, "x")


def test_report_command_without_a_run_is_an_input_error(tmp_path, monkeypatch, capsys):
    from dattt_nb import cli, config

    monkeypatch.setattr(config, "runs_root", lambda: tmp_path)
    assert cli.main(["report", "--profile", "tiny"]) == 2
    assert "no results for this profile yet" in capsys.readouterr().err
