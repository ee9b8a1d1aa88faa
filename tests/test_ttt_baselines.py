"""The Table 4 analogue (paper layout: no-TTT rows absolute, TTT rows as changes) and Table 1's TTT columns."""
import math

import numpy as np
import pytest

from dattt_nb.ttt.baselines import (METHODS, Method, merge_table1, methods, model_key, plot_delta_j, table1_ttt,
                                    table4_from_results, table4_layout, videos_per_split)
from dattt_nb.ttt.records import TTTResult, VideoResult
from dattt_nb.ttt.spec import TTTRun

SPLITS = ["davis", "fbms", "mcl"]


def _result(j: float, f: float = 0.5, objective="depth") -> TTTResult:
    video = VideoResult(name="v", masks=None, J_frames=np.full(2, j), F_frames=np.full(2, f), J=j, F=f,
                        pass_J=np.full((1, 2), j), pass_F=np.full((1, 2), f))
    return TTTResult(TTTRun("loop", objective, 1, 1e-5), [video])


def _splits(j, **kw):
    return {s: _result(j + 0.01 * i, **kw) for i, s in enumerate(SPLITS)}


def test_methods_and_keys():
    assert [m.label for m in METHODS] == ["TENT", "BN", "TTT-Rot", "TTT-MAE", "DATTT"]
    assert [m.own_model for m in METHODS] == [False, False, True, True, True]
    extra = methods("resnet18", "mit_b0")[len(METHODS):]
    assert [(m.label, m.model) for m in extra] == [("TENT", "none@resnet18"), ("BN", "none@resnet18")]
    assert methods("mit_b0", "mit_b0") == list(METHODS) == methods("", "mit_b0")
    assert model_key("rot") == "rot"


def test_table4_rows_values_and_deltas():
    no_ttt = {"none": _splits(0.5), "rot": _splits(0.6), "mae": _splits(0.4), "alpha+beta": _splits(0.7),
              "none@resnet18": _splits(0.3)}
    ttt = {m: _splits(0.52 if m.variant == "none" else 0.75) for m in methods("resnet18", "mit_b0")}
    t = table4_from_results(no_ttt, ttt, backbone="mit_b0")
    assert list(t.index) == ["Baseline", "TENT", "BN", "TTT-Rot (no TTT)", "TTT-Rot", "TTT-MAE (no TTT)", "TTT-MAE",
                             "DATTT (no TTT)", "DATTT", "Baseline · ResNet-18", "TENT · ResNet-18", "BN · ResNet-18"]
    assert t.loc["Baseline", "davis_J"] == pytest.approx(50.0) and t.loc["Baseline", "value_kind"] == "absolute"
    assert t.loc["TENT", "davis_J"] == pytest.approx(2.0), "TENT is a change from the Baseline row"
    assert t.loc["TTT-Rot", "fbms_J"] == pytest.approx(15.0), "TTT-Rot is a change from its own no-TTT row"
    assert t.loc["BN · ResNet-18", "mcl_J"] == pytest.approx(22.0)
    assert t.loc["DATTT", "shifted_J"] == pytest.approx(5.0) and t.loc["DATTT (no TTT)", "shifted_J"] == pytest.approx(71.5)
    assert set(t.loc[t["ttt"] == "yes", "value_kind"]) == {"delta"}
    layout = table4_layout(t, "F")
    assert list(layout.columns) == ["value", "DAVIS-16", "FBMS", "MCL", "shifted (mean)", "all (mean)"]
    assert plot_delta_j(t).axes[0].get_ylabel().startswith("ΔJ")


def test_table1_ttt_and_merge():
    no_ttt = {"none": _splits(0.5), "head": _splits(0.55), "alpha+beta": _splits(0.6)}
    t1 = table1_ttt(no_ttt, {"head": _splits(0.56), "alpha+beta": _splits(0.65)})
    assert list(t1.index) == ["none", "head", "alpha+beta"]
    assert math.isnan(t1.loc["none", "davis_J_ttt"]) and t1.loc["alpha+beta", "davis_dJ"] == pytest.approx(5.0)
    existing = t1[["depth_decoder"]].assign(note="from 03")
    merged = merge_table1(existing, t1)
    assert merged.loc["head", "note"] == "from 03" and merged.loc["head", "fbms_dJ"] == pytest.approx(1.0)
    assert merge_table1(None, t1) is t1
    with pytest.raises(ValueError, match="share a name"):
        table4_from_results({"none": _splits(0.5)}, {Method("TENT", "none", "tent"): _splits(0.5),
                                                     Method("TENT", "none", "bn"): _splits(0.5)})


def test_videos_per_split_profile_default_and_override():
    assert videos_per_split("tiny") == 2  # notebook 07's reduced default at tiny
    assert videos_per_split("ci") == 0 and videos_per_split("paper") == 0  # 0: all videos
    assert videos_per_split("tiny", 0) == 0 and videos_per_split("paper", 3) == 3


def test_pretext_check_marks_a_head_at_chance_as_not_learned():
    from types import SimpleNamespace

    import torch

    from dattt_nb.ttt.baselines import pretext_check

    def corners(x):  # the brightest corner tells the rotation of a frame whose top-left corner is marked
        c = x[:, 0]
        return torch.stack([c[:, 0, 0], c[:, -1, 0], c[:, -1, -1], c[:, 0, -1]], dim=1)

    frames = torch.rand(6, 3, 16, 16) * 0.5
    frames[:, :, 0, 0] = 1.0
    videos = {"davis": [SimpleNamespace(frames=frames[:3]), SimpleNamespace(frames=frames[3:])]}
    seeing = SimpleNamespace(image_features=lambda x: x, aux_head=corners)
    blind = SimpleNamespace(image_features=lambda x: x, aux_head=lambda x: torch.zeros(len(x), 4))
    good, bad = pretext_check({"rot": seeing}, videos), pretext_check({"rot": blind}, videos)
    assert good.loc["TTT-Rot", "value"] == 1.0 and bool(good.loc["TTT-Rot", "learned"])
    assert bad.loc["TTT-Rot", "value"] == 0.25 and not bool(bad.loc["TTT-Rot", "learned"])  # argmax 0: chance
    assert bad.loc["TTT-Rot", "chance"] == 0.25


def test_bn_prior_is_a_validated_objective_name():
    from dattt_nb.ttt.objectives import get_objective

    assert get_objective("bn:16").prepare.keywords == {"prior": 16}
    with pytest.raises(ValueError, match="bn:<prior>"):
        get_objective("bn:-3")
