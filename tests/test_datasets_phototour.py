"""Brown / PhotoTour layout: write_phototour <-> load_phototour, torchvision's .pt, bad folders."""
import pickle

import numpy as np
import pytest
import torch
from PIL import Image

from sklearn_patchdesc.datasets import (load_image_sequences, load_phototour, make_hpatches_like,
                                        write_phototour)
from sklearn_patchdesc.datasets._hpatches_io import resize_patches
from tests.conftest import shared_data_path


@pytest.fixture(scope="module")
def real64():
    """64x64 patches cut from the real v_churchill sequence (16 views of each point)."""
    seqs = load_image_sequences(shared_data_path("real", "hpatches_sequences", "v_churchill"))
    return make_hpatches_like(seqs, n_patches_per_sequence=20, patch_size=64, random_state=0)


def _random_set(n=300, n_points=60, seed=0):
    rng = np.random.default_rng(seed)
    return {"data": rng.integers(0, 256, (n, 64, 64), dtype=np.uint8),
            "target": np.sort(rng.integers(1000, 1000 + n_points, n))}


def test_roundtrip_real_derived_patches(real64, tmp_path):
    path = write_phototour(real64, tmp_path, "churchill", n_pairs=200, random_state=1)
    files = sorted(p.name for p in path.iterdir())
    # 320 patches: one full sheet and a partly filled one
    assert files == ["info.txt", "m50_200_200_0.txt", "patch0000.bmp", "patch0001.bmp"]
    with Image.open(path / "patch0001.bmp") as img:
        assert img.size == (1024, 1024)
        sheet = np.asarray(img)
    assert np.array_equal(sheet[:64, 64:128], real64.data[257])  # row-major: patch 256 + 1
    assert not sheet[-64:, -64:].any()                              # blank filler
    b = load_phototour(tmp_path, "churchill", patch_size=None)
    np.testing.assert_array_equal(b.data, real64.data)
    np.testing.assert_array_equal(b.target, real64.target["label"])
    assert b.target.dtype == np.int64 and b.pairs.shape == (200, 2)
    np.testing.assert_array_equal(b.is_match, b.target[b.pairs[:, 0]] == b.target[b.pairs[:, 1]])
    assert b.is_match.sum() == 100  # half of the drawn pairs match
    small = load_phototour(tmp_path, "churchill")  # default: 32x32 like HPatches
    np.testing.assert_array_equal(small.data, resize_patches(real64.data, 32))
    # the pairs travel with the bunch: written again, the same file comes out
    again = write_phototour(b, tmp_path / "again", "churchill")
    assert ((again / "m50_200_200_0.txt").read_text()
            == (path / "m50_200_200_0.txt").read_text())
    X, y = load_phototour(tmp_path, "churchill", return_X_y=True)
    assert X.shape == (320, 32, 32) and np.array_equal(y, b.target)


def test_32_pixel_patches_read_back_exactly(tmp_path):
    rng = np.random.default_rng(0)
    data = rng.integers(0, 256, (40, 32, 32), dtype=np.uint8)
    write_phototour({"data": data, "target": np.repeat(np.arange(20), 2)}, tmp_path, "s")
    np.testing.assert_array_equal(load_phototour(tmp_path, "s").data, data)


def test_torchvision_pt_reads_to_the_same_arrays(tmp_path):
    bunch = _random_set()
    write_phototour(bunch, tmp_path, "liberty", n_pairs=100)
    folder = load_phototour(tmp_path, "liberty", patch_size=None)
    # torchvision's cache: torch.save of (uint8 patches, int64 ids, int64 (m, 3) matches)
    matches = np.c_[folder.pairs, folder.is_match]
    torch.save((torch.from_numpy(folder.data), torch.from_numpy(folder.target),
                torch.from_numpy(matches)), tmp_path / "liberty.pt")
    for size in (None, 32):
        a = load_phototour(tmp_path, "liberty", patch_size=size, source="folder")
        b = load_phototour(tmp_path, "liberty", patch_size=size, source="pt")
        for key in ("data", "target", "pairs", "is_match"):
            np.testing.assert_array_equal(a[key], b[key])
    assert load_phototour(tmp_path, "liberty", source="pt").source == tmp_path / "liberty.pt"


class _RunsCode:
    def __reduce__(self):
        return (exec, ("open('PWNED', 'w').write('x')",))


def test_pt_with_code_is_refused_without_running_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    torch.save((torch.zeros(1, 64, 64, dtype=torch.uint8), _RunsCode(), torch.zeros(0, 3)),
               tmp_path / "evil.pt")
    with pytest.raises(ValueError, match="refused without running it"):
        load_phototour(tmp_path, "evil")
    assert not (tmp_path / "PWNED").exists()
    torch.save({"not": "a tuple"}, tmp_path / "odd.pt")
    with pytest.raises(ValueError, match="three tensors"):
        load_phototour(tmp_path, "odd")
    (tmp_path / "junk.pt").write_bytes(pickle.dumps([1, 2]) + b"garbage")
    with pytest.raises(ValueError, match="junk.pt"):
        load_phototour(tmp_path, "junk")


@pytest.fixture
def folder(tmp_path):
    write_phototour(_random_set(n=600), tmp_path, "yosemite", n_pairs=50)
    return tmp_path / "yosemite"


def test_missing_sheet_is_named(folder):
    (folder / "patch0001.bmp").unlink()
    with pytest.raises(FileNotFoundError, match=r"patch0001\.bmp.*600 patches.*3 sheets"):
        load_phototour(folder.parent, "yosemite")


def test_info_shorter_than_the_patches(folder):
    info = folder / "info.txt"
    info.write_text("".join(info.read_text().splitlines(keepends=True)[:500]))
    with pytest.raises(ValueError, match=r"info\.txt is shorter than the patches.*line 501"):
        load_phototour(folder.parent, "yosemite")


def test_bad_info_line_is_named(folder):
    lines = (folder / "info.txt").read_text().splitlines(keepends=True)
    lines[6] = "12x 0\n"
    (folder / "info.txt").write_text("".join(lines))
    with pytest.raises(ValueError, match=r"info\.txt, line 7: '12x' is not an integer"):
        load_phototour(folder.parent, "yosemite")
    lines[6] = "99999999999999999999 0\n"
    (folder / "info.txt").write_text("".join(lines))
    with pytest.raises(ValueError, match=r"info\.txt, line 7: 99999999999999999999 is out of"):
        load_phototour(folder.parent, "yosemite")


def test_match_file_naming_missing_patch(folder):
    path = folder / "m50_50_50_0.txt"
    lines = path.read_text().splitlines(keepends=True)
    lines[3] = "12 1000 0 600 1001 0\n"
    path.write_text("".join(lines))
    with pytest.raises(ValueError, match=r"m50_50_50_0\.txt, line 4: patch id 600 does not "
                                         r"exist \(the set holds 600 patches"):
        load_phototour(folder.parent, "yosemite")
    lines[3] = "12 1000 0\n"
    path.write_text("".join(lines))
    with pytest.raises(ValueError, match=r"line 4: expected at least 6"):
        load_phototour(folder.parent, "yosemite")
    # without pairs the set still loads
    assert load_phototour(folder.parent, "yosemite", pairs=None).pairs is None


def test_match_file_disagreeing_with_info_warns(folder):
    path = folder / "m50_50_50_0.txt"
    lines = path.read_text().splitlines(keepends=True)
    a, _, _, b, pb, _ = lines[0].split()
    lines[0] = f"{a} 999999 0 {b} {pb} 0\n"
    path.write_text("".join(lines))
    with pytest.warns(UserWarning, match=r"line 1: point id 999999 differs"):
        b = load_phototour(folder.parent, "yosemite")
    assert not b.is_match[0]


def test_wrong_sheet_size_and_missing_set(folder):
    Image.fromarray(np.zeros((512, 1024), np.uint8)).save(folder / "patch0002.bmp")
    with pytest.raises(ValueError, match=r"patch0002\.bmp is 1024x512"):
        load_phototour(folder.parent, "yosemite")
    with pytest.raises(FileNotFoundError, match=r"neither the folder .*notredame.*notredame\.pt"):
        load_phototour(folder.parent, "notredame")


def test_pairs_choice_and_write_refusals(folder):
    write_phototour(_random_set(n=600), folder.parent, "other", n_pairs=20)
    (folder.parent / "other" / "m50_20_20_0.txt").rename(folder / "m50_20_20_0.txt")
    # auto: the largest m50 file when the standard 100k file is absent
    assert len(load_phototour(folder.parent, "yosemite").pairs) == 50
    assert len(load_phototour(folder.parent, "yosemite", pairs="m50_20_20_0.txt").pairs) == 20
    with pytest.raises(FileNotFoundError, match="m50_1_1_0.txt"):
        load_phototour(folder.parent, "yosemite", pairs="m50_1_1_0.txt")
    before = (folder / "info.txt").read_text()
    with pytest.raises(FileExistsError, match="overwrite=True"):
        write_phototour(_random_set(n=10), folder.parent, "yosemite")
    assert (folder / "info.txt").read_text() == before
    with pytest.raises(TypeError, match="uint8"):
        write_phototour({"data": np.zeros((2, 64, 64)), "target": [0, 0]}, folder.parent, "x")
    assert not (folder.parent / "x").exists()


def test_hardnet_trains_on_a_phototour_bunch(real64, tmp_path):
    from sklearn_patchdesc.describe import HardNetDescriptor
    from sklearn_patchdesc.metrics import phototour_fpr95

    # 8 points seen in 8 views each, with sparse 3-D point ids as in the real sets
    keep = (real64.target["label"] < 8) & (real64.target["image"] < 8)
    sub = {"data": real64.data[keep], "target": 1000 + 37 * real64.target["label"][keep]}
    write_phototour(sub, tmp_path, "churchill", n_pairs=64, random_state=0)
    b = load_phototour(tmp_path, "churchill")  # labels = 3-D point ids, 32x32 patches
    assert b.data.shape == (64, 32, 32) and set(np.unique(b.target)) == set(1000 + 37 * np.arange(8))
    kw = dict(max_epochs=1, batch_size=16, random_state=0)
    trained = HardNetDescriptor(**kw).fit(b.data, b.target)
    untrained = HardNetDescriptor(lr=1e-12, **kw).fit(b.data, b.target)
    D, D0 = trained.transform(b.data), untrained.transform(b.data)
    assert D.shape == (64, 128) and np.allclose(np.linalg.norm(D, axis=1), 1, atol=1e-5)
    assert np.isfinite(trained.history_[:, "train_loss"]).all()
    assert np.abs(D - D0).max() > 1e-2  # the weights moved: it trained on the point ids
    assert 0.0 <= phototour_fpr95(D, b.pairs, b.is_match) <= 1.0
