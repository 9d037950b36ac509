"""Numbers the docs quote from the shipped model cards are the cards' numbers.

The cards are written by the training scripts from their runs
(``benchmarks/train_pretrained.py``, ``benchmarks/train_pretrained_denoiser.py``);
when new weights ship with a new card, a page still quoting the old card fails
here (the README's printed snippet output has its own check,
``tests/test_readme_snippet.py``; the demo table, ``tests/test_demo_docs.py``).
"""
from pathlib import Path

import pytest

from sklearn_patchdesc.describe import pretrained_card
from sklearn_patchdesc.pipeline import pretrained_pipeline_card

ROOT = Path(__file__).resolve().parents[1]
TASKS = ("verification", "matching", "retrieval")


def _triple(scores, digits):
    return " / ".join(f"{scores[t]:.{digits}f}" for t in TASKS)


def _text(rel):
    return " ".join((ROOT / rel).read_text().split())  # line breaks do not matter


def _descriptor_quotes():
    card = pretrained_card("hardnet-hpatches-like")
    real = card["heldout_real"]["mAP"]
    cpu = f"{card['cpu_seconds']:,.0f}"
    return [("docs/headline_table.rst", f"scores {_triple(real['hardnet'], 3)} against SIFT's "
                                        f"{_triple(real['sift'], 3)} and RootSIFT's "
                                        f"{_triple(real['rootsift'], 3)} (model card)"),
            ("docs/descriptor_curves.rst", f"{cpu} CPU-seconds in five stages) reaches "
                                           f"{_triple(real['hardnet'], 3)}"),
            ("docs/guide/descriptors.rst", f"{cpu} CPU-s on two cores for the original runs")]


def _denoiser_quotes():
    card = pretrained_pipeline_card()
    m = {row: by_level["mean"] for row, by_level in card["heldout_real"]["mAP"].items()}
    return [("docs/guide/denoising.rst",
             f"{card['cpu_seconds']:,.0f} CPU-s in all). On its card's held-out set"),
            ("docs/guide/denoising.rst",
             f"noisy {_triple(m['noisy'], 4)}, after stage (b) alone "
             f"{_triple(m['aware_denoised'], 4)}, shipped {_triple(m['denoised'], 4)}, clean "
             f"{_triple(m['clean'], 4)}")]


@pytest.mark.parametrize("page, quote", _descriptor_quotes() + _denoiser_quotes(),
                         ids=lambda v: v if v.endswith(".rst") else "")
def test_the_docs_quote_the_shipped_cards(page, quote):
    assert quote in _text(page), f"{page} does not quote the card: expected {quote!r}"
