"""HardNet recipe: loss, schedule, estimator, published-weight layouts."""
import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone

from sklearn_patchdesc.describe import (HardNetDescriptor, HardNetLoss, L2Net, LinearDecayLR,
                                        PKSampler, TFeat, load_hardnet_weights,
                                        load_pretrained)
from sklearn_patchdesc.describe._hardnet_loss import pair_indices


def _loop_hardnet_loss(a, p, la, lp, margin, swap):
    """HardNet's loss written as plain loops (the reference)."""
    n = len(a)
    d = np.sqrt(((a[:, None, :] - p[None, :, :]) ** 2).sum(-1) + 1e-6)
    total = 0.0
    for i in range(n):
        negs = [d[i, j] for j in range(n) if lp[j] != la[i] and d[i, j] >= 0.008]
        if swap:
            negs += [d[j, i] for j in range(n) if la[j] != lp[i] and d[j, i] >= 0.008]
        neg = min(negs) if negs else np.inf
        total += max(0.0, margin + d[i, i] - neg)
    return total / n


@pytest.mark.parametrize("swap", [True, False])
@pytest.mark.parametrize("margin", [1.0, 0.3])
def test_hardnet_loss_matches_loop_reference(swap, margin):
    g = torch.Generator().manual_seed(0)
    emb = torch.nn.functional.normalize(torch.randn(24, 8, generator=g, dtype=torch.float64), dim=1)
    labels = torch.arange(12).repeat_interleave(2)  # PKSampler(S=12, K=2) layout
    loss = HardNetLoss(margin=margin, anchor_swap=swap)(emb, labels)
    e = emb.numpy()
    ref = _loop_hardnet_loss(e[0::2], e[1::2], np.arange(12), np.arange(12), margin, swap)
    assert loss.item() == pytest.approx(ref, abs=1e-9)


def test_anchor_swap_never_lowers_the_loss_and_duplicates_are_not_mined():
    g = torch.Generator().manual_seed(1)
    emb = torch.nn.functional.normalize(torch.randn(16, 8, generator=g), dim=1)
    labels = torch.arange(8).repeat_interleave(2)
    assert (HardNetLoss(anchor_swap=True)(emb, labels)
            >= HardNetLoss(anchor_swap=False)(emb, labels) - 1e-7)
    # a negative that is an exact copy of the anchor is a duplicate: not mined
    dup = emb.clone()
    dup[3] = dup[0]
    ref = _loop_hardnet_loss(dup[0::2].numpy(), dup[1::2].numpy(), np.arange(8), np.arange(8),
                             1.0, True)
    assert HardNetLoss()(dup, labels).item() == pytest.approx(ref, abs=1e-6)


def test_pairs_from_labels_any_layout():
    labels = torch.tensor([5, 5, 5, 5, 2, 2, 7, 9, 9])
    a, p = pair_indices(labels)
    pairs = sorted(zip(a.tolist(), p.tolist()))
    assert pairs == [(0, 1), (2, 3), (4, 5), (7, 8)]  # the lone 7 is left out
    # same-label pairs are never each other's negatives: a perfect embedding
    # (one point per label) of a K=4 batch has loss 0 with margin < distance
    emb = torch.nn.functional.normalize(torch.eye(4)[torch.tensor([0, 0, 0, 0, 1, 1, 2, 3, 3])]
                                        .float(), dim=1)
    assert HardNetLoss(margin=1.0)(emb, labels).item() == pytest.approx(0.0, abs=1e-3)


def test_hardnet_loss_refuses_a_batch_without_two_pairs():
    with pytest.raises(ValueError, match="at least two anchor/positive pairs"):
        HardNetLoss()(torch.randn(3, 4), torch.tensor([0, 0, 1]))


def test_sos_regulariser_zero_for_identical_geometry_and_gradients_finite():
    g = torch.Generator().manual_seed(2)
    x = torch.nn.functional.normalize(torch.randn(10, 8, generator=g), dim=1)
    emb = torch.stack([x, x], 1).reshape(20, 8).requires_grad_(True)  # a_i == p_i
    labels = torch.arange(10).repeat_interleave(2)
    plain = HardNetLoss()(emb, labels)
    with_sos = HardNetLoss(sos_weight=1.0, sos_k=4)(emb, labels)
    assert with_sos.item() == pytest.approx(plain.item(), abs=1e-3)
    moved = emb.detach().clone()
    moved[1::2] = torch.nn.functional.normalize(moved[1::2] + 0.5 * torch.randn(10, 8, generator=g), dim=1)
    moved.requires_grad_(True)
    loss = HardNetLoss(sos_weight=1.0, sos_k=4)(moved, labels)
    assert loss.item() > HardNetLoss()(moved, labels).item() + 1e-3
    loss.backward()
    assert torch.isfinite(moved.grad).all()


@pytest.fixture(scope="module")
def generated():
    from sklearn_patchdesc.datasets import make_hpatches_like

    return make_hpatches_like(n_sequences=3, n_patches_per_sequence=24, random_state=3)


@pytest.fixture
def small(generated):
    """Two training sequences x 24 points x 16 images (768 patches)."""
    keep = generated.target["sequence"] != np.unique(generated.target["sequence"])[-1]
    return generated.data[keep], generated.target[keep]


def test_estimator_defaults_are_hardnets_recipe(small):
    X, y = small
    est = HardNetDescriptor(max_epochs=1, batch_size=32, random_state=0).fit(X, y)
    assert isinstance(est.sampler_, PKSampler)
    assert (est.sampler_.n_labels_per_batch, est.sampler_.n_per_label) == (None, 2)
    assert est.history_[0, "batches", 0, "train_batch_size"] == 32  # 16 pairs
    group = est.net_.optimizer_.param_groups[0]
    assert (group["momentum"], group["dampening"], group["weight_decay"]) == (0.9, 0.9, 1e-4)
    assert isinstance(est.net_.criterion_, HardNetLoss)
    assert est.net_.module_.features[18].p == 0.3
    D = est.transform(X)
    assert D.shape == (len(X), 128) and D.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(D, axis=1), 1.0, atol=1e-5)
    # Adam gets none of SGD's options
    est = HardNetDescriptor(max_epochs=1, batch_size=32, optimizer="adam", lr=1e-3,
                            random_state=0).fit(X, y)
    assert "momentum" not in est.net_.optimizer_.param_groups[0]


@pytest.mark.parametrize("rate", [{"lr": 0.5}, {"optimizer__lr": 0.5}])
def test_linear_decay_reaches_zero_over_the_fit(small, rate):
    # the schedule starts from the optimizer's real rate, however it was set: skorch lets
    # optimizer__lr win over lr (the schedule used to read lr and train at the default)
    X, y = small
    lrs = []

    from skorch.callbacks import Callback

    class Record(Callback):
        def on_batch_end(self, net, training=None, **kw):
            if training:
                lrs.append(net.optimizer_.param_groups[0]["lr"])

    est = HardNetDescriptor(max_epochs=2, batch_size=64, random_state=0,
                            callbacks=[("rec", Record())], **rate).fit(X, y)
    total = est.net_.callbacks_[[n for n, _ in est.net_.callbacks_].index("lr_schedule")][1]
    T = total.total_steps_
    assert len(lrs) == T
    np.testing.assert_allclose(lrs, 0.5 * (1 - np.arange(T) / T), rtol=1e-12)


def test_training_beats_random_weights_on_held_out_sequences(generated):
    from sklearn_patchdesc.metrics import hpatches_evaluate

    b = generated
    test = np.isin(b.target["sequence"], np.unique(b.target["sequence"])[-1:])
    est = HardNetDescriptor(max_epochs=3, batch_size=64, random_state=0)
    untrained = HardNetDescriptor(max_epochs=1, lr=1e-12, batch_size=64, random_state=0)
    est.fit(b.data[~test], b.target[~test])
    untrained.fit(b.data[~test], b.target[~test])
    tasks = ("verification", "matching")  # one test sequence: no retrieval distractors
    trained_map = hpatches_evaluate(est.transform(b.data[test]), b.target[test],
                                    tasks=tasks).scores
    random_map = hpatches_evaluate(untrained.transform(b.data[test]), b.target[test],
                                   tasks=tasks).scores
    assert trained_map["matching"] > random_map["matching"] + 0.05
    assert trained_map["verification"] > random_map["verification"]


def test_clone_and_nested_params(small):
    est = HardNetDescriptor(criterion__sos_weight=1.0, batch_size=16)
    c = clone(est)
    assert c.get_params()["criterion__sos_weight"] == 1.0
    assert c.get_params()["batch_size"] == 16
    # a criterion instance keeps its own arguments; nested names reach it
    est = HardNetDescriptor(criterion=HardNetLoss(margin=0.5), max_epochs=1, batch_size=32)
    est.set_params(criterion__anchor_swap=False)
    X, y = small
    crit = est.fit(X, y).net_.criterion_
    assert (crit.margin, crit.anchor_swap) == (0.5, False)
    assert repr(HardNetLoss(margin=0.5)) == "HardNetLoss(margin=0.5)"


# ------------------------------------------------------- published weights
def _kornia_hardnet():
    kornia_feature = pytest.importorskip("kornia.feature")
    torch.manual_seed(0)
    k = kornia_feature.HardNet(pretrained=False)  # random weights: no download
    with torch.no_grad():  # non-trivial BatchNorm statistics, as trained weights have
        for m in k.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.3, 0.3)
                m.running_var.uniform_(0.5, 2.0)
    return k.eval()


@pytest.mark.parametrize("layout", ["kornia", "dagnyt"])
def test_kornia_and_dagnyt_state_dicts_give_the_same_descriptors(tmp_path, layout):
    k = _kornia_hardnet()
    state = k.state_dict()
    path = tmp_path / "hardnet.pth"
    if layout == "dagnyt":  # DagnyT/hardnet checkpoint, saved from DataParallel
        torch.save({"epoch": 9, "state_dict": {f"module.{n}": t for n, t in state.items()}}, path)
    else:
        torch.save(state, path)
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, (40, 32, 32), dtype=np.uint8)
    est = load_pretrained(path)
    ours = est.transform(X)
    with torch.no_grad():
        theirs = k(torch.from_numpy(X).float().div(255).unsqueeze(1)).numpy()
    assert np.abs(ours - theirs).max() <= 1e-5


def test_safetensors_weights_load_and_fit_fine_tunes_from_them(tmp_path, small):
    from safetensors.torch import save_file

    k = _kornia_hardnet()
    path = tmp_path / "hardnet.safetensors"
    save_file({n: t.contiguous() for n, t in k.state_dict().items()}, str(path))
    X, y = small
    est = HardNetDescriptor(pretrained=str(path), max_epochs=1, lr=1e-9, batch_size=32,
                            random_state=0).fit(X, y)
    w0 = k.state_dict()["features.0.weight"]
    np.testing.assert_allclose(est.net_.module_.features[0].weight.detach().numpy(),
                               w0.numpy(), atol=1e-6)


def test_wrong_weights_name_the_first_mismatching_tensor(tmp_path):
    state = L2Net(out_features=64).state_dict()
    with pytest.raises(ValueError, match=r"'features.19.weight' has shape \(64, 128, 8, 8\)"):
        load_hardnet_weights(L2Net(), state)
    state = L2Net().state_dict()
    del state["features.3.weight"]
    with pytest.raises(ValueError, match="no tensor 'features.3.weight'"):
        load_hardnet_weights(L2Net(), state)
    state = dict(L2Net().state_dict(), extra=torch.zeros(1))
    with pytest.raises(ValueError, match="'extra'"):
        load_hardnet_weights(L2Net(), state)


class _Boom:
    def __reduce__(self):
        import os

        return (os.system, ("touch /tmp/skpd_pwned_by_pickle",))


def test_weights_file_is_never_unpickled(tmp_path):
    import os

    marker = "/tmp/skpd_pwned_by_pickle"
    if os.path.exists(marker):
        os.remove(marker)
    path = tmp_path / "evil.pth"
    with open(path, "wb") as fh:
        pickle.dump({"state_dict": {"features.0.weight": _Boom()}}, fh)
    with pytest.raises(ValueError, match="cannot read"):
        load_hardnet_weights(L2Net(), path)
    assert not os.path.exists(marker)


def test_schedule_resumes_where_it_stopped():
    cb = LinearDecayLR()

    class Net:
        max_epochs = 3
        history = [{"batches": [{"train_loss": 1}] * 4 + [{"valid_loss": 1}]}]

        def get_dataset(self, X, y):
            return X

        def get_iterator(self, ds, training):
            return range(4)

        # a resumed optimizer: its decayed rate and its starting one, both restored
        optimizer_ = type("Opt", (), {"param_groups": [{"lr": 0.75, "initial_lr": 1.0}]})()

    net = Net()
    cb.on_train_begin(net, X=None)
    assert (cb.total_steps_, cb.step_) == (12, 4)
    cb.on_batch_begin(net, training=True)
    assert net.optimizer_.param_groups[0]["lr"] == pytest.approx(1.0 * (1 - 4 / 12))


# ------------------------------------------------------------- TFeat trunk
def test_kornia_tfeat_state_dict_gives_the_same_descriptor_directions(tmp_path):
    kornia_feature = pytest.importorskip("kornia.feature")
    torch.manual_seed(0)
    k = kornia_feature.TFeat(pretrained=False).eval()  # random weights: no download
    path = tmp_path / "tfeat.pth"
    torch.save(k.state_dict(), path)
    X = np.random.default_rng(0).integers(0, 256, (40, 32, 32), dtype=np.uint8)
    est = load_pretrained(path, trunk="tfeat")
    assert isinstance(est.net_.module_, TFeat)
    ours = est.transform(X)
    with torch.no_grad():
        theirs = k(torch.from_numpy(X).float().div(255).unsqueeze(1))
    theirs = torch.nn.functional.normalize(theirs, dim=1).numpy()  # kornia returns tanh as is
    assert np.abs(ours - theirs).max() <= 1e-5
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)


def test_tfeat_trunk_trains_and_is_smaller_than_l2net(small):
    X, y = small
    est = HardNetDescriptor(trunk="tfeat", max_epochs=2, batch_size=32, lr=0.1,
                            random_state=0).fit(X, y)
    assert isinstance(est.net_.module_, TFeat)
    assert est.transform(X).shape == (len(X), 128)
    losses = est.history_[:, "train_loss"]
    assert np.all(np.isfinite(losses))
    n_params = sum(p.numel() for p in est.net_.module_.parameters())
    assert n_params < sum(p.numel() for p in L2Net().parameters()) / 2
    # other square sizes are resized inside the network, as for L2-Net
    assert TFeat()(torch.zeros(3, 1, 48, 48)).shape == (3, 128)


def test_bad_trunk_and_l2net_weights_into_tfeat_are_named():
    X = np.zeros((8, 32, 32), np.uint8)
    with pytest.raises(ValueError, match=r"trunk must be one of \['l2net', 'tfeat'\]"):
        HardNetDescriptor(trunk="vgg").fit(X, np.repeat(np.arange(4), 2))
    with pytest.raises(ValueError, match="kornia.feature.TFeat"):
        load_hardnet_weights(TFeat(), L2Net().state_dict())
    with pytest.raises(ValueError, match="at least 20"):
        TFeat(input_size=16)
