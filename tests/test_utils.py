"""Atomic writes never leave a half-written file; seeding makes torch repeatable."""
import json

import pytest
import torch

from dattt_nb.utils import (atomic_path, atomic_torch_save, atomic_write_json, check_output, remove_stale_temporaries,
                            seed_everything)


def test_atomic_write_keeps_the_old_file_when_interrupted(tmp_path):
    target = tmp_path / "result.json"
    atomic_write_json(target, {"J": 0.5})
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("{half")
            raise RuntimeError("killed")
    assert json.loads(target.read_text()) == {"J": 0.5}
    assert [p.name for p in tmp_path.iterdir()] == ["result.json"], "temporary file left behind"


def test_atomic_torch_save_round_trips_with_weights_only(tmp_path):
    atomic_torch_save({"w": torch.ones(2)}, tmp_path / "c.pt")
    assert torch.equal(torch.load(tmp_path / "c.pt", weights_only=True)["w"], torch.ones(2))


def test_seed_everything_repeats():
    seed_everything(3)
    a = torch.rand(3)
    seed_everything(3)
    assert torch.equal(a, torch.rand(3))


def test_atomic_files_get_normal_permissions(tmp_path):
    atomic_write_json(tmp_path / "r.json", {})
    assert (tmp_path / "r.json").stat().st_mode & 0o044, "atomic writes must stay readable by others"


def test_temporaries_of_an_interrupted_save_are_found_and_removed(tmp_path):
    target = tmp_path / "last.pt"
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half")
            stale = tmp.with_name(tmp.name.replace(".last.pt.", ".last.pt.zz"))  # as a killed process leaves it
            stale.write_bytes(b"half")
            raise KeyboardInterrupt
    (tmp_path / ".best.pt.abc.pt").write_bytes(b"other file's temporary")
    assert remove_stale_temporaries(target) == [stale] and not stale.exists()
    assert (tmp_path / ".best.pt.abc.pt").exists() and remove_stale_temporaries(tmp_path / "no" / "x.pt") == []


def test_output_paths_are_checked_before_any_work(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError, match="output .*file is a file; expected a folder"):
        check_output(tmp_path / "file", folder=True)
    with pytest.raises(IsADirectoryError, match="is a folder; expected a file name"):
        check_output(tmp_path, what="--out")
    with pytest.raises(NotADirectoryError, match="cannot be created: .*file is a file"):
        check_output(tmp_path / "file" / "sub" / "res.json")
    assert check_output(tmp_path / "new" / "deeper" / "res.json") == tmp_path / "new" / "deeper" / "res.json"
    assert check_output(tmp_path / "new", folder=True) == tmp_path / "new"
