"""Denoisers: training modes, PSNR gains, parameters, resume, pipelines, bad input.

Everything is small (16x16 patches, or 32x32 for TernausNet; a few hundred
patches; narrow networks) so the file runs in well under two minutes on 2 CPU cores.
"""
import numpy as np
import pytest
import torch
from skimage import data as skdata
from sklearn.base import clone
from sklearn.frozen import FrozenEstimator
from sklearn.pipeline import Pipeline

from sklearn_patchdesc._training import TrainingError
from sklearn_patchdesc.datasets import add_patch_noise
from sklearn_patchdesc.denoise import (
    ConvAutoencoderDenoiser,
    DnCNNDenoiser,
    GaussianDenoiser,
    NLMeansDenoiser,
    ShallowUNetDenoiser,
    TernausNetDenoiser,
    UNetDenoiser,
)
from sklearn_patchdesc.denoise._modules import VGG_CONFIGS, _vgg_features
from sklearn_patchdesc.metrics import patch_psnr


def make_patches(n, size=16, level="hard", seed=0):
    """Crops of skimage's camera image (clean) and N-HPatches-style noisy twins."""
    rng = np.random.default_rng(seed)
    img = skdata.camera()
    ys = rng.integers(0, img.shape[0] - size, n)
    xs = rng.integers(0, img.shape[1] - size, n)
    clean = np.stack([img[y:y + size, x:x + size] for y, x in zip(ys, xs)])
    noisy = add_patch_noise(clean, level, kind="gaussian", random_state=seed)
    return noisy, clean


# tiny but architecture-faithful instances of every network denoiser
NETS = {
    "shallow": lambda **kw: ShallowUNetDenoiser(module__channels=(8, 16, 16), **kw),
    "unet": lambda **kw: UNetDenoiser(depth=2, module__base_channels=8, **kw),
    "dncnn": lambda **kw: DnCNNDenoiser(depth=5, module__channels=16, **kw),
    "convae": lambda **kw: ConvAutoencoderDenoiser(
        module__channels=(8, 8, 16, 16, 16), optimizer__lbfgs_max_iter=5, **kw),
    "ternaus": lambda **kw: TernausNetDenoiser(module__base_channels=8, freeze_encoder=False,
                                               **kw),
}
SIZE = {"ternaus": 32}


@pytest.fixture(scope="module")
def train16():
    return make_patches(256, 16, seed=0)


@pytest.fixture(scope="module")
def test16():
    return make_patches(128, 16, seed=1)


@pytest.mark.parametrize("name", sorted(NETS))
def test_overfits_one_batch(name):
    size = SIZE.get(name, 8)
    noisy, clean = make_patches(8, size, seed=3)
    kw = dict(lr=3e-3, max_epochs=100) if name != "convae" else dict(max_epochs=60)
    est = NETS[name](batch_size=8, random_state=0, **kw).fit(noisy, clean)
    losses = est.history_[:, "train_loss"]
    assert losses[-1] < losses[0] / 10, (losses[0], losses[-1])


@pytest.mark.parametrize("name", sorted(NETS))
def test_brief_training_raises_psnr(name):
    size = SIZE.get(name, 16)
    noisy, clean = make_patches(256 if size == 16 else 128, size, seed=0)
    tn, tc = make_patches(64, size, seed=1)
    kw = dict(lr=3e-3, max_epochs=6, batch_size=16)
    if name == "convae":  # seed 002's hybrid optimiser and lr
        # 6 epochs were a coin toss: on this project's current CPUs seed 0 ended 1.2 dB
        # *below* the noisy input (23.1 dB) while seeds 1, 2 gained 3.5 dB; after 12 epochs
        # seeds 0, 1, 2 gain 3.3, 3.8 and 4.2 dB (2 threads)
        kw = dict(max_epochs=12, batch_size=16)
    if name == "ternaus":
        # the plain U-Net with a VGG encoder (no batch norm) leaves its initial
        # plateau late: at lr 1e-3 / 12 epochs the gain was 0.27-0.44 dB
        # depending on the thread count (below the 0.5 dB asked); lr 2e-3 /
        # 16 epochs gives 2-3 dB for seeds 0, 1, 2 on 1 and 2 threads
        kw = dict(lr=2e-3, max_epochs=16, batch_size=8)
    est = NETS[name](random_state=0, **kw).fit(noisy, clean)
    out = est.transform(tn)
    assert out.dtype == np.uint8 and out.shape == tn.shape
    assert est.score(tn, tc) > patch_psnr(tc, tn) + 0.5
    assert est.training_mode_ == "paired"


@pytest.mark.parametrize("name", sorted(NETS))
@pytest.mark.parametrize("paired", [True, False])
def test_same_random_state_gives_bit_identical_weights(name, paired):
    size = SIZE.get(name, 8)
    noisy, clean = make_patches(24, size, seed=4)

    def fit():
        est = NETS[name](max_epochs=2, batch_size=8, flip_augment=True, random_state=5)
        return est.fit(noisy, clean if paired else None).net_.module_.state_dict()

    a, b = fit(), fit()
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_noise2noise_close_to_clean_targets(train16, test16):
    noisy, clean = train16
    noisy2 = add_patch_noise(clean, "hard", kind="gaussian", random_state=7)
    tn, tc = test16
    kw = dict(max_epochs=6, batch_size=16, random_state=0)
    sup = NETS["dncnn"](**kw).fit(noisy, clean).score(tn, tc)
    n2n = NETS["dncnn"](**kw).fit(noisy, noisy2).score(tn, tc)
    base = patch_psnr(tc, tn)
    assert n2n > base + 2.0
    assert abs(sup - n2n) < 1.5, (sup, n2n)


@pytest.mark.parametrize("target", ["none", "labels", "record"])
def test_self_supervised_raises_psnr_without_clean(train16, test16, target):
    noisy, _ = train16
    tn, tc = test16
    y = {"none": None, "labels": np.arange(len(noisy)),
         "record": np.rec.fromarrays([np.arange(len(noisy)), np.full(len(noisy), "v_x"),
                                      np.zeros(len(noisy), np.int8)],
                                     names=["label", "sequence", "image"])}[target]
    est = NETS["dncnn"](max_epochs=6, batch_size=16, random_state=0).fit(noisy, y)
    assert est.training_mode_ == "neighbor2neighbor"
    assert est.score(tn, tc) > patch_psnr(tc, tn) + 1.0


def test_self_supervised_pads_for_ternausnet():
    noisy, clean = make_patches(8, 32, seed=0)
    est = NETS["ternaus"](max_epochs=1, batch_size=8, random_state=0).fit(noisy)
    assert est.transform(noisy).shape == noisy.shape


def test_layouts_and_dtypes_round_trip(train16):
    noisy, clean = train16
    est = NETS["shallow"](max_epochs=1, random_state=0).fit(noisy[:64], clean[:64])
    x = noisy[:8]
    assert est.transform(x.reshape(8, 1, 16, 16)).shape == (8, 1, 16, 16)
    assert est.transform(x.reshape(8, 256)).shape == (8, 256)
    f = est.transform(x.astype(np.float32) / 255)
    assert f.dtype == np.float32
    # float output is unclipped; uint8 output is the same values rounded and clipped
    np.testing.assert_allclose(np.clip(f * 255, 0, 255), est.transform(x).astype(np.float32),
                               atol=1.0)
    with pytest.raises(ValueError, match="expecting 256 features"):
        est.transform(make_patches(2, 8)[0])


def test_params_clone_and_module_prefix():
    est = UNetDenoiser(depth=2, module__base_channels=4, optimizer__weight_decay=1e-4)
    params = est.get_params()
    assert params["module__base_channels"] == 4 and params["depth"] == 2
    c = clone(est)
    assert c.module__base_channels == 4 and c.optimizer__weight_decay == 1e-4
    c.set_params(module__base_channels=2, depth=1, max_epochs=1)
    noisy, clean = make_patches(32, 16)
    c.fit(noisy, clean)
    assert c.net_.module_.out.in_channels == 2 and c.net_.module_.depth == 1
    # the baseline optimiser of seed 000 is reachable with set_params
    b = ShallowUNetDenoiser(max_epochs=1).set_params(optimizer="sgd", lr=1e-5,
                                                     optimizer__momentum=0.9,
                                                     optimizer__nesterov=True)
    b.fit(noisy, clean)
    group = b.net_.optimizer_.param_groups[0]
    assert isinstance(b.net_.optimizer_, torch.optim.SGD)
    assert group["lr"] == 1e-5 and group["momentum"] == 0.9 and group["nesterov"]
    with pytest.raises(TypeError, match="modul_channels"):
        ShallowUNetDenoiser(modul_channels=3, max_epochs=1).fit(noisy, clean).fit(noisy, clean)


def test_same_seed_same_model(train16):
    noisy, clean = train16
    a = NETS["dncnn"](max_epochs=1, random_state=3, flip_augment=True).fit(noisy[:64], clean[:64])
    b = NETS["dncnn"](max_epochs=1, random_state=3, flip_augment=True).fit(noisy[:64], clean[:64])
    np.testing.assert_array_equal(a.transform(noisy[:8]), b.transform(noisy[:8]))


@pytest.mark.parametrize("supervised", [True, False])
def test_interrupted_fit_resumes_from_checkpoint(tmp_path, train16, supervised):
    noisy, clean = train16
    X, y = noisy[:64], (clean[:64] if supervised else None)
    kw = dict(batch_size=16, random_state=0, flip_augment=True)
    full = NETS["dncnn"](max_epochs=4, **kw).fit(X, y)
    NETS["dncnn"](max_epochs=2, checkpoint_dir=tmp_path, **kw).fit(X, y)
    resumed = NETS["dncnn"](max_epochs=4, checkpoint_dir=tmp_path, **kw).fit(X, y)
    assert len(resumed.history_) == 4
    # only epochs 3 and 4 ran in the second fit: their batches were recorded anew
    np.testing.assert_allclose(resumed.history_[:, "train_loss"], full.history_[:, "train_loss"],
                               rtol=1e-5)
    np.testing.assert_array_equal(resumed.transform(X), full.transform(X))


def test_hybrid_optimizer_runs_lbfgs_then_sgd():
    noisy, clean = make_patches(64, 8)
    est = NETS["convae"](max_epochs=2, batch_size=16, random_state=0,
                         optimizer__lbfgs_steps=3).fit(noisy, clean)
    opt = est.net_.optimizer_
    assert opt.param_groups[0]["lbfgs_steps_done"] == 3 and not opt.in_lbfgs_phase
    assert opt.param_groups[0]["momentum"] == 0.9


def test_hybrid_lbfgs_phase_cost_is_the_documented_bound(monkeypatch):
    # issue 16.8: one epoch of 64 patches (one batch) took 320 s against Adam's 16 s;
    # the cost is documented (<= 1.25 * lbfgs_max_iter + 1 passes per L-BFGS step) and
    # counted here in forward passes, which machine load does not change
    from sklearn_patchdesc.denoise._modules import ConvAutoencoder

    calls, forward = [], ConvAutoencoder.forward
    monkeypatch.setattr(ConvAutoencoder, "forward", lambda self, x: calls.append(1) or
                        forward(self, x))

    def passes(**kw):
        calls.clear()
        ConvAutoencoderDenoiser(max_epochs=1, random_state=0, module__channels=(4, 4, 4, 4, 4),
                                **kw).fit(*make_patches(64, 16))
        return len(calls)

    base = passes(optimizer="adam", lr=1e-3)  # one training pass + the fit's own checks
    four, twenty = passes(optimizer__lbfgs_max_iter=4) - base, passes() - base
    assert 1 < four <= 5 < twenty <= 25, (base, four, twenty)


def test_xavier_positive_init_has_no_negative_weights():
    est = ConvAutoencoderDenoiser(init="xavier_positive", module__channels=(4, 4, 4, 4, 4),
                                  optimizer="adam", lr=1e-4, max_epochs=1)
    est.fit(*make_patches(16, 8))
    with pytest.raises(ValueError, match="init must be"):
        ConvAutoencoderDenoiser(init="zeros").fit(*make_patches(4, 8))


def test_frozen_denoiser_in_pipeline(train16, test16):
    noisy, clean = train16
    den = NETS["dncnn"](max_epochs=3, random_state=0).fit(noisy, clean)
    before = den.transform(noisy[:16])
    pipe = Pipeline([("denoise", FrozenEstimator(den)), ("next", GaussianDenoiser(sigma=0.0))])
    pipe.fit(noisy[:32], np.arange(32))  # labels: the frozen denoiser is not refitted
    np.testing.assert_array_equal(pipe.transform(noisy[:16]), before)
    np.testing.assert_array_equal(den.transform(noisy[:16]), before)


def test_nan_loss_stops_the_fit():
    noisy, clean = make_patches(64, 8)
    # several batches per epoch: the second batch's loss shows the divergence (with one
    # batch per epoch the end-of-epoch output check would see it first)
    est = DnCNNDenoiser(depth=3, module__channels=4, optimizer="sgd", lr=1e12, max_epochs=3,
                        batch_size=16, random_state=0)
    with pytest.raises(TrainingError, match="epoch 1, batch 2: the training loss became"):
        est.fit(noisy, clean)


@pytest.mark.parametrize("Est", [GaussianDenoiser, NLMeansDenoiser])
def test_classical_denoisers_raise_psnr(Est, test16):
    tn, tc = test16
    est = Est().fit(tn)
    out = est.transform(tn)
    assert out.dtype == np.uint8 and out.shape == tn.shape
    assert est.score(tn, tc) > patch_psnr(tc, tn) + 1.0
    assert est.transform(tn.astype(np.float64) / 255).dtype == np.float64


# ------------------------------------------------------------------ bad input
X16 = np.zeros((4, 16, 16), np.uint8)


@pytest.mark.parametrize("X, y, err, match", [
    (np.full((4, 16, 16), np.nan), None, ValueError, "NaN or infinity"),
    (np.full((4, 16, 16), np.inf), None, ValueError, "NaN or infinity"),
    (np.zeros((0, 16, 16)), None, ValueError, "0 patch"),
    (np.zeros((4, 2, 16, 16)), None, ValueError, "one channel"),
    (np.zeros((2, 2, 2, 2, 2)), None, ValueError, "rank 5"),
    (np.zeros((4, 16, 8)), None, ValueError, "non-square"),
    (np.zeros((4, 10)), None, ValueError, "square number"),
    (np.array([["a"] * 4] * 2), None, TypeError, "dtype"),
    (X16, np.zeros((4, 8, 8), np.uint8), ValueError, "y has shape"),
    (X16, np.zeros((3, 16, 16), np.uint8), ValueError, "y has shape"),
    (X16, np.arange(3), ValueError, "3 labels for 4 patches"),
    (X16, np.full((4, 16, 16), np.nan), ValueError, "NaN"),
])
def test_bad_input(X, y, err, match):
    with pytest.raises(err, match=match):
        NETS["shallow"](max_epochs=1).fit(X, y)


def test_ternausnet_size_must_be_multiple_of_32():
    with pytest.raises(ValueError, match="multiple of 32"):
        TernausNetDenoiser(max_epochs=1).fit(np.zeros((4, 16, 16), np.uint8))
    with pytest.raises(ValueError, match="encoder must be"):
        TernausNetDenoiser(encoder="vgg19").fit(np.zeros((4, 32, 32), np.uint8))


def test_not_fitted():
    from sklearn.exceptions import NotFittedError
    for est in (ShallowUNetDenoiser(), GaussianDenoiser()):
        with pytest.raises(NotFittedError):
            est.transform(X16)


# --------------------------------------------------------- VGG encoder weights
def _torchvision_like_state(encoder, base=64, seed=0):
    """Random weights in torchvision's VGG key format (features.N.*, classifier.*)."""
    torch.manual_seed(seed)
    feats = _vgg_features(VGG_CONFIGS[encoder], base)
    state = {f"features.{k}": torch.randn_like(v) for k, v in feats.state_dict().items()}
    state["classifier.0.weight"] = torch.zeros(4, 4)  # ignored
    return state


def test_ternausnet_loads_vgg_state_dict(tmp_path):
    path = tmp_path / "vgg11.pth"
    state = _torchvision_like_state("vgg11", base=8)
    torch.save(state, path)
    noisy, clean = make_patches(8, 32)
    est = TernausNetDenoiser(encoder="vgg11", encoder_weights=str(path), max_epochs=1,
                             module__base_channels=8).fit(noisy, clean)
    feats = est.net_.module_.features
    torch.testing.assert_close(feats[0].weight, state["features.0.weight"])
    torch.testing.assert_close(feats[18].bias, state["features.18.bias"])
    assert not feats[0].weight.requires_grad  # frozen by default


def test_full_size_vgg16_layout_matches_torchvision_keys(tmp_path):
    from sklearn_patchdesc.denoise._modules import TernausNet
    path = tmp_path / "vgg16.pth"
    torch.save(_torchvision_like_state("vgg16"), path)
    net = TernausNet("vgg16", encoder_weights=path)
    assert net.features[28].weight.shape == (512, 512, 3, 3)


def test_ternausnet_rejects_missing_or_mismatched_weights(tmp_path):
    X = np.zeros((4, 32, 32), np.uint8)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        TernausNetDenoiser(encoder_weights=tmp_path / "nope.pth").fit(X)
    wrong = tmp_path / "vgg16.pth"
    torch.save(_torchvision_like_state("vgg16", base=8), wrong)
    with pytest.raises(ValueError, match="no tensor 'features.*torchvision vgg11"):
        TernausNetDenoiser(encoder="vgg11", encoder_weights=wrong,
                           module__base_channels=8).fit(X)
    small = tmp_path / "small.pth"
    torch.save(_torchvision_like_state("vgg11", base=8), small)
    with pytest.raises(ValueError, match="has shape"):
        TernausNetDenoiser(encoder="vgg11", encoder_weights=small).fit(X)
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a torch file")
    with pytest.raises(ValueError, match="cannot read .*junk.pth"):
        TernausNetDenoiser(encoder_weights=junk).fit(X)
    assert not any(p.name.endswith(".tmp") for p in tmp_path.iterdir())
