"""The project's error base: every refusal ``seti`` raises on purpose (bad data, config, checkpoint, run
directory, report input, observation file) is a :class:`SetiError`, so a caller (a notebook, a sweep
wrapper, a service) can tell "seti said no, with the fix in the message" from a bug with one ``except``.

Each subclass also keeps the builtin type it always had (``ValueError``, ``OSError``, ...), so existing
``except ValueError`` code still catches it. Imports nothing: every layer may use it.
"""

from __future__ import annotations


class SetiError(Exception):
    """A refusal with a message that names the file or key and the fix."""
