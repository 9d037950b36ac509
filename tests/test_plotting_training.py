"""plot_embedding / plot_training_history return matplotlib figures."""
import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from sklearn_patchdesc.plotting import plot_embedding, plot_training_history  # noqa: E402


def test_plot_embedding_healthy_and_collapsed():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(6), 10)
    healthy = rng.standard_normal((6, 16))[labels] + 0.1 * rng.standard_normal((60, 16))
    fig = plot_embedding(healthy, labels, random_state=0)
    assert isinstance(fig, Figure) and len(fig.axes) == 1
    assert "mean pairwise distance" in fig.axes[0].get_title()
    collapsed = np.ones((60, 16)) + 1e-6 * rng.standard_normal((60, 16))
    fig2 = plot_embedding(collapsed, labels, max_points=30, title="collapsed", keep_scale=True)
    assert fig2.axes[0].get_title() == "collapsed"
    pts = np.concatenate([c.get_offsets() for c in fig2.axes[0].collections])
    assert len(pts) == 30 and np.abs(pts).max() < 1e-3  # collapsed: one spot at this scale
    with pytest.raises(ValueError, match="NaN"):
        plot_embedding(np.full((5, 3), np.nan), np.arange(5))


def test_plot_training_history_marks_batch_size_steps():
    rows = [{"epoch": e, "train_loss": 1.0 / e, "stage_batch_size": b,
             "collapse_threshold": 1.0, "valid_hpatches_mean": 0.1 * e,
             "valid_hpatches_mean_best": True, "probe_distance": 0.5}
            for e, b in zip(range(1, 6), (32, 32, 64, 64, 128))]
    rows[-1]["collapsed"] = True
    fig = plot_training_history(rows)
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert texts == ["batch 64", "batch 128"]
    labels = [ln.get_label() for ln in fig.axes[1].lines if not ln.get_label().startswith("_")]
    assert labels == ["valid_hpatches_mean", "probe_distance"]
    fig1 = plot_training_history([{"epoch": 1, "train_loss": 0.5}])
    assert len(fig1.axes) == 1
    with pytest.raises(ValueError, match="history"):
        plot_training_history([])


def test_plot_training_history_of_a_fitted_estimator():
    from sklearn_patchdesc.describe import L2NetDescriptor

    rng = np.random.default_rng(0)
    X = rng.random((24, 16, 16)).astype(np.float32)
    y = np.repeat(np.arange(8), 3)
    est = L2NetDescriptor(max_epochs=1, batch_size=24, random_state=0).fit(X, y)
    assert isinstance(plot_training_history(est), Figure)
    assert isinstance(plot_training_history(est.net_), Figure)
