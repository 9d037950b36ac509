"""One meaning of ``train_split`` in every network estimator; keyword-only
parameters; DataLoader options on the patch loader (issue 13, item 2)."""
import inspect

import numpy as np
import pytest
import torch
from skorch.dataset import ValidSplit

from sklearn_patchdesc._data import PatchDataset, PatchLoader
from sklearn_patchdesc._split import held_out_groups, held_out_rows
from sklearn_patchdesc.datasets import make_hpatches_like
from sklearn_patchdesc.denoise import ShallowUNetDenoiser
from sklearn_patchdesc.describe import L2NetDescriptor, RandomTripletSampler
from sklearn_patchdesc.inversion import FeatureInverter
from sklearn_patchdesc.utils import all_estimators


@pytest.fixture(scope="module")
def data():
    d = make_hpatches_like(n_sequences=4, n_patches_per_sequence=4, patch_size=16,
                           random_state=0)
    return d.data, d.target


def _tiny_net():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU()).eval()


def _estimators():
    quick = dict(max_epochs=1, batch_size=16, random_state=0)
    return {
        "descriptor": (L2NetDescriptor(sampler=RandomTripletSampler(16), **quick), True),
        "denoiser": (ShallowUNetDenoiser(**quick), False),
        "inverter": (FeatureInverter(_tiny_net(), layer=-1, module__hidden_channels=4,
                                     **quick), False),
    }


# ------------------------------------------------------------- the rule
def test_held_out_rows_keep_every_group_on_one_side():
    groups = np.repeat(np.array(["v_a", "v_b", "v_c", "i_a", "i_b", "i_c"]), 5)
    train, test = held_out_rows(groups, 0.35, random_state=0)
    assert set(groups[train]).isdisjoint(groups[test])
    assert len(train) + len(test) == len(groups)
    held = held_out_groups(groups, 0.35, random_state=0)
    assert len(held) == 2  # round(6 * 0.35)
    assert {h[:2] for h in held} == {"v_", "i_"}  # both kinds held out
    assert len(held_out_groups(groups, 5, random_state=1)) == 5  # a count works too
    np.testing.assert_array_equal(held, held_out_groups(groups, 0.35, random_state=0))


def test_held_out_rows_refuse_what_cannot_be_split():
    with pytest.raises(ValueError, match="two groups"):
        held_out_rows(np.zeros(10), 0.5)
    with pytest.raises(ValueError, match="at least one must stay"):
        held_out_rows(np.arange(4), 4)
    with pytest.raises(ValueError, match="test_size"):
        held_out_rows(np.arange(4), 1.5)


@pytest.mark.parametrize("kind", ["descriptor", "denoiser", "inverter"])
@pytest.mark.parametrize("bad", [0.0, 1.0, 1.5, 5, True, "0.2"])
def test_bad_train_split_is_one_clear_error_everywhere(data, kind, bad):
    X, y = data
    est, needs_y = _estimators()[kind]
    with pytest.raises(ValueError, match=r"The 'train_split' parameter of \w+ must be None, "
                                         r"a float in the range \(0.0, 1.0\) or a callable"):
        est.set_params(train_split=bad).fit(X, y if needs_y else None)


@pytest.mark.parametrize("kind", ["descriptor", "denoiser", "inverter"])
def test_fraction_holds_out_validation_and_keeps_no_copy(data, kind):
    """ShallowUNetDenoiser(train_split=0.2).fit raised TypeError: 'float' is not callable."""
    X, y = data
    est, needs_y = _estimators()[kind]
    est.set_params(train_split=0.5).fit(X, y if needs_y else None)
    histories = est.history_ if kind == "inverter" else [est.history_]  # one per net
    assert all(np.isfinite(h[-1, "valid_loss"]) for h in histories)
    nets = [n.net_ for n in est.nets_] if kind == "inverter" else [est.net_]
    assert all(net.train_split is None for net in nets)  # no held-out copy kept
    assert not {"_split", "_valid_data"} & set(vars(est))


def test_descriptor_holds_out_whole_sequences(data):
    X, y = data
    est = _estimators()["descriptor"][0].set_params(train_split=0.5).fit(X, y)
    assert len(est.valid_groups_) == 2 and set(est.valid_groups_) < set(y["sequence"])


def test_denoiser_with_record_target_holds_out_whole_sequences(data, monkeypatch):
    X, y = data
    seen = {}
    original = PatchDataset.take

    def spy(self, idx):
        seen.setdefault("rows", []).append(np.asarray(idx))
        return original(self, idx)

    monkeypatch.setattr(PatchDataset, "take", spy)
    ShallowUNetDenoiser(max_epochs=1, train_split=0.5, random_state=0).fit(X, y)
    train, valid = seen["rows"]
    seq = y["sequence"]
    assert set(seq[train]).isdisjoint(seq[valid]) and len(set(seq[valid])) == 2


@pytest.mark.parametrize("kind", ["descriptor", "denoiser"])
def test_callable_is_skorchs_train_split(data, kind):
    X, y = data
    est, needs_y = _estimators()[kind]
    est.set_params(train_split=ValidSplit(4)).fit(X, y if needs_y else None)
    assert "valid_loss" in est.history_[-1]


# --------------------------------------------------------- keyword-only
#: the data-defining arguments a meta-estimator takes first (as sklearn's Pipeline(steps))
POSITIONAL = {"FeatureInverter": ("network", "layer"),
              "FunctionDescriptor": ("func",),
              "TorchModuleDescriptor": ("module",),
              "JointDenoiseDescribe": ("denoiser", "descriptor"),
              "TaskAwareDenoiser": ("denoiser", "descriptor"),
              "TPESearchCV": ("estimator", "param_distributions")}


@pytest.mark.parametrize("name,cls", all_estimators())
def test_parameters_are_keyword_only(name, cls):
    params = list(inspect.signature(cls.__init__).parameters.values())[1:]
    positional = tuple(p.name for p in params
                       if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD))
    assert positional == POSITIONAL.get(name, ())


# ------------------------------------------------------- loader options
def test_pin_memory_is_accepted_and_changes_nothing_on_the_cpu(data):
    X, _ = data
    den = ShallowUNetDenoiser(max_epochs=1, random_state=0, iterator_train__pin_memory=True)
    plain = ShallowUNetDenoiser(max_epochs=1, random_state=0)
    np.testing.assert_allclose(den.fit(X).transform(X[:8].astype(np.float32) / 255),
                               plain.fit(X).transform(X[:8].astype(np.float32) / 255))


@pytest.mark.parametrize("option", [{"iterator_train__num_workers": 2},
                                    {"iterator_valid__persistent_workers": True},
                                    {"iterator_train__prefetch_factor": 4}])
def test_worker_options_are_refused_not_ignored(data, option):
    X, _ = data
    (key, value), = option.items()
    name = key.split("__")[1]
    with pytest.raises(ValueError, match=rf"{name}={value!r}: the patch loader uses no worker"):
        ShallowUNetDenoiser(max_epochs=1, train_split=0.25, **option).fit(X)


def test_collate_fn_and_unknown_options_are_refused_clearly(data):
    X, _ = data
    with pytest.raises(TypeError, match="collate_fn is not supported"):
        ShallowUNetDenoiser(max_epochs=1, iterator_train__collate_fn=list).fit(X)
    with pytest.raises(TypeError, match=r"unknown loader option\(s\) \['shufle'\]"):
        ShallowUNetDenoiser(max_epochs=1, iterator_train__shufle=True).fit(X)


def test_torch_samplers_cut_into_batches():
    ds = PatchDataset(np.zeros((10, 1, 2, 2), np.float32), np.arange(10))
    loader = PatchLoader(ds, batch_size=4,
                         sampler=torch.utils.data.SequentialSampler(range(10)))
    assert [yb.tolist() for _, yb in loader] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert len(loader) == 3
    loader = PatchLoader(ds, batch_sampler=[[9, 0], [5]])
    assert [yb.tolist() for _, yb in loader] == [[9, 0], [5]] and len(loader) == 2
