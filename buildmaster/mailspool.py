"""The outbox: mail waiting to be sent, one file per message, on disk.

Every message is written to ``<root>/mail-spool/`` before anyone tries
to send it and removed once the SMTP server has taken it, so a master
stopped at any moment loses no mail: the next one loads the spool and
sends what is there.  Files are written to a temporary name and renamed
into place, so the spool never holds half a message.  A message that
could not be sent after the allowed number of attempts moves to
``mail-spool/failed/`` for an operator to look at.
"""

import dataclasses
import datetime
import json
import os
import tempfile
import uuid

SPOOL_DIRECTORY = "mail-spool"
FAILED_DIRECTORY = "failed"
SUFFIX = ".json"


@dataclasses.dataclass
class SpooledMail:
    """One message to one recipient; ``about`` names it in log lines."""

    name: str
    sender: str
    recipient: str
    about: str
    message: str
    attempts: int = 0

    @classmethod
    def new(cls, sender, recipient, about, message):
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%S%f")
        return cls(f"{stamp}-{uuid.uuid4().hex[:12]}{SUFFIX}",
                   sender, recipient, about, message)

    def to_json(self):
        fields = dataclasses.asdict(self)
        del fields["name"]
        return json.dumps(fields, indent=1)


class SpoolError(Exception):
    """A spool file that can not be read back."""


class MailSpool:
    """The spool directory under the master's root directory."""

    def __init__(self, root):
        self.directory = os.path.join(root, SPOOL_DIRECTORY)
        self.failed_directory = os.path.join(self.directory, FAILED_DIRECTORY)
        os.makedirs(self.failed_directory, exist_ok=True)

    def path(self, mail):
        return os.path.join(self.directory, mail.name)

    def save(self, mail):
        """Write (or rewrite) ``mail``'s file atomically."""
        handle = tempfile.NamedTemporaryFile(
            "w", encoding="utf-8", dir=self.directory, prefix=".tmp-", delete=False)
        try:
            with handle:
                handle.write(mail.to_json())
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(handle.name, self.path(mail))
        except BaseException:
            os.unlink(handle.name)
            raise

    def remove(self, mail):
        os.unlink(self.path(mail))

    def fail(self, name):
        """Move spool file ``name`` to failed/; return its new path."""
        target = os.path.join(self.failed_directory, name)
        os.replace(os.path.join(self.directory, name), target)
        return target

    def names(self):
        """The spooled messages' file names, oldest first."""
        return sorted(name for name in os.listdir(self.directory)
                      if name.endswith(SUFFIX) and not name.startswith("."))

    def load(self, name):
        """The SpooledMail in file ``name``; SpoolError if it is unreadable."""
        try:
            with open(os.path.join(self.directory, name), encoding="utf-8") as handle:
                return SpooledMail(name=name, **json.load(handle))
        except (OSError, ValueError, TypeError) as error:
            raise SpoolError(f"{name}: {error}") from None
