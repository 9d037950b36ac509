"""The README's two commands and CI stay in step."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _bash_blocks(text):
    return [b.strip() for b in re.findall(r"```bash\n(.*?)```", text, flags=re.S)]


def test_readme_has_exactly_two_fresh_machine_commands():
    blocks = _bash_blocks((ROOT / "README.md").read_text())
    assert len(blocks) == 2, blocks
    main_job, tests = blocks
    for command in blocks:
        assert "\n" not in command
        assert "pip install -c constraints.txt" in command
    assert main_job.endswith("python -m sklearn_patchdesc demo")
    assert tests.endswith("python -m pytest") and '".[dev]"' in tests


def test_ci_runs_the_readme_test_command_verbatim():
    test_command = _bash_blocks((ROOT / "README.md").read_text())[1]
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    assert test_command in ci_lines


def test_torch_is_pinned_to_the_local_cpu_build():
    lines = (ROOT / "constraints.txt").read_text().splitlines()
    assert "torch==2.13.0" in lines


def test_readme_explains_the_expected_failures_of_the_estimator_checks():
    text = " ".join((ROOT / "README.md").read_text().split())
    assert "About the test output" in text and "xfailed" in text and "skipped" in text
    assert "sklearn_patchdesc/utils/estimator_checks.py" in text
    assert "tests/test_patch_checks.py" in text and (ROOT / "tests" / "test_patch_checks.py").is_file()
    assert (ROOT / "sklearn_patchdesc" / "utils" / "estimator_checks.py").is_file()
