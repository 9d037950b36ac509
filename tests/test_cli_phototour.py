"""``evaluate DESCRIPTORS --phototour FOLDER``: FPR95 of a descriptor file on a PhotoTour set."""
import json

import numpy as np
import pytest

from sklearn_patchdesc.__main__ import main
from sklearn_patchdesc.datasets import load_phototour, write_phototour
from sklearn_patchdesc.describe import SIFTPatchDescriptor
from sklearn_patchdesc.metrics import phototour_fpr95


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    """A written PhotoTour set, SIFT descriptors of it as CSV and .npy, and their FPR95."""
    tmp = tmp_path_factory.mktemp("pt")
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (60, 64, 64))
    data = np.clip(np.repeat(base, 3, axis=0) + rng.normal(0, 20, (180, 64, 64)), 0, 255)
    write_phototour({"data": data.astype(np.uint8), "target": np.repeat(np.arange(60), 3)},
                    tmp, "yosemite", n_pairs=120)
    b = load_phototour(tmp, "yosemite")
    D = SIFTPatchDescriptor().fit(b.data).transform(b.data)
    np.savetxt(tmp / "d.csv", D, delimiter=",")
    np.save(tmp / "d.npy", D)
    want = phototour_fpr95(np.loadtxt(tmp / "d.csv", delimiter=","), b.pairs, b.is_match)
    return tmp, want


@pytest.mark.parametrize("name", ["d.csv", "d.npy"])
def test_fpr95_printed_is_the_functions(scored, capsys, name):
    tmp, want = scored
    assert main(["evaluate", str(tmp / name), "--phototour", str(tmp / "yosemite"),
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["fpr95"] == pytest.approx(want, abs=1e-12)
    assert (out["n_patches"], out["n_pairs"]) == (180, 120)
    assert 0.0 <= want < 0.5  # SIFT tells these noisy copies apart from other points
    assert main(["evaluate", str(tmp / name), "--phototour", str(tmp / "yosemite")]) == 0
    assert f"FPR at 95 % recall (l2): {100 * want:.2f} %" in capsys.readouterr().out


def test_a_descriptor_file_of_another_length_is_one_line(scored, capsys):
    tmp, _ = scored
    np.savetxt(tmp / "short.csv", np.ones((10, 4)), delimiter=",")
    assert main(["evaluate", str(tmp / "short.csv"), "--phototour",
                 str(tmp / "yosemite")]) != 0
    err = capsys.readouterr().err
    assert "holds 10 descriptors, but" in err and "has 180 patches" in err
    assert "Traceback" not in err


def test_a_missing_phototour_folder_is_one_line(scored, capsys):
    tmp, _ = scored
    assert main(["evaluate", str(tmp / "d.csv"), "--phototour", str(tmp / "liberty")]) != 0
    err = capsys.readouterr().err
    assert "PhotoTour folder not found" in err and "Traceback" not in err
