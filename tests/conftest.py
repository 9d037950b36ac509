"""Shared pytest fixtures and paths."""
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared"
SHARED_DATA = SHARED / "data"


@pytest.fixture(scope="session")
def shared_data():
    """Path of ``../shared/data`` (real data read in place, never copied)."""
    if not SHARED_DATA.is_dir():
        pytest.fail(f"shared data folder not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(autouse=True)
def _few_threads(monkeypatch):
    """Keep torch on the two cores CI has, deterministic where possible."""
    import torch

    torch.set_num_threads(2)
