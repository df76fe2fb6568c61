"""Text that carries its own SHA-256, computed once from the text itself.

A hub hashes each received SD-JWT twice with the same function: once to check it
against the hop batch's signed item digest, once more for the digest it is stored
under. :class:`DigestedText` lets the second use take the first's result without
trusting anyone's word for it: its digest is never given, only computed from the
text when the object is made, and neither can change afterwards (a ``str`` is
immutable and the digest cannot be set). A copy that crosses a process boundary
(pickle, as to the receive workers) arrives as a plain ``str``: no digest is ever
read from outside the process, and a worker that does not need one pays nothing.
"""

from __future__ import annotations

import hashlib
from typing import Any, NoReturn

__all__ = ["DigestedText", "sha256_hex"]


class DigestedText(str):
    """A ``str`` with :attr:`sha256_hex`, the hex SHA-256 of its UTF-8 bytes."""

    sha256_hex: str

    def __new__(cls, text: str) -> DigestedText:
        self = super().__new__(cls, text)
        # Through __dict__: __setattr__ refuses every assignment.
        self.__dict__["sha256_hex"] = hashlib.sha256(text.encode("utf-8")).hexdigest()
        return self

    def __setattr__(self, name: str, value: Any) -> NoReturn:
        raise AttributeError(f"a DigestedText is read-only (tried to set {name})")

    def __delattr__(self, name: str) -> NoReturn:
        raise AttributeError(f"a DigestedText is read-only (tried to delete {name})")

    def __reduce__(self) -> tuple[type[str], tuple[str]]:
        # Pickled as the plain text: a digest never travels.
        return (str, (str(self),))


def sha256_hex(text: str) -> str:
    """Hex SHA-256 of ``text`` as UTF-8: a :class:`DigestedText`'s own digest, not recomputed."""
    if type(text) is DigestedText:
        return text.sha256_hex
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
