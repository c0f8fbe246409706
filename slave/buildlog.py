"""The build log: one file in the work dir, appended to as output comes."""

import os

TAIL_SIZE = 1024


class BuildLog:
    """Append-only log of the current build.

    A failed write (a full disk) must not kill the process protocol that
    is feeding us, so it is kept in ``write_error`` for the build manager
    to act on after the step.
    """

    def __init__(self, path):
        self.path = path
        self.write_error = None

    def reset(self):
        """Start an empty log for a new build."""
        self.write_error = None
        with open(self.path, "wb"):
            pass

    def write(self, data):
        try:
            with open(self.path, "ab") as f:
                f.write(data)
        except OSError as e:
            self.write_error = self.write_error or e

    def note(self, text):
        """Write one line of the slave's own commentary."""
        self.write(f"[slave] {text}\n".encode("utf-8"))

    def tail(self, size=TAIL_SIZE):
        """The last ``size`` bytes, or b'' when there is no log."""
        try:
            with open(self.path, "rb") as f:
                f.seek(0, os.SEEK_END)
                f.seek(max(0, f.tell() - size))
                return f.read()
        except FileNotFoundError:
            return b""

    def exists(self):
        return os.path.isfile(self.path)

    def remove(self):
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
