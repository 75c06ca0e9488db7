"""Optuna's logging switches, for scripts that call them. ferrotune's
library does not log per trial, so these only record the level."""

from __future__ import annotations

import logging as _logging

CRITICAL = _logging.CRITICAL
FATAL = _logging.FATAL
ERROR = _logging.ERROR
WARNING = _logging.WARNING
WARN = _logging.WARN
INFO = _logging.INFO
DEBUG = _logging.DEBUG

_level = WARNING


def set_verbosity(verbosity: int) -> None:
    global _level
    _level = verbosity


def get_verbosity() -> int:
    return _level


def disable_default_handler() -> None:
    pass


def enable_default_handler() -> None:
    pass


def enable_propagation() -> None:
    pass


def disable_propagation() -> None:
    pass
