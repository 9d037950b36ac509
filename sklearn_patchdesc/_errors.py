"""Exceptions the training path raises, in a module that imports nothing of the package.

They live apart from :mod:`sklearn_patchdesc._training` so that the modules it
uses (``_checkpoint``, ``persistence``) can raise them without importing it
back; ``_training`` re-exports both under their historical names.
"""

__all__ = ["TrainingError", "StopTraining"]


class TrainingError(RuntimeError):
    """Training cannot go on: non-finite loss, collapsed descriptors, bad resume."""


class StopTraining(KeyboardInterrupt):
    """Raised by a callback to end a fit early on purpose (the fit then returns).

    skorch ends its loop on any ``KeyboardInterrupt``; the library re-raises a
    real Ctrl-C to the caller, so a deliberate stop must be told apart from
    it. skorch's own ``EarlyStopping`` raises a plain ``KeyboardInterrupt``;
    it is recognised by its ``misses_`` count (see
    :meth:`sklearn_patchdesc._training.PatchNeuralNet.fit_loop`).
    """
