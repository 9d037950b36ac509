"""One environment-variable prefix, SKPD_ (issue 31, item 6)."""
import subprocess
import warnings
from pathlib import Path

import pytest

from sklearn_patchdesc._env import getenv
from sklearn_patchdesc.datasets._hpatches_io import _cache_dir
from sklearn_patchdesc.datasets._splits import find_splits_file

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def clean_env(monkeypatch):
    for name in ("CACHE", "SPLITS", "TRACEBACK"):
        monkeypatch.delenv(f"SKPD_{name}", raising=False)
        monkeypatch.delenv(f"SKLEARN_PATCHDESC_{name}", raising=False)
    return monkeypatch


def test_skpd_names_are_read_and_win_over_the_deprecated_ones(clean_env, tmp_path):
    clean_env.setenv("SKPD_CACHE", str(tmp_path / "new"))
    clean_env.setenv("SKLEARN_PATCHDESC_CACHE", str(tmp_path / "old"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _cache_dir(tmp_path, True).parent.parent == tmp_path / "new"
    assert getenv("NOT_SET", "fallback") == "fallback"


def test_documented_old_names_still_work_with_a_deprecation_warning(clean_env, tmp_path):
    splits = tmp_path / "my_splits.json"
    splits.write_text("{}")
    clean_env.setenv("SKLEARN_PATCHDESC_SPLITS", str(splits))
    with pytest.warns(DeprecationWarning, match="SKLEARN_PATCHDESC_SPLITS is deprecated.*"
                                                "set SKPD_SPLITS instead"):
        assert find_splits_file() == splits
    clean_env.setenv("SKLEARN_PATCHDESC_CACHE", str(tmp_path / "old"))
    with pytest.warns(DeprecationWarning, match="SKPD_CACHE"):
        assert _cache_dir(tmp_path, True).parent.parent == tmp_path / "old"


def test_an_undocumented_old_name_is_not_read(clean_env):
    clean_env.setenv("SKLEARN_PATCHDESC_TRACEBACK", "1")
    assert getenv("TRACEBACK") is None
    clean_env.setenv("SKPD_TRACEBACK", "1")
    assert getenv("TRACEBACK") == "1"


def _without_deprecation_notes(text):
    return "\n\n".join(p for p in text.split("\n\n") if "DeprecationWarning" not in p)


def test_no_file_outside_the_env_module_uses_the_long_prefix():
    """Only ``_env.py`` reads the long names; the docs mention them in a deprecation note."""
    files = subprocess.run(["git", "ls-files", "sklearn_patchdesc", "docs", "examples",
                            "benchmarks", ".ci", "README.md", "setup.py", "setup.cfg"],
                           cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    if not files:
        pytest.skip("not a git checkout")
    users = [f for f in files if f != "sklearn_patchdesc/_env.py" and (ROOT / f).is_file()
             and "SKLEARN_PATCHDESC_" in _without_deprecation_notes(
                 (ROOT / f).read_text(errors="ignore"))]
    assert users == []
