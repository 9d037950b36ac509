"""What a network estimator prints while it trains (``verbose=1``).

One stream convention for the whole package: results (tables of scores,
files written) go to stdout; everything that reports on work in progress --
the per-epoch table, progress bars, stage headers -- goes to stderr. So
``python -m sklearn_patchdesc demo > results.txt`` keeps the results clean.

- :class:`EpochLog` is skorch's ``PrintLog`` writing to stderr, coloured
  only when stderr is a terminal (and ``NO_COLOR`` is unset, see
  https://no-color.org);
- :class:`BatchProgressBar` is skorch's ``ProgressBar`` whose total is the
  length of the loaders that run the epoch (``len(PatchLoader)``: the
  batches the sampler decides), not ``len(dataset) / batch_size``.
"""
from __future__ import annotations

import os
import sys

import tqdm
from skorch.callbacks import PrintLog, ProgressBar
from skorch.utils import Ansi

__all__ = ["EpochLog", "BatchProgressBar", "use_color"]


def use_color(stream):
    """True when ANSI colours should be written to ``stream``."""
    if os.environ.get("NO_COLOR"):
        return False
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # closed stream
        return False


class EpochLog(PrintLog):
    """skorch's epoch table, on stderr, with colour only on a terminal.

    Parameters
    ----------
    keys_ignored, tablefmt, floatfmt, stralign
        As in :class:`skorch.callbacks.PrintLog`.
    sink : callable, optional
        Receives each line. By default lines are written to ``sys.stderr``
        (looked up at print time). Only printed when the net is verbose.
    color : {"auto", True, False}, default="auto"
        Highlight the best values with ANSI colours. ``"auto"``: only with
        the default sink and when stderr is a terminal.
    """

    def __init__(self, keys_ignored=None, sink=None, tablefmt="simple", floatfmt=".4f",
                 stralign="right", color="auto"):
        super().__init__(keys_ignored=keys_ignored, sink=sink, tablefmt=tablefmt,
                         floatfmt=floatfmt, stralign=stralign)
        self.color = color

    def _colored(self):
        if self.color == "auto":
            return self.sink is None and use_color(sys.stderr)
        return bool(self.color)

    def format_row(self, row, key, color):
        if self._colored():
            return super().format_row(row, key, color)
        text = super().format_row(row, key, "")
        return text.replace(Ansi.ENDC.value, "") if isinstance(text, str) else text

    def _sink(self, text, verbose):
        if not verbose:
            return
        if self.sink is None:
            print(text, file=sys.stderr, flush=True)
        else:
            self.sink(text)


class BatchProgressBar(ProgressBar):
    """skorch's ``ProgressBar`` counting the batches the loaders will yield.

    The total of an epoch is ``len(iterator)`` of the training loader plus
    that of the validation loader, asked when the epoch starts, so it matches
    the batches actually run for any sampler with an exact ``n_batches`` (a
    callback that changes the sampler does so before, e.g. in the previous
    ``on_epoch_end``). The bar is written to stderr and hidden when stderr is
    not a terminal (the epoch table still reports every epoch).
    """

    def __init__(self, detect_notebook=True, postfix_keys=None):
        super().__init__(batches_per_epoch="auto", detect_notebook=detect_notebook,
                         postfix_keys=postfix_keys)

    def _get_batches_per_epoch_phase(self, net, dataset, training):
        if dataset is None:
            return 0
        return len(net.get_iterator(dataset, training=training))

    def on_epoch_begin(self, net, dataset_train=None, dataset_valid=None, **kwargs):
        try:
            total = self._get_batches_per_epoch(net, dataset_train, dataset_valid)
        except TypeError:  # a loader without len: a bar that only counts
            total = None
        if self._use_notebook():
            self.pbar_ = tqdm.tqdm_notebook(total=total, leave=False)
        else:
            self.pbar_ = tqdm.tqdm(total=total, leave=False, file=sys.stderr, disable=None)

    def on_epoch_end(self, net, **kwargs):
        # tqdm throttles redraws: draw the final count before closing
        if not self.pbar_.disable:
            self.pbar_.refresh()
        self.pbar_.close()
