"""load_image_sequences on the real data and on bad folders."""
import shutil

import numpy as np
import pytest

from sklearn_patchdesc.datasets import load_image_sequences


def test_oxford_layout(shared_data):
    seqs = load_image_sequences(shared_data / "real" / "oxford_affine")
    assert [s.name for s in seqs] == ["bikes", "boat", "graffiti", "trees", "ubc"]
    graf = seqs[2]
    assert graf.layout == "oxford" and graf.kind == "v"
    assert len(graf.images) == 6 and graf.images[0].shape == (640, 800)
    assert graf.images[0].dtype == np.uint8
    assert graf.homographies.shape == (5, 3, 3)
    assert graf.homographies[0][0, 0] == pytest.approx(0.87976964)
    assert seqs[1].images[0].shape == (680, 850)  # boat is .pgm
    assert seqs[4].kind == "i"  # ubc: identity homographies


def test_hpatches_layout_and_warp_consistency(shared_data):
    (seq,) = load_image_sequences(shared_data / "real" / "hpatches_sequences" / "v_churchill")
    assert seq.layout == "hpatches" and seq.name == "v_churchill" and seq.kind == "v"
    assert seq.images[0].shape == (1024, 768)
    # x_k ~ H x_1: sampling image k at H x_1 reproduces image 1 better than identity
    from scipy import ndimage
    ref, img2, H = seq.images[0].astype(float), seq.images[1].astype(float), seq.homographies[0]
    ys, xs = np.mgrid[300:700:4, 200:560:4]
    p = H @ np.stack([xs.ravel(), ys.ravel(), np.ones(xs.size)])
    warped = ndimage.map_coordinates(img2, [p[1] / p[2], p[0] / p[2]], order=1)
    a = ref[ys, xs].ravel()
    assert np.corrcoef(a, warped)[0, 1] > np.corrcoef(a, img2[ys, xs].ravel())[0, 1] + 0.2


def test_partial_sequence_folder(shared_data):
    root = shared_data / "real" / "hpatches_sequences"
    with pytest.raises(FileNotFoundError, match=r"v_calder.2\.ppm"):
        load_image_sequences(root)
    with pytest.warns(UserWarning, match="v_calder"):
        seqs = load_image_sequences(root, on_error="skip")
    assert [s.name for s in seqs] == ["v_churchill"]


def _copy_seq(shared_data, tmp_path):
    dst = tmp_path / "iguazu"
    shutil.copytree(shared_data / "real" / "kaze_iguazu" / "iguazu", dst)
    for p in dst.iterdir():
        p.chmod(0o644)
    return dst


def test_bad_homography_file(shared_data, tmp_path):
    dst = _copy_seq(shared_data, tmp_path)
    (dst / "H1to4p").write_text("1 0 0\n0 1 0\n")
    with pytest.raises(ValueError, match=r"H1to4p.*3x3.*\(2, 3\)"):
        load_image_sequences(dst)
    (dst / "H1to4p").write_text("1 0 x\n0 1 0\n0 0 1\n")
    with pytest.raises(ValueError, match=r"cannot parse homography file .*H1to4p"):
        load_image_sequences(dst)
    (dst / "H1to4p").unlink()
    with pytest.raises(FileNotFoundError, match="H1to4p"):
        load_image_sequences(dst)


def test_bad_image_and_missing_folder(shared_data, tmp_path):
    dst = _copy_seq(shared_data, tmp_path)
    (dst / "img3.pgm").write_bytes(b"P5 garbage")
    with pytest.raises(ValueError, match=r"img3\.pgm"):
        load_image_sequences(dst)
    with pytest.raises(FileNotFoundError, match="not found"):
        load_image_sequences(tmp_path / "missing")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="no image sequence"):
        load_image_sequences(empty)


def test_16bit_image_refused_not_clipped(tmp_path):
    from PIL import Image

    from sklearn_patchdesc.datasets._sequences import read_grey

    ramp = (np.arange(64, dtype=np.uint16).reshape(8, 8) * 1000)
    Image.fromarray(ramp).save(tmp_path / "img1.png")
    with pytest.raises(ValueError, match=r"img1\.png is a I;16.*63000.*clipped"):
        read_grey(tmp_path / "img1.png")
