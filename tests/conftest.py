"""Shared pytest fixtures and paths."""
import os
from pathlib import Path

import pytest
import torch

SHARED = Path(__file__).resolve().parents[2] / "shared"
SHARED_DATA = SHARED / "data"

# the library's thread policy at a fixed count for every fit of the session, module- and
# session-scoped fixtures included: a count that followed the machine's load would make
# seeded fits differ in the last bits from one test to the next
os.environ["SKPD_THREADS"] = "2"
torch.set_num_threads(2)  # and torch's count, before any fixture fits (see _few_threads)


def shared_data_path(*parts):
    """Path of ``../shared/data/<parts>``, the real data read in place (never copied).

    Every test that reads the real data gets its path here (or from the
    :func:`shared_data` fixture), so a repository cloned alone runs green:
    when the path is absent the test is skipped with the reason, except under
    ``CI=true``, where the data must be there and its absence fails the test.
    """
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        reason = (f"real data not found at {path} (../shared/data next to the repository "
                  "is not part of a plain clone)")
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; CI=true needs it")
        pytest.skip(reason)
    return path


@pytest.fixture(scope="session")
def shared_data():
    """Path of ``../shared/data``; see :func:`shared_data_path`."""
    return shared_data_path()


@pytest.fixture(autouse=True)
def _few_threads(monkeypatch):
    """Keep torch on the two cores CI has, deterministic where possible.

    ``SKPD_THREADS`` (set for the whole session, below) pins the library's
    thread policy too: fits at different thread counts differ in the last
    bits, and a test must not depend on the machine's load.
    """
    import torch

    torch.set_num_threads(2)
