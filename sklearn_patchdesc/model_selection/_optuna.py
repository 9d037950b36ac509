"""Lazy access to optuna, an optional dependency (the ``[tpe]`` extra)."""

_INSTALL_HINT = (
    "TPESearchCV needs optuna, which is an optional dependency of "
    "sklearn-patchdesc. Install it with: pip install sklearn-patchdesc[tpe]"
)


def import_optuna():
    """Return the ``optuna`` module or raise an ``ImportError`` that says how to get it.

    Returns
    -------
    module
        The imported :mod:`optuna` package.

    Raises
    ------
    ImportError
        When optuna is not installed (or has been blocked in ``sys.modules``).
    """
    try:
        import optuna
    except ImportError as exc:
        raise ImportError(_INSTALL_HINT) from exc
    return optuna
