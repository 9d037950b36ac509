"""Tests that read ../shared/data skip without it, and fail without it under CI=true."""
import re
from pathlib import Path

import pytest

import conftest

TESTS = Path(__file__).resolve().parent


def test_absent_data_skips_with_the_path_as_reason(monkeypatch, tmp_path):
    monkeypatch.setattr(conftest, "SHARED_DATA", tmp_path / "nowhere")
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="real data not found at .*nowhere"):
        conftest.shared_data_path("real")
    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception):
        conftest.shared_data_path()


def test_absent_data_fails_under_ci(monkeypatch, tmp_path):
    monkeypatch.setattr(conftest, "SHARED_DATA", tmp_path / "nowhere")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="nowhere.*CI=true needs it"):
        conftest.shared_data_path("hpatches-oracle", "d1")


def test_present_data_is_returned_in_place(monkeypatch, tmp_path):
    (tmp_path / "real").mkdir()
    monkeypatch.setattr(conftest, "SHARED_DATA", tmp_path)
    monkeypatch.setenv("CI", "true")
    assert conftest.shared_data_path("real") == tmp_path / "real"


def test_every_test_reaches_the_data_through_the_helper():
    # a test that built the path itself would error (or pass vacuously) without the data
    direct = re.compile(r"SHARED_DATA|SHARED\b|parents\[2\]|shared/data\"|\"shared\"")
    offenders = [p.name for p in sorted(TESTS.glob("*.py"))
                 if p.name not in ("conftest.py", Path(__file__).name)
                 and direct.search(p.read_text())]
    assert offenders == []
