"""The descriptor shipped inside the package: file, model card, reproducible score."""
import numpy as np
import pytest

from sklearn_patchdesc.describe import (HardNetDescriptor, list_pretrained, load_pretrained,
                                        pretrained_card)
from sklearn_patchdesc.describe._pretrained import PRETRAINED_DIR, evaluation_set
from sklearn_patchdesc.metrics import hpatches_evaluate

NAME = "hardnet-hpatches-like"


def test_shipped_weights_are_small_safetensors_with_a_card():
    assert NAME in list_pretrained()
    files = list(PRETRAINED_DIR.glob("*.safetensors"))
    assert sum(f.stat().st_size for f in files) <= 8 * 2**20
    card = pretrained_card(NAME)
    for key in ("training_data", "command", "seed", "cpu_seconds", "git_commit",
                "heldout_real", "evaluation_set"):
        assert key in card, key
    assert set(card["training_data"]["real_sequences_held_out"]) >= {"boat", "graffiti"}
    assert not set(card["training_data"]["real_sequences_held_out"]) & {
        s.split("_", 1)[-1] for s in card["training_data"]["sequences"]}


def test_shipped_descriptor_reproduces_its_card_score():
    card = pretrained_card(NAME)
    est = load_pretrained(NAME)
    X, y = evaluation_set()
    scores = hpatches_evaluate(est.transform(X), y).scores
    for task, expected in card["evaluation_set"]["mAP"].items():
        assert scores[task] == pytest.approx(expected, abs=1e-4), task


def test_shipped_descriptor_beats_sift_on_the_card_set():
    from sklearn_patchdesc.describe import SIFTPatchDescriptor

    X, y = evaluation_set(n_points=40)
    learned = hpatches_evaluate(load_pretrained().transform(X), y).scores
    sift = hpatches_evaluate(SIFTPatchDescriptor().fit(X).transform(X), y).scores
    for task in ("verification", "matching", "retrieval"):
        assert learned[task] > sift[task], task


def test_fit_fine_tunes_from_the_shipped_weights():
    X, y = evaluation_set(n_points=16)
    start = load_pretrained().net_.module_.features[0].weight.detach().clone()
    est = load_pretrained(max_epochs=1, lr=0.05, batch_size=64, random_state=0).fit(X, y)
    w = est.net_.module_.features[0].weight.detach()
    change = float((w - start).abs().max())
    assert 0 < change < 0.05  # trained, and from the shipped weights, not from scratch


def test_unknown_pretrained_name_lists_the_available_ones():
    with pytest.raises(ValueError, match=f"available: '{NAME}'"):
        load_pretrained("hardnet-imagenet")
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, (16, 32, 32), dtype=np.uint8)
    with pytest.raises(ValueError, match="no pretrained descriptor named 'nope'"):
        HardNetDescriptor(pretrained="nope", max_epochs=1).fit(X, np.repeat(np.arange(8), 2))
    with pytest.raises(FileNotFoundError, match="weights file not found"):
        load_pretrained("/nonexistent/hardnet.pth")
