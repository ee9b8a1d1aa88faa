"""Tables and figures round-trip through runs/<profile>/results/ and are written atomically."""
import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd

from dattt_nb.results import load_table, save_figure, save_table


def test_table_round_trip(monkeypatch, tmp_path):
    monkeypatch.setenv("DATTT_RUNS", str(tmp_path))
    df = pd.DataFrame({"J": [0.5, 0.75]}, index=pd.Index(["davis", "mcl"], name="split"))
    csv = save_table(df, "table3", "ci", meta={"seed": 0})
    assert csv == tmp_path / "ci" / "results" / "table3.csv"
    back = load_table("table3", "ci")
    assert back.loc["mcl", "J"] == 0.75 and back.index.name == "split"
    doc = json.loads(csv.with_suffix(".json").read_text())
    assert doc["meta"] == {"seed": 0} and doc["rows"][0] == {"split": "davis", "J": 0.5}
    assert load_table("missing", "ci") is None


def test_figure_is_a_png(monkeypatch, tmp_path):
    monkeypatch.setenv("DATTT_RUNS", str(tmp_path))
    fig, ax = plt.subplots()
    ax.plot([0, 1])
    path = save_figure(fig, "curve", "ci")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
