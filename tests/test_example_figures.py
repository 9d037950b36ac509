"""Readability of the gallery figures: no legend hides the data it explains.

The example is run in quick mode in this process (Agg backend, ``plt.show``
a no-op) and every axes with a legend is checked: the legend's box must not
overlap a bar, a line's points or a scatter point drawn in that axes.
"""
import runpy
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
#: examples whose figures carry a legend over data (more can be listed here)
CHECKED = ["plot_descriptor_baseline.py"]


def _data_boxes(ax):
    """Display-space boxes (x0, y0, x1, y1) of bars, and points of lines / scatters."""
    boxes = []
    for patch in ax.patches:
        ext = patch.get_window_extent()
        if ext.width > 0 and ext.height > 0:
            boxes.append(ext.extents)
    for line in ax.lines:
        xy = line.get_transform().transform(np.column_stack(line.get_data()).astype(float))
        boxes += [(x, y, x, y) for x, y in xy if np.isfinite(x) and np.isfinite(y)]
    for coll in ax.collections:
        xy = coll.get_offset_transform().transform(coll.get_offsets())
        boxes += [(x, y, x, y) for x, y in xy]
    return boxes


@pytest.mark.parametrize("name", CHECKED)
def test_legends_do_not_cover_the_data(name, monkeypatch, tmp_path):
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    monkeypatch.setenv("SKPD_EXAMPLE_QUICK", "1")
    monkeypatch.setenv("SKPD_EXAMPLE_OUT", str(tmp_path))
    monkeypatch.setattr(plt, "show", lambda *a, **k: None)
    monkeypatch.chdir(tmp_path)
    plt.close("all")
    try:
        runpy.run_path(str(ROOT / "examples" / name), run_name="__main__")
        checked = 0
        for num in plt.get_fignums():
            fig = plt.figure(num)
            fig.canvas.draw()
            for ax in fig.axes:
                legend = ax.get_legend()
                if legend is None:
                    continue
                checked += 1
                lx0, ly0, lx1, ly1 = legend.get_window_extent().extents
                hidden = [b for b in _data_boxes(ax)
                          if b[0] < lx1 and b[2] > lx0 and b[1] < ly1 and b[3] > ly0]
                assert not hidden, f"{name}: the legend of figure {num} covers {len(hidden)} " \
                                   "data element(s)"
        assert checked, f"{name} drew no legend: drop it from CHECKED"
    finally:
        plt.close("all")
