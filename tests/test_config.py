"""Profiles resolve to complete settings; overrides and the environment behave as documented."""
import pytest

from dattt_nb import config
from dattt_nb.config import PROFILES, SettingError, Settings, describe, parse_overrides, resolve


def test_every_profile_resolves_and_is_documented():
    for name in PROFILES:
        s = resolve(name)
        assert isinstance(s, Settings) and s.profile == name
        assert name in config.PROFILE_DOCS
    docs = describe(resolve("ci"))
    assert docs.loc["lambda_depth", "value"] == 0.1
    assert docs["meaning"].str.len().gt(0).all(), "every setting needs a trailing-comment doc"


def test_paper_profile_matches_the_paper():
    s = resolve("paper")
    assert (s.image_size, s.backbone, s.batch_size, s.lr) == (512, "mit_b1", 8, 6e-5)
    assert (s.ttt_epochs, s.ttt_lr, s.ttt_pairs, s.lambda_depth) == (10, 1e-5, 8, 0.1)


def test_overrides_win_and_none_keeps_profile_value():
    s = resolve("ci", train_steps=7, lr=None)
    assert s.train_steps == 7 and s.lr == resolve("ci").lr


def test_unknown_names_are_refused_with_the_valid_ones():
    with pytest.raises(SettingError, match="unknown profile"):
        resolve("huge")
    with pytest.raises(SettingError, match="train_steps"):
        resolve("ci", trian_steps=3)


@pytest.mark.parametrize("name, value, message", [
    ("train_steps", -5, "'train_steps': expected an integer >= 1"),
    ("train_steps", "-5", "'train_steps': expected an integer >= 1"),
    ("image_size", "abc", "'image_size': expected an integer"),
    ("image_size", 0, "'image_size': expected an integer >= 16"),
    ("image_size", 48, "multiple of the backbone stride"),
    ("lr", 2.0, "'lr': expected a number in"),
    ("ttt_lr", "nan", "'ttt_lr': expected a number"),
    ("pretrained", "maybe", "'pretrained': expected true or false"),
    ("flow_method", "optical", "'flow_method': expected dis"),
])
def test_bad_values_name_the_setting(name, value, message):
    with pytest.raises(SettingError, match=message):
        resolve("ci", **{name: value})


def test_command_line_text_is_typed_like_python_values():
    pairs = [("lr", "6e-5"), ("train_steps", "12"), ("pretrained", "false"), ("ttt_scale", "[1.1, 1.4]")]
    typed = parse_overrides(pairs)
    assert typed == {"lr": 6e-5, "train_steps": 12, "pretrained": False, "ttt_scale": (1.1, 1.4)}
    assert isinstance(typed["lr"], float) and isinstance(typed["train_steps"], int)
    assert resolve("ci", typed) == resolve("ci", lr=6e-5, train_steps=12, pretrained=False, ttt_scale=(1.1, 1.4))


def test_settings_dict_and_keywords_combine():
    s = resolve("ci", {"image_size": 64, "train_steps": 3}, train_steps=5)
    assert (s.image_size, s.train_steps) == (64, 5)
    # a notebook parameter left at None (TRAIN_STEPS = None) keeps the SETTINGS value
    assert resolve("ci", {"train_steps": 3}, train_steps=None).train_steps == 3
    with pytest.raises(SettingError, match="SETTINGS"):
        resolve("ci", "image_size: 64")


def test_environment_picks_the_default_profile(monkeypatch):
    monkeypatch.setenv("DATTT_PROFILE", "ci")
    assert resolve().profile == "ci"
    monkeypatch.delenv("DATTT_PROFILE")
    assert resolve().profile == "tiny"


def test_paths_follow_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("DATTT_DATA", str(tmp_path / "d"))
    monkeypatch.setenv("DATTT_RUNS", str(tmp_path / "r"))
    assert config.data_root() == tmp_path / "d"
    assert config.run_dir("ci") == tmp_path / "r" / "ci" and (tmp_path / "r" / "ci").is_dir()
