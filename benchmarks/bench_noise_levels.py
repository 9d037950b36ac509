"""Per noise level: does the shipped denoiser remove the noise it sees, and leave clean input alone?

On the noisy real held-out sequences (``boat``, ``graffiti``, ``ubc``, never
trained on) and on the same patches at any fixed gaussian sigma, prints per
level the blind noise estimate (:func:`~sklearn_patchdesc.denoise.estimate_noise_sigma`,
grey levels) of the input, of the denoised output and of the clean twin, and
the PSNR before and after. Under-smoothing leaves the output's estimate above
the clean twin's; over-smoothing pushes it below (texture removed) and, on
clean input, lowers the PSNR of the output against its own input.

    python benchmarks/bench_noise_levels.py [--pipeline taskaware-hardnet-hpatches-like]
    python benchmarks/bench_noise_levels.py --write-docs   # also store and write the docs table
    python benchmarks/bench_noise_levels.py --check-docs   # exit 1 if the docs table is stale

``--write-docs`` stores the rows in ``docs/_static/noise_levels.json`` and
writes the table of ``docs/guide/denoising.rst`` (between its
``noise-levels`` markers) from them; ``tests/test_noise_levels_docs.py``
checks that the page shows the stored run, so the table is never pasted.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from descriptor_data import noisy_heldout_set  # noqa: E402

from sklearn_patchdesc.datasets import add_patch_noise  # noqa: E402
from sklearn_patchdesc.datasets._common import image_noise_level  # noqa: E402
from sklearn_patchdesc.denoise import NoiseLevelWarning, estimate_noise_sigma  # noqa: E402
from sklearn_patchdesc.metrics import patch_psnr  # noqa: E402
from sklearn_patchdesc.pipeline import load_pretrained_pipeline  # noqa: E402


ROOT = Path(__file__).resolve().parents[1]
STORED = ROOT / "docs" / "_static" / "noise_levels.json"
PAGE = ROOT / "docs" / "guide" / "denoising.rst"
START = ".. noise-levels:start (written by benchmarks/bench_noise_levels.py --write-docs)"
END = ".. noise-levels:end"
#: rows of the docs table (the run has more gaussian levels)
DOCS_ROWS = ("N-HPatches easy", "N-HPatches hard", "N-HPatches tough", "clean input",
             "gaussian sigma 4", "gaussian sigma 32", "gaussian sigma 48")


def row(name, den, X, C):
    """Print and return one row: median noise estimates (grey levels) and PSNRs (dB)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NoiseLevelWarning)
        Z = den.transform(X)
    s_in, s_out, s_clean = (float(np.median(estimate_noise_sigma(a))) for a in (X, Z, C))
    same = np.array_equal(X, C)
    before = None if same else float(patch_psnr(C, X))
    after = float(patch_psnr(C, Z))
    shown = "inf" if before is None else f"{before:.1f}"
    print(f"{name:<22}{s_in:>9.1f}{s_out:>9.1f}{s_clean:>9.1f}{shown:>10}{after:>10.1f}")
    return {"input": name, "sigma_in": s_in, "sigma_out": s_out, "sigma_clean": s_clean,
            "psnr_in": before, "psnr_out": after}


def docs_table(stored):
    """The rst table of the docs page, with its markers, from a stored run."""
    rows = {r["input"]: r for r in stored["rows"]}
    rule = "======================  ========  ==========  ===========  =======  ========"
    lines = [START, "", rule,
             "input                   sigma in  sigma out   sigma clean  PSNR in  PSNR out", rule]
    for name in DOCS_ROWS:
        r = rows[name]
        psnr_in = "--" if r["psnr_in"] is None else f"{r['psnr_in']:.1f}"
        lines.append(f"{name:<22}  {r['sigma_in']:<8.1f}  {r['sigma_out']:<10.1f}  "
                     f"{r['sigma_clean']:<11.1f}  {psnr_in:<7}  {r['psnr_out']:.1f}")
    return "\n".join(lines + [rule, "", END])


def replace_block(text, block):
    """``text`` with the lines from the start marker to the end marker replaced by ``block``."""
    i, j = text.find(START), text.find(END)
    if i < 0 or j < i:
        raise ValueError(f"the markers {START!r} ... {END!r} are not in {PAGE}")
    return text[:i] + block + text[j + len(END):]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pipeline", default="taskaware-hardnet-hpatches-like")
    ap.add_argument("--heldout-points", type=int, default=150)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--write-docs", action="store_true",
                    help=f"store the rows in {STORED.relative_to(ROOT)} and write the table "
                         f"of {PAGE.relative_to(ROOT)}")
    ap.add_argument("--check-docs", action="store_true",
                    help="run nothing; exit 1 if the docs table is not the stored run's")
    args = ap.parse_args(argv)
    if args.check_docs:
        text = PAGE.read_text()
        stale = replace_block(text, docs_table(json.loads(STORED.read_text()))) != text
        print(f"out of date: {PAGE.relative_to(ROOT)}" if stale else "up to date")
        return 1 if stale else 0
    torch.set_num_threads(args.threads)
    den = load_pretrained_pipeline(args.pipeline)[0]
    Xn, Xc, y = noisy_heldout_set(args.heldout_points)
    level = image_noise_level(y["image"])
    print(f"{args.pipeline} denoiser; trained on estimated sigma "
          f"{den.noise_sigma_range_[0]:.1f}..{den.noise_sigma_range_[1]:.1f} (1st-99th pct)")
    print(f"{'input':<22}{'sigma in':>9}{'out':>9}{'clean':>9}{'PSNR in':>10}{'PSNR out':>10}")
    rows = [row(f"N-HPatches {lv}", den, Xn[level == lv], Xc[level == lv])
            for lv in ("easy", "hard", "tough")]
    rows.append(row("clean input", den, Xc, Xc))
    for sigma in (4, 8, 16, 24, 32, 48):
        rows.append(row(f"gaussian sigma {sigma}", den,
                        add_patch_noise(Xc, float(sigma) / 8, random_state=sigma), Xc))
    if args.write_docs:
        stored = {"command": "python benchmarks/bench_noise_levels.py "
                             + " ".join(sys.argv[1:] if argv is None else argv),
                  "pipeline": args.pipeline, "heldout_points": args.heldout_points,
                  "n_patches": int(len(Xn)), "rows": rows}
        STORED.write_text(json.dumps(stored, indent=1) + "\n")
        PAGE.write_text(replace_block(PAGE.read_text(), docs_table(stored)))
        print(f"wrote {STORED.relative_to(ROOT)} and {PAGE.relative_to(ROOT)}")
    return 0

if __name__ == "__main__":
    sys.exit(main())
