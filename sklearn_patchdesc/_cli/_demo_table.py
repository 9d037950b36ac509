"""The demo's result table: task x difficulty rows, descriptor x input columns.

The layout follows the seed tables (seed 000, section 2.3: rows Patch
Verification / Image Matching / Patch Retrieval, columns Clean / Denoised /
Noised, mAP as fractions), extended with one row per difficulty and one
column group per descriptor.
"""
from __future__ import annotations

import math

import numpy as np

TASKS = ("verification", "matching", "retrieval")
TASK_TITLES = {"verification": "Patch Verification", "matching": "Image Matching",
               "retrieval": "Patch Retrieval"}
DIFFICULTIES = ("easy", "hard", "tough", "mean")
INPUTS = ("clean", "denoised", "noisy")


def per_difficulty(report):
    """``{task: {easy, hard, tough, mean}}`` mAPs (fractions) of an HPatches report."""
    det = report.details
    out = {}
    ver = det["verification"]["per_difficulty"]
    out["verification"] = {d: _mean([k.get("ap") for k in ver[d].values()]) for d in ver}
    out["matching"] = {d: v.get("mean") for d, v in det["matching"]["per_difficulty"].items()}
    out["retrieval"] = {d: v.get("mean") for d, v in det["retrieval"]["per_difficulty"].items()}
    for task in TASKS:
        out[task]["mean"] = getattr(report, task)
    return out


def _mean(values):
    ok = [v for v in values if v is not None and not math.isnan(v)]
    return float(np.mean(ok)) if ok else float("nan")


def _fmt(v):
    return "  -  " if v is None or math.isnan(v) else f"{v:.3f}"


def build_rows(results):
    """Table rows ``(task, difficulty, [values in column order])``.

    Parameters
    ----------
    results : dict
        ``{descriptor: {input: per_difficulty(report)}}``.
    """
    rows = []
    for task in TASKS:
        for d in DIFFICULTIES:
            vals = [results[name][inp][task].get(d) for name in results for inp in INPUTS]
            rows.append((task, d, vals))
    return rows


def text_table(results, title):
    """Fixed-width text table (what the demo prints)."""
    group = 9 * len(INPUTS) - 1
    lines = [title, "",
             " " * 26 + "".join(f"| {n:<{group}s}" for n in results),
             f"{'Metric':19s}{'':7s}" + "".join(
                 "| " + "".join(f"{i.capitalize():>9s}" for i in INPUTS) for _ in results)]
    lines.append("-" * len(lines[-1]))
    for task, d, vals in build_rows(results):
        label = f"{TASK_TITLES[task] if d == 'easy' else '':19s}{d:>6s} "
        lines.append(label + "".join(
            "| " + "".join(f"{_fmt(v):>9s}" for v in vals[k:k + len(INPUTS)])
            for k in range(0, len(vals), len(INPUTS))))
        if d == "mean" and task != TASKS[-1]:
            lines.append("")
    return "\n".join(lines) + "\n"


def markdown_table(results):
    """The same table in GitHub markdown."""
    names = list(results)
    head = ["Metric", "Difficulty"] + [f"{n} {i}" for n in names for i in INPUTS]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] * 2 + ["---:"] *
                                                             (len(head) - 2)) + "|"]
    for task, d, vals in build_rows(results):
        cells = [TASK_TITLES[task], f"**{d}**" if d == "mean" else d]
        cells += [f"**{_fmt(v)}**" if d == "mean" else _fmt(v) for v in vals]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def mean_map(results, name, inp):
    """``[verification, matching, retrieval]`` mean mAP of one descriptor and input."""
    return [results[name][inp][t]["mean"] for t in TASKS]


def margins(results, name, other, inp="clean"):
    """Per-task mean mAP of ``name`` minus that of ``other``, both on input ``inp``."""
    return [a - b for a, b in zip(mean_map(results, name, inp), mean_map(results, other, inp))]


def recovery(results, name):
    """Per-task denoised-input mAP as a percentage of the clean-input mAP of ``name``."""
    return [100 * d / c for d, c in zip(mean_map(results, name, "denoised"),
                                        mean_map(results, name, "clean"))]


def psnr_change(psnr):
    """What denoising did to PSNR: raised at every level, or which levels it lowered.

    ``psnr`` is ``{"noisy": {level: dB}, "denoised": {level: dB}}``.
    """
    levels = [lv for lv in ("easy", "hard", "tough")
              if not (math.isnan(psnr["noisy"][lv]) or math.isnan(psnr["denoised"][lv]))]
    worse = [lv for lv in levels if psnr["denoised"][lv] < psnr["noisy"][lv]]
    if not worse:
        return "denoising raised PSNR at every noise level"
    return "denoising LOWERED PSNR on " + ", ".join(
        f"{lv} patches ({psnr['noisy'][lv]:.1f} -> {psnr['denoised'][lv]:.1f} dB)"
        for lv in worse)


def summary_line(results, name, psnr=None, other="SIFT"):
    """One sentence: ``name``'s lead over ``other`` on clean input, and where its mAP on
    denoised and on noisy input stands against clean input.

    Facts only: a denoised-input mAP at 100 % of the clean-input one says
    nothing about the denoiser making patches cleaner, so the sentence never
    says "recovers"; with ``psnr`` (``{"noisy": {level: dB}, "denoised":
    ...}``) it says whether denoising raised PSNR, naming every level where it
    lowered it.
    """
    gap = " / ".join(f"{v:+.3f}" for v in margins(results, name, other))
    den = " / ".join(f"{v:.1f}" for v in recovery(results, name))
    noisy = " / ".join(f"{100 * n / c:.1f}" for n, c in zip(mean_map(results, name, "noisy"),
                                                             mean_map(results, name, "clean")))
    text = (f"{name}: clean input minus {other} on clean input {gap}; mAP on denoised input "
            f"{den} %, on noisy input {noisy} % of the clean-input mAP (verification / "
            "matching / retrieval)")
    if psnr is not None:
        text += f"; {psnr_change(psnr)}"
    return text + "."
