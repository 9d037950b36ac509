"""Command line under bad input, full disks and races: one line, never a traceback (issue 32)."""
import errno
import shutil
from pathlib import Path

import numpy as np
import pytest

from sklearn_patchdesc.__main__ import main
from sklearn_patchdesc.datasets import load_descriptors_csv, load_hpatches, save_descriptors_csv
from sklearn_patchdesc.describe import SIFTPatchDescriptor, load_pretrained


@pytest.fixture(autouse=True)
def _cache_in_tmp(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("SKPD_CACHE", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture(scope="module")
def patches(tmp_path_factory):
    """A small HPatches release folder written by ``make-data``."""
    out = tmp_path_factory.mktemp("data") / "hp"
    assert main(["make-data", str(out), "--n-sequences", "2", "--n-patches", "12",
                 "--random-state", "1"]) == 0
    return out


@pytest.fixture(scope="module")
def sift_dir(patches, tmp_path_factory):
    data = load_hpatches(patches, cache=False)
    D = SIFTPatchDescriptor().fit(data.data).transform(data.data)
    return save_descriptors_csv(D, data.target, tmp_path_factory.mktemp("descr"), "sift")


def _run(argv, capsys):
    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return status, out, err


def _one_line_error(err):
    lines = [ln for ln in err.splitlines() if "error:" in ln]
    assert len(lines) == 1, err
    return lines[0]


def _files_under(path):
    return sorted(str(p.relative_to(path)) for p in Path(path).rglob("*"))


# ------------------------------------------------------------------ evaluate
def test_evaluate_empty_csv_says_empty_and_names_the_file(sift_dir, tmp_path, capsys):
    bad = tmp_path / "d"
    shutil.copytree(sift_dir, bad)
    seq = sorted(p.name for p in bad.iterdir())[0]
    (bad / seq / "e2.csv").write_text("")
    status, _, err = _run(["evaluate", bad], capsys)
    line = _one_line_error(err)
    assert status == 1 and f"{bad / seq / 'e2.csv'} is empty" in line
    assert "columns" not in line


def test_evaluate_all_csvs_empty_is_one_line(sift_dir, tmp_path, capsys):
    bad = tmp_path / "d"
    shutil.copytree(sift_dir, bad)
    for p in bad.rglob("*.csv"):
        p.write_text("")
    status, _, err = _run(["evaluate", bad], capsys)
    assert status == 1 and "ref.csv is empty" in _one_line_error(err)


def test_evaluate_n_jobs_zero_is_an_argument_error(sift_dir, capsys):
    status, _, err = _run(["evaluate", sift_dir, "--n-jobs", "0"], capsys)
    assert status == 2 and "--n-jobs" in err and "-1 for all cores" in err


def test_evaluate_hamming_on_float_descriptors_names_option_and_file(sift_dir, capsys):
    status, _, err = _run(["evaluate", sift_dir, "--distance", "hamming"], capsys)
    line = _one_line_error(err)
    assert status == 1 and "--distance hamming" in line and "binary" in line
    D = load_descriptors_csv(sift_dir)
    first = sorted(D.sequence_names)[0]
    assert f"{sift_dir / first / 'ref.csv'}, line 1" in line


# ------------------------------------------------------------------ make-data --from
def _sequences(root, spoil=None):
    from PIL import Image
    from scipy.ndimage import gaussian_filter

    d = root / "v_x"
    d.mkdir(parents=True)
    rng = np.random.default_rng(0)
    img = gaussian_filter(rng.random((160, 160)) * 255, 2)
    img = (255 * (img - img.min()) / np.ptp(img)).astype(np.uint8)
    for k in range(1, 7):
        Image.fromarray(img).save(d / f"{k}.ppm")
    for k in range(2, 7):
        np.savetxt(d / f"H_1_{k}", np.eye(3))
    if spoil:
        spoil(d)
    return root


SPOILED = {
    "missing H_1_4": (lambda d: (d / "H_1_4").unlink(), "missing homography file"),
    "non-numeric": (lambda d: (d / "H_1_4").write_text("1 0 x\n0 1 0\n0 0 1\n"),
                    "cannot parse homography file"),
    "2x2": (lambda d: (d / "H_1_4").write_text("1 0\n0 1\n"), "must hold 3x3 numbers"),
    "singular": (lambda d: (d / "H_1_4").write_text("1 0 0\n1 0 0\n0 0 1\n"),
                 "is not invertible"),
    "NaN": (lambda d: (d / "H_1_4").write_text("1 0 nan\n0 1 0\n0 0 1\n"), "NaN or infinity"),
    "unreadable image": (lambda d: (d / "3.ppm").write_text("garbage"), "cannot read image"),
    "entry 1e300": (lambda d: (d / "H_1_4").write_text("1e300 0 1\n0 1 0\n0 0 1\n"),
                    "condition number 1e+300"),
}


@pytest.mark.parametrize("case", list(SPOILED))
def test_make_data_from_prints_why_each_sequence_was_skipped(case, tmp_path, capsys):
    spoil, reason = SPOILED[case]
    src = _sequences(tmp_path / "src", spoil)
    status, _, err = _run(["make-data", tmp_path / "out", "--from", src], capsys)
    line = _one_line_error(err)
    assert status == 1 and "no image sequence found" in line
    assert "v_x" in line and reason in line
    assert not (tmp_path / "out").exists()


def test_make_data_from_with_no_patch_inside_the_images_is_one_line(tmp_path, capsys):
    # a finite, well-conditioned homography that sends everything far off the image
    shift = "1 0 1e5\n0 1 1e5\n0 0 1\n"
    src = _sequences(tmp_path / "src", lambda d: (d / "H_1_4").write_text(shift))
    status, _, err = _run(["make-data", tmp_path / "out", "--from", src, "--n-patches", "10"],
                          capsys)
    line = _one_line_error(err)
    assert status == 1 and f"--from {src}" in line and "no patch fits" in line


# ------------------------------------------------------------------ full disk
def test_make_data_on_a_full_disk_is_one_line_and_leaves_nothing(tmp_path, capsys, monkeypatch):
    from PIL import Image

    def full(self, fp, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(fp))

    monkeypatch.setattr(Image.Image, "save", full)
    out = tmp_path / "out"
    status, _, err = _run(["make-data", out, "--n-sequences", "2", "--n-patches", "8"], capsys)
    line = _one_line_error(err)
    assert status == 1 and "No space left on device writing" in line
    assert _files_under(out) == []  # the temporary folder is gone too


def test_export_on_a_full_disk_is_one_line_and_leaves_nothing(patches, tmp_path, capsys,
                                                             monkeypatch):
    from sklearn_patchdesc.datasets import _descriptors_csv

    def full(fname, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(fname))

    monkeypatch.setattr(_descriptors_csv.np, "savetxt", full)
    status, _, err = _run(["export", "builtin:raw", "--data", patches, tmp_path / "out",
                           "--name", "raw"], capsys)
    line = _one_line_error(err)
    assert status == 1 and "No space left on device" in line
    assert _files_under(tmp_path / "out") == []


def test_export_reads_uncached_when_the_cache_disk_is_full(patches, tmp_path, capsys,
                                                          monkeypatch):
    from sklearn_patchdesc.datasets import _hpatches_io

    def full(path, array):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(_hpatches_io, "atomic_save_npy", full)
    status, out, err = _run(["export", "builtin:raw", "--data", patches, tmp_path / "out"],
                            capsys)
    assert status == 0 and "wrote" in out


# ------------------------------------------------------------------ export
def test_export_patch_size_other_than_the_models_is_one_line(patches, tmp_path, capsys):
    status, _, err = _run(["export", "builtin:hardnet", "--data", patches, tmp_path / "o",
                           "--patch-size", "64"], capsys)
    line = _one_line_error(err)
    assert status == 1 and "--patch-size 64" in line and "fitted on 32x32" in line
    assert not (tmp_path / "o").exists()


def test_export_builtin_hardnet_writes_the_shipped_descriptors(patches, tmp_path, capsys):
    status, out, _ = _run(["export", "builtin:hardnet", "--data", patches, tmp_path / "o",
                           "--name", "hardnet"], capsys)
    assert status == 0 and "128 dims" in out
    data = load_hpatches(patches, cache=False)
    written = load_descriptors_csv(tmp_path / "o", "hardnet")
    np.testing.assert_array_equal(written.target, data.target)
    np.testing.assert_allclose(written.data, load_pretrained().transform(data.data), atol=1e-6)


def test_export_unknown_builtin_says_how_to_export_the_shipped_one(patches, tmp_path, capsys):
    status, _, err = _run(["export", "builtin:l2net", "--data", patches, tmp_path / "o"],
                          capsys)
    line = _one_line_error(err)
    assert status == 1 and "builtin:hardnet" in line and "save()" in line


def test_export_of_a_partial_download_names_the_incomplete_sequence(patches, tmp_path, capsys):
    data = tmp_path / "partial"
    shutil.copytree(patches, data)
    seq = sorted(p.name for p in data.iterdir())[0]
    for p in (data / seq).iterdir():
        if p.name != "ref.png":
            p.unlink()
    status, _, err = _run(["export", "builtin:raw", "--data", data, tmp_path / "o"], capsys)
    line = _one_line_error(err)
    assert status == 1 and f"{seq} lacks 15 of the requested stacks" in line


# ------------------------------------------------------------------ concurrent writers
def test_a_folder_filled_meanwhile_asks_for_force_not_overwrite(tmp_path, capsys, monkeypatch):
    """Another make-data wrote the same sequence folders while this one generated."""
    from sklearn_patchdesc import datasets

    out = tmp_path / "out"
    real = datasets.make_hpatches_like

    def other_run_meanwhile(*args, **kwargs):
        bunch = real(*args, **kwargs)
        for name in bunch.sequence_names:
            (out / name).mkdir(parents=True)
            (out / name / "ref.png").write_bytes(b"theirs")
        return bunch

    monkeypatch.setattr(datasets, "make_hpatches_like", other_run_meanwhile)
    status, _, err = _run(["make-data", out, "--n-sequences", "2", "--n-patches", "8"], capsys)
    line = _one_line_error(err)
    assert status == 1 and "--force" in line and "overwrite=True" not in line
    assert "while this run was writing" in line
    assert all((out / n / "ref.png").read_bytes() == b"theirs" for n in
               [p.name for p in out.iterdir()])
