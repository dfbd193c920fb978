"""One exception type for every failure a user can cause, so the CLI can print it as one line."""


class TextrecError(Exception):
    """A user-facing error: bad input, missing file, failed download. Message is one line."""

    exit_code = 1


class InputError(TextrecError):
    """The input (image, archive, model file) is unreadable or out of bounds."""

    exit_code = 2


class LimitError(InputError):
    """The input is over a size limit (bytes or pixels); servers answer 413 for it."""


class UnsafePathError(InputError):
    """A path read from untrusted data (an export, a labels.tsv) that leads out of its folder."""
