"""The shipped denoise-then-describe pipeline: offline, safe, fitted, fine-tunable."""
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.pipeline import Pipeline

from sklearn_patchdesc.datasets import add_patch_noise
from sklearn_patchdesc.datasets._common import image_noise_level
from sklearn_patchdesc.denoise import ShallowUNetDenoiser, TaskAwareDenoiser
from sklearn_patchdesc.denoise._task_aware import PRETRAINED_DIR

from sklearn_patchdesc.describe._pretrained import PRETRAINED_DIR as DESC_DIR
from sklearn_patchdesc.describe._pretrained import evaluation_set
from sklearn_patchdesc.metrics import patch_psnr
from sklearn_patchdesc.pipeline import (
    list_pretrained_pipelines,
    load_pretrained_pipeline,
    pretrained_pipeline_card,
)

NAME = "taskaware-hardnet-hpatches-like"


@pytest.fixture(scope="module")
def heldout():
    """Noisy patches (N-HPatches levels) of the built-in photos no shipped network saw."""
    X_clean, y = evaluation_set(n_points=20)
    X = add_patch_noise(X_clean, image_noise_level(y["image"]), random_state=0)
    return X, X_clean, y


def test_shipped_pipeline_is_listed_with_a_complete_card_and_small_weights():
    assert NAME in list_pretrained_pipelines()
    card = pretrained_pipeline_card(NAME)
    for key in ("training_data", "command", "seed", "cpu_seconds", "git_commit",
                "heldout_real", "noise_sigma_range", "descriptor", "denoiser_params"):
        assert key in card, key
    assert set(card["heldout_real"]["mAP"]["noisy"]) == {"mean", "easy", "hard", "tough"}
    assert not set(card["training_data"]["real_sequences_held_out"]) & set(
        card["training_data"]["sequences"])
    total = sum(p.stat().st_size for folder in (PRETRAINED_DIR, DESC_DIR)
                for p in folder.glob("*.safetensors"))
    assert total <= 12 * 2 ** 20


def test_loads_fitted_and_denoises_unseen_noisy_patches(heldout):
    X, X_clean, _ = heldout
    pipe = load_pretrained_pipeline()
    assert isinstance(pipe, Pipeline) and [n for n, _ in pipe.steps] == ["denoise", "describe"]
    D = pipe.transform(X)
    assert D.shape == (len(X), 128) and D.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(D, axis=1), 1.0, atol=1e-5)
    assert patch_psnr(X_clean, pipe[0].transform(X)) > patch_psnr(X_clean, X)


def test_fit_fine_tunes_from_the_shipped_weights(heldout):
    X, _, y = heldout
    pipe = load_pretrained_pipeline()
    before = pipe[0].transform(X.astype(np.float32) / 255)
    # a learning rate of ~0: the fit starts from (and so stays at) the shipped weights
    # (the descriptor's batch-norm statistics do move in training mode, so its output
    # is not compared here; HardNetDescriptor's own tests cover pretrained starts)
    tuned = clone(pipe).set_params(denoise__max_epochs=1, denoise__lr=1e-12,
                                   describe__max_epochs=1, describe__lr=1e-12,
                                   describe__random_state=0).fit(X, y)
    assert tuned[0].training_mode_ == "neighbor2neighbor"  # labels: self-supervised
    np.testing.assert_allclose(tuned[0].transform(X.astype(np.float32) / 255), before,
                               atol=1e-5)


def test_wrong_weights_and_names_are_clear_errors():
    with pytest.raises(ValueError, match="no pretrained pipeline named 'nope'"):
        load_pretrained_pipeline("nope")
    den = TaskAwareDenoiser(ShallowUNetDenoiser(), pretrained=NAME, noise_level=None,
                            residual=pretrained_pipeline_card(NAME)["denoiser_params"]["residual"])
    with pytest.raises(ValueError, match="do not fit this denoiser"):
        den._fit_without_training()
