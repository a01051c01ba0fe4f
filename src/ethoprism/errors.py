"""One exception type for every user-facing failure.

The CLI turns an :class:`EthoprismError` into one line ``error: <path>: <problem>`` and
exit code 2, so each raise site must say which file and what is wrong with it.
"""

from __future__ import annotations

from pathlib import Path


class EthoprismError(Exception):
    """A problem with the user's input that they can fix (bad file, unknown name, ...)."""

    def __init__(self, problem: str, path: str | Path | None = None):
        self.path = None if path is None else str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}" if self.path else problem)


def validated(schema, data, what: str, where):
    """``schema.model_validate(data)`` (pydantic), or an error naming the first field that does
    not fit: ``<where>: <what> does not fit: <field>: <problem>``."""
    from pydantic import ValidationError

    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "the file"
        raise EthoprismError(f"{what} does not fit: {field}: {first['msg']}", where) from None


def os_reason(exc: BaseException) -> str:
    """What the system said, in one line. h5py reports a full disk as several lines of HDF5
    internals ("Can't write data (file write failed: ... errno = 28, error message = 'No space
    left on device' ...)"): the errno's message is what a user needs."""
    import errno as errnos
    import os
    import re

    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    text = str(exc)
    code = re.search(r"errno\s*=\s*(\d+)", text)
    if code and int(code[1]) in errnos.errorcode:
        return os.strerror(int(code[1]))
    message = re.search(r"error message\s*=\s*'([^']+)'", text)
    if message:
        return message[1]
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0][:200] if lines else exc.__class__.__name__
