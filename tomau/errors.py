"""The one exception type users see: its message is a single sentence that names the file and the fix."""


class TomauError(Exception):
    """A user-facing error. The CLI prints ``str(err)`` and exits non-zero, without a traceback."""
