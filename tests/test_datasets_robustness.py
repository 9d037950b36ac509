"""Readers and writers under partial downloads, full disks, killed writers and odd
homographies (issue 32)."""
import errno
import os
import subprocess
import sys

import numpy as np
import pytest
from _datasets_helpers import random_bunch
from PIL import Image

from sklearn_patchdesc import _files
from sklearn_patchdesc.datasets import (load_hpatches, load_image_sequences,
                                        write_hpatches)
from sklearn_patchdesc.datasets import _common, _hpatches_io


def _enospc(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def _partial(tmp_path, keep=("ref.png",), seqs=("v_b",)):
    """An HPatches folder where ``seqs`` hold only the stacks in ``keep``."""
    write_hpatches(random_bunch(seqs=(("i_a", 3), ("v_b", 4), ("v_c", 2)), seed=1),
                   tmp_path / "hp")
    for s in seqs:
        for p in (tmp_path / "hp" / s).iterdir():
            if p.name not in keep:
                p.unlink()
    return tmp_path / "hp"


# ------------------------------------------------------------ partial download
def test_partial_download_names_every_incomplete_sequence_and_its_files(tmp_path):
    root = _partial(tmp_path, seqs=("v_b", "v_c"))
    with pytest.raises(FileNotFoundError) as info:
        load_hpatches(root, cache=False)
    msg = str(info.value)
    assert "2 of 3 sequences" in msg and "incomplete" in msg
    assert "v_b lacks 15 of the requested stacks: v_b/e1.png" in msg and "v_c lacks 15" in msg
    assert "on_error='skip'" in msg


def test_partial_download_skip_loads_the_complete_sequences(tmp_path):
    root = _partial(tmp_path)
    with pytest.warns(UserWarning, match=r"v_b lacks 15 .*leaving them out"):
        data = load_hpatches(root, cache=False, on_error="skip")
    assert data.sequence_names == ["i_a", "v_c"]
    expected = load_hpatches(root, sequences=["i_a", "v_c"], cache=False)
    np.testing.assert_array_equal(data.data, expected.data)
    # only ref.png is still readable as such
    assert load_hpatches(root, images=["ref"], cache=False).sequence_names == ["i_a", "v_b",
                                                                              "v_c"]


def test_partial_download_skip_with_nothing_complete_is_an_error(tmp_path):
    root = _partial(tmp_path, seqs=("i_a", "v_b", "v_c"))
    with pytest.raises(FileNotFoundError, match="3 of 3 sequences.*no complete sequence"):
        load_hpatches(root, cache=False, on_error="skip")
    with pytest.raises(ValueError, match="on_error must be"):
        load_hpatches(root, on_error="ignore")


# ------------------------------------------------------------ full disk
def test_full_disk_cache_falls_back_to_the_pngs_with_a_warning(tmp_path, monkeypatch):
    write_hpatches(random_bunch(seed=2), tmp_path / "hp")
    expected = load_hpatches(tmp_path / "hp", cache=False)
    monkeypatch.setattr(_hpatches_io, "atomic_save_npy", _enospc)
    cache = tmp_path / "cache"
    with pytest.warns(UserWarning, match=rf"cannot write the load_hpatches cache in "
                                         rf"{cache}.*No space left.*2 sequence"):
        data = load_hpatches(tmp_path / "hp", cache=cache)
    np.testing.assert_array_equal(data.data, expected.data)
    np.testing.assert_array_equal(data.target, expected.target)
    # mmap_mode='r' needs the cache: a clear OSError naming it
    with pytest.raises(OSError, match=rf"cannot write the load_hpatches cache in {cache}.*"
                                      "mmap_mode=None") as info:
        load_hpatches(tmp_path / "hp", cache=cache, mmap_mode="r")
    assert info.value.errno == errno.ENOSPC


# ------------------------------------------------------------ killed writers
def _dead_pid():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_temporaries_of_killed_writers_are_removed_on_the_next_write(tmp_path):
    dead, alive, host = _dead_pid(), os.getppid(), _files._host()
    other_host = "abcdef" if host != "abcdef" else "fedcba"
    stale = [tmp_path / f".model.skpd.{host}-{dead}-abcd_123.tmp",
             tmp_path / f".other.npy.{host}-{dead}-zzzzzzzz.tmp",
             tmp_path / ".old.npy.abcdefgh.tmp"]  # no writer named, two days old
    live = tmp_path / f".model.skpd.{host}-{alive}-abcdefgh.tmp"
    # another machine sharing the folder: its pid means nothing here, keep it (a day)
    elsewhere = tmp_path / f".model.skpd.{other_host}-{dead}-abcdefgh.tmp"
    for p in stale + [live, elsewhere]:
        p.write_bytes(b"half")
    two_days = os.stat(stale[2]).st_mtime - 2 * 24 * 3600
    os.utime(stale[2], (two_days, two_days))
    stale_dir = tmp_path / f".write_hpatches-tmp-{host}-{dead}-0123456789ab"
    (stale_dir / "i_a").mkdir(parents=True)
    user_file = tmp_path / ".notes.tmp"  # not a name the library makes: never touched
    user_file.write_text("mine")
    with _files.atomic_write(tmp_path / "model.skpd") as tmp:
        assert tmp.name.startswith(f".model.skpd.{host}-{os.getpid()}-")
        tmp.write_bytes(b"new")
    assert (tmp_path / "model.skpd").read_bytes() == b"new"
    assert not any(p.exists() for p in stale) and not stale_dir.exists()
    assert live.exists() and elsewhere.exists() and user_file.read_text() == "mine"


def test_a_killed_save_leaves_a_temporary_that_the_next_save_removes(tmp_path):
    code = ("import os, sys\nsys.path.insert(0, sys.argv[2])\n"
            "import importlib.util as u\n"
            "spec = u.spec_from_file_location('f', sys.argv[3]); f = u.module_from_spec(spec)\n"
            "spec.loader.exec_module(f)\n"
            "with f.atomic_write(sys.argv[1]) as tmp:\n"
            "    tmp.write_bytes(b'half')\n"
            "    os.kill(os.getpid(), 9)\n")
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "x.npy"), "",
                    _files.__file__], timeout=60)
    left = [p.name for p in tmp_path.iterdir()]
    assert len(left) == 1 and left[0].startswith(".x.npy.") and left[0].endswith(".tmp")
    _common.atomic_save_npy(tmp_path / "y.npy", np.arange(3))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["y.npy"]


def test_replace_dirs_survives_a_destination_that_appears_meanwhile(tmp_path, monkeypatch):
    """Another writer puts the destination in place between the check and the rename."""
    (tmp_path / "new").mkdir()
    (tmp_path / "new" / "mine").write_text("new")
    dest = tmp_path / "seq"
    real = os.replace
    raced = []

    def racing_replace(src, dst):
        if str(dst) == str(dest) and not raced:
            raced.append(True)
            (dest / "theirs").parent.mkdir()
            (dest / "theirs").write_text("other writer")
        return real(src, dst)

    monkeypatch.setattr(_common.os, "replace", racing_replace)
    with pytest.raises(FileExistsError, match="appeared while this one was being written") \
            as info:
        _common.replace_dirs([(tmp_path / "new", dest)], False, "sequence folder")
    assert info.value.filename == str(dest) and (dest / "theirs").exists()
    raced.clear()
    import shutil
    shutil.rmtree(dest)
    _common.replace_dirs([(tmp_path / "new", dest)], True, "sequence folder")
    assert [p.name for p in dest.iterdir()] == ["mine"]


# ------------------------------------------------------------ image sequences
def _sequence(root, name="v_x"):
    d = root / name
    d.mkdir(parents=True)
    img = np.random.default_rng(0).integers(0, 256, (48, 48)).astype(np.uint8)
    for k in range(1, 7):
        Image.fromarray(img).save(d / f"{k}.ppm")
    for k in range(2, 7):
        np.savetxt(d / f"H_1_{k}", np.eye(3))
    return d


BAD_SEQUENCES = {
    "missing H_1_4": (lambda d: (d / "H_1_4").unlink(), r"missing homography file.*H_1_4"),
    "non-numeric": (lambda d: (d / "H_1_4").write_text("1 0 x\n0 1 0\n0 0 1\n"),
                    r"cannot parse homography file .*H_1_4"),
    "2x2": (lambda d: (d / "H_1_4").write_text("1 0\n0 1\n"), r"H_1_4 must hold 3x3"),
    "singular": (lambda d: (d / "H_1_4").write_text("1 0 0\n1 0 0\n0 0 1\n"),
                 r"H_1_4 is not invertible: condition number inf"),
    "NaN": (lambda d: (d / "H_1_4").write_text("1 0 nan\n0 1 0\n0 0 1\n"),
            r"H_1_4 holds NaN"),
    "unreadable image": (lambda d: (d / "3.ppm").write_text("garbage"),
                         r"cannot read image .*3\.ppm"),
    "entry 1e300": (lambda d: (d / "H_1_4").write_text("1e300 0 1\n0 1 0\n0 0 1\n"),
                    r"H_1_4 is not invertible: condition number 1e\+300"),
    "H[2,2] = 0": (lambda d: (d / "H_1_4").write_text("1 0 0\n0 1 0\n0 1 0\n"),
                   r"H\[2, 2\] == 0"),
}


@pytest.mark.parametrize("case", list(BAD_SEQUENCES))
def test_no_sequence_found_says_why_each_folder_was_skipped(case, tmp_path):
    spoil, reason = BAD_SEQUENCES[case]
    spoil(_sequence(tmp_path / "root"))
    with pytest.raises(FileNotFoundError, match=r"no image sequence found in .*root; skipped "
                                                r"1 sub-folder\(s\): v_x: .*" + reason):
        with pytest.warns(UserWarning):
            load_image_sequences(tmp_path / "root", on_error="skip")


def test_a_uniformly_scaled_homography_is_the_same_homography(tmp_path):
    d = _sequence(tmp_path / "root")
    H = np.array([[1.1, 0.02, 3.0], [0.01, 0.9, -2.0], [1e-5, 2e-5, 1.0]])
    for scale in (1e-300, 1e300):
        np.savetxt(d / "H_1_3", H * scale)
        (seq,) = load_image_sequences(d)
        np.testing.assert_allclose(seq.homographies[1], H, rtol=1e-12)
        assert seq.kind == "v"
