"""Course bundle: export packs a profile's trained state with a manifest; import verifies and unpacks it atomically."""
import io
import json
import tarfile

import pytest
import torch

from dattt_nb import __version__
from dattt_nb.course import bundle
from dattt_nb.cli import main


@pytest.fixture
def runs(tmp_path, monkeypatch):
    """A runs root with small fake checkpoints, a TTT cache entry, a saved table and an executed notebook."""
    root = tmp_path / "runs"
    monkeypatch.setenv("DATTT_RUNS", str(root))
    ci = root / "ci"
    for variant in ("alpha+beta", "two_stream"):
        torch.save({"model": {"w": torch.arange(4.0)}, "config": {"variant": variant}, "finished": True},
                   (ci / "checkpoints" / variant).mkdir(parents=True) or ci / "checkpoints" / variant / "best.pt")
        torch.save({"step": 3}, ci / "checkpoints" / variant / "last.pt")
    cache = ci / "ttt" / "cache" / "loop" / "depth_e2_lr1e-05_p2_g1_seed0_abc"
    cache.mkdir(parents=True)
    (cache / "davis.json").write_text('{"videos": []}')
    (cache / "davis.npz").write_bytes(b"npz bytes")
    (ci / "results").mkdir()
    (ci / "results" / "table3_strategies.csv").write_text("name,J\nnone,1\n")
    (ci / "results" / ".table.csv.tmp").write_text("half-written")  # an interrupted write: never shipped
    (ci / "notebooks").mkdir()
    (ci / "notebooks" / "06_ttt_loop.ipynb").write_text("{}")  # executed notebooks stay out of the bundle
    return root


def _fresh(tmp_path, monkeypatch, name="fresh"):
    root = tmp_path / name
    monkeypatch.setenv("DATTT_RUNS", str(root))
    return root


def _rewrite(src, dst, change):
    """Copy a bundle member by member; ``change(name, data)`` returns new bytes or None to keep them."""
    with tarfile.open(src) as tin, tarfile.open(dst, "w:gz") as tout:
        for m in tin.getmembers():
            data = tin.extractfile(m).read()
            data = change(m.name, data) or data
            m.size = len(data)
            tout.addfile(m, io.BytesIO(data))


def _files(root):
    """Files under ``root`` (the hidden one-writer lock of a run folder left out)."""
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()
                  and not p.name.startswith(".dattt-writer")) if root.exists() else []


def test_export_then_import_a_local_file(runs, tmp_path, monkeypatch, capsys):
    out = tmp_path / "course-ci.tar.gz"
    assert main(["bundle", "export", str(out), "--profile", "ci"]) == 0
    made = capsys.readouterr().out
    digest = bundle.sha256_file(out)
    assert digest in made and (tmp_path / "course-ci.tar.gz.sha256").read_text().split()[0] == digest
    with tarfile.open(out) as tar:
        manifest = json.load(tar.extractfile("bundle.json"))
    assert manifest["profile"] == "ci" and manifest["version"] == __version__ and manifest["git_commit"]
    assert sorted(manifest["files"]) == ["checkpoints/alpha+beta/best.pt", "checkpoints/alpha+beta/last.pt",
                                         "checkpoints/two_stream/best.pt", "checkpoints/two_stream/last.pt",
                                         "results/table3_strategies.csv",
                                         "ttt/cache/loop/depth_e2_lr1e-05_p2_g1_seed0_abc/davis.json",
                                         "ttt/cache/loop/depth_e2_lr1e-05_p2_g1_seed0_abc/davis.npz"]
    assert manifest["files"]["results/table3_strategies.csv"]["sha256"] == \
        bundle.sha256_file(runs / "ci" / "results" / "table3_strategies.csv")

    fresh = _fresh(tmp_path, monkeypatch)
    assert main(["bundle", "import", str(out), "--sha256", digest.upper()]) == 0
    assert "imported 7 files of profile ci" in capsys.readouterr().out
    for rel in manifest["files"]:
        assert (fresh / "ci" / rel).read_bytes() == (runs / "ci" / rel).read_bytes()
    ckpt = torch.load(fresh / "ci" / "checkpoints" / "alpha+beta" / "best.pt", weights_only=True)
    assert torch.equal(ckpt["model"]["w"], torch.arange(4.0))
    assert json.loads((fresh / "ci" / bundle.IMPORT_RECORD).read_text())["sha256"] == digest
    assert not list(fresh.glob(".bundle-*")), "the staging folder is removed"
    # importing again changes nothing and says so
    again = bundle.import_bundle(str(out))
    assert (again["placed"], again["unchanged"]) == (0, 7)


def test_import_from_a_file_url(runs, tmp_path, monkeypatch):
    out = tmp_path / "b.tar.gz"
    made = bundle.export_bundle(out, profile="ci")
    fresh = _fresh(tmp_path, monkeypatch)
    done = bundle.import_bundle(out.as_uri(), sha256=made["sha256"], profile="ci")
    assert done["files"] == 7 and (fresh / "ci" / "checkpoints" / "two_stream" / "last.pt").is_file()
    assert not list(fresh.glob(".bundle-*")), "the downloaded copy and the staging folder are removed"


def _refused(argv, capsys, fresh, *words):
    """The command fails with one line naming the problem, and the fresh runs root holds no file."""
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("dattt-nb: error: ") and len(err.splitlines()) == 1, err
    for word in words:
        assert word in err, err
    assert _files(fresh) == [], "nothing unpacked"


def test_corrupted_member_unpacks_nothing(runs, tmp_path, monkeypatch, capsys):
    out, bad = tmp_path / "b.tar.gz", tmp_path / "bad.tar.gz"
    bundle.export_bundle(out, profile="ci")
    _rewrite(out, bad, lambda name, data: b"flipped" + data[7:] if name.endswith("two_stream/last.pt") else None)
    fresh = _fresh(tmp_path, monkeypatch)
    _refused(["bundle", "import", str(bad)], capsys, fresh, "two_stream/last.pt is corrupted", "nothing unpacked")


def test_wrong_sha256_unpacks_nothing(runs, tmp_path, monkeypatch, capsys):
    out = tmp_path / "b.tar.gz"
    bundle.export_bundle(out, profile="ci")
    fresh = _fresh(tmp_path, monkeypatch)
    _refused(["bundle", "import", out.as_uri(), "--sha256", "0" * 64], capsys, fresh, "expected 000000")


def test_traversal_member_is_refused(runs, tmp_path, monkeypatch, capsys):
    out, evil = tmp_path / "b.tar.gz", tmp_path / "evil.tar.gz"
    made = bundle.export_bundle(out, profile="ci")
    manifest = {k: made[k] for k in ("format", "profile", "version", "git_commit", "created", "parts", "files")}
    manifest["files"]["../../escaped.txt"] = {"sha256": "0" * 64, "size": 4}
    with tarfile.open(evil, "w:gz") as tar:
        for name, data in (("bundle.json", json.dumps(manifest).encode()), ("files/../../escaped.txt", b"evil")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    fresh = _fresh(tmp_path, monkeypatch)
    _refused(["bundle", "import", str(evil)], capsys, fresh, "unsafe member path")
    assert not list(tmp_path.rglob("escaped.txt"))


def test_mismatched_or_broken_bundles_are_one_line_errors(runs, tmp_path, monkeypatch, capsys):
    out, old = tmp_path / "b.tar.gz", tmp_path / "old.tar.gz"
    bundle.export_bundle(out, profile="ci")
    fresh = _fresh(tmp_path, monkeypatch)
    _refused(["bundle", "import", str(out), "--profile", "tiny"], capsys, fresh, "holds profile 'ci', not 'tiny'")

    def older(name, data):
        if name == "bundle.json":
            return json.dumps({**json.loads(data), "version": "0.0.1"}).encode()
    _rewrite(out, old, older)
    _refused(["bundle", "import", str(old)], capsys, fresh, "dattt-nb 0.0.1", "--any-version")
    escaping = tmp_path / "escaping.tar.gz"
    _rewrite(out, escaping, lambda name, data: json.dumps({**json.loads(data), "profile": "../outside"}).encode()
             if name == "bundle.json" else None)
    _refused(["bundle", "import", str(escaping)], capsys, fresh, "is not a plain name")
    assert bundle.import_bundle(str(old), allow_version=True)["files"] == 7

    truncated = tmp_path / "truncated.tar.gz"
    truncated.write_bytes(out.read_bytes()[: out.stat().st_size // 2])
    fresh2 = _fresh(tmp_path, monkeypatch, "fresh2")
    _refused(["bundle", "import", str(truncated)], capsys, fresh2, "not a readable tar.gz")
    _refused(["bundle", "import", str(tmp_path / "missing.tar.gz")], capsys, fresh2, "does not exist")


def test_import_never_replaces_different_files_unless_asked(runs, tmp_path, monkeypatch, capsys):
    out = tmp_path / "b.tar.gz"
    bundle.export_bundle(out, profile="ci")
    fresh = _fresh(tmp_path, monkeypatch)
    mine = fresh / "ci" / "results" / "table3_strategies.csv"
    mine.parent.mkdir(parents=True)
    mine.write_text("my own run\n")
    assert main(["bundle", "import", str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert _files(fresh) == ["ci/results/table3_strategies.csv"] and mine.read_text() == "my own run\n"
    assert main(["bundle", "import", str(out), "--overwrite"]) == 0
    assert mine.read_text() == "name,J\nnone,1\n"


def test_export_without_checkpoints_says_what_to_run(tmp_path, monkeypatch, capsys):
    _fresh(tmp_path, monkeypatch, "empty")
    assert main(["bundle", "export", str(tmp_path / "b.tar.gz"), "--profile", "ci"]) == 2
    assert "dattt-nb run --profile ci" in capsys.readouterr().err
    assert not (tmp_path / "b.tar.gz").exists()
