"""The outbox: mail waiting to be sent, one file per build, on disk.

A build's failure messages (one per recipient) are written together to
one file in ``<root>/mail-spool/`` before anyone tries to send them, so
a cycle that fails many builds pays one write and one fsync per build,
not per message.  The file is rewritten after each round of delivery
attempts with only the messages still unsent, and removed once all of
them have gone, so a master stopped at any moment loses no mail: the
next one loads the spool and sends what is there (a message delivered
just before a crash may be sent twice, never lost).  Files are written
to a temporary name and renamed into place, so the spool never holds
half a message.  Messages that could not be sent after the allowed
number of attempts go to a file of the same name in
``mail-spool/failed/`` for an operator to look at.

Every process that opens the spool (the daemon, a one-shot ``buildmaster
scan``) may send what is in it, so a round of attempts is claimed in the
file before it starts: under the spool's lock, a batch whose
``next_attempt`` has come is given a new one ``retry_delay`` seconds on
and written back, and only then tried.  Another holder finds it not due
and waits, so a message is tried again only once its delay has passed,
whoever holds the spool, and no two holders try it at once.

A batch may be named after what it tells (a build's failure in one job:
``hold_once``): holding it again finds it there, or finds it already
sent (a ``sent/`` entry of that name, kept 30 days), so a fact told by
a master that was killed between holding its mail and committing it,
and told again by the next one, goes out once.

A spool file is JSON::

    {"sender": "...", "about": "build 8 (...) on bob FAILEDTOUPLOAD",
     "next_attempt": 1767225600.0,
     "messages": [{"recipient": "...", "message": "<raw text>", "attempts": 0}, ...]}
"""

import dataclasses
import datetime
import fcntl
import json
import os
import time
import uuid

SPOOL_DIRECTORY = "mail-spool"
FAILED_DIRECTORY = "failed"
SENT_DIRECTORY = "sent"
SENT_KEPT_SECONDS = 30 * 86400
SUFFIX = ".json"
LOCK_NAME = ".lock"
HELD_PREFIX = ".held-"


@dataclasses.dataclass
class SpooledMessage:
    """One message to one recipient."""

    recipient: str
    message: str
    attempts: int = 0


@dataclasses.dataclass
class SpooledBatch:
    """A build's messages, all from ``sender``; ``about`` names the build
    in log lines and ``name`` is the spool file's name.  No one tries
    them before ``next_attempt`` (in the mailer's clock's seconds)."""

    name: str
    sender: str
    about: str
    messages: list
    next_attempt: float = 0.0

    @classmethod
    def new(cls, sender, about, messages, next_attempt=0.0, key=None):
        """A batch named by ``key`` (what it tells), else uniquely."""
        if key is None:
            stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%S%f")
            key = f"{stamp}-{uuid.uuid4().hex[:12]}"
        return cls(f"{key}{SUFFIX}", sender, about, list(messages), next_attempt)

    def to_json(self):
        return json.dumps({"sender": self.sender, "about": self.about,
                           "next_attempt": self.next_attempt,
                           "messages": [dataclasses.asdict(m) for m in self.messages]},
                          indent=1)

    @classmethod
    def from_json(cls, name, text):
        fields = json.loads(text)
        messages = [SpooledMessage(**message) for message in fields.pop("messages")]
        if not messages:
            raise ValueError("no messages")
        return cls(name=name, messages=messages, **fields)


class SpoolError(Exception):
    """A spool file that can not be read back."""


class MailSpool:
    """The spool directory under the master's root directory."""

    def __init__(self, root):
        self.directory = os.path.join(root, SPOOL_DIRECTORY)
        self.failed_directory = os.path.join(self.directory, FAILED_DIRECTORY)
        self.sent_directory = os.path.join(self.directory, SENT_DIRECTORY)
        os.makedirs(self.failed_directory, exist_ok=True)
        os.makedirs(self.sent_directory, exist_ok=True)
        self._forget_old_sent()

    def _forget_old_sent(self):
        horizon = time.time() - SENT_KEPT_SECONDS
        for entry in os.scandir(self.sent_directory):
            if entry.stat().st_mtime < horizon:
                os.unlink(entry.path)

    def _locked(self):
        return _SpoolLock(os.path.join(self.directory, LOCK_NAME))

    def hold_once(self, batch):
        """Save ``batch`` unless a batch of its name is in the spool (that
        one is returned) or was sent (None is)."""
        with self._locked():
            if os.path.exists(os.path.join(self.sent_directory, batch.name)):
                return None
            if os.path.exists(os.path.join(self.directory, batch.name)):
                return self.load(batch.name)
            self.save(batch)
            return batch

    def delivered(self, batch):
        """Every message of ``batch`` went out: its file goes, its name is
        remembered in sent/."""
        with self._locked():
            open(os.path.join(self.sent_directory, batch.name), "w").close()
            self.remove(batch)

    def rewrite(self, batch):
        """Write ``batch`` back as a round of attempts left it (the
        messages delivered gone), under the spool's lock: a claim of the
        same batch in another thread or process reads and writes it whole,
        so neither undoes the other (a delivered message written back
        would be sent again).  Not fsynced: losing it to the machine going
        down only repeats a delivery, and a kill -9 loses nothing."""
        with self._locked():
            self._write(self.directory, batch, durable=False)

    def claim(self, name, now, delay):
        """Claim a round of attempts at batch ``name``: (batch, None) when it
        was due at ``now`` (its next attempt is now ``delay`` seconds on,
        written), (batch, when) when it is not due until ``when``, or
        (None, None) when its file is gone (all sent, or given up).
        SpoolError for an unreadable file."""
        with self._locked():
            if not os.path.exists(os.path.join(self.directory, name)):
                return None, None
            batch = self.load(name)
            if batch.next_attempt > now:
                return batch, batch.next_attempt
            batch.next_attempt = now + delay
            # Not fsynced, as a rewrite: losing it only brings a retry forward.
            self._write(self.directory, batch, durable=False)
            return batch, None

    def save(self, batch):
        """Write ``batch``'s file atomically and durably: the mail itself."""
        self._write(self.directory, batch)

    # A batch kept back, until what it tells of is committed, is saved under
    # a dot name, which names() leaves out, so no mailer loads or sends it;
    # ``unhold`` gives it its sendable name.  The one who kept it back, or
    # whoever finds it after a crash, decides: unhold it, or remove it.

    def hold_back(self, key, sender, about, messages):
        """Save a new batch keyed ``key`` that no mailer sends yet; the batch."""
        batch = SpooledBatch.new(sender, about, messages, key=HELD_PREFIX + key)
        self.save(batch)
        return batch

    def held_back(self, key):
        """The batch held back under ``key`` and not yet unheld, or None."""
        name = f"{HELD_PREFIX}{key}{SUFFIX}"
        if not os.path.exists(os.path.join(self.directory, name)):
            return None
        return self.load(name)

    def unhold(self, batch):
        """``batch``, held back, under its sendable name, for a mailer's release."""
        name = batch.name[len(HELD_PREFIX):]
        os.replace(os.path.join(self.directory, batch.name), os.path.join(self.directory, name))
        return dataclasses.replace(batch, name=name)

    def give_up(self, batch, messages):
        """Write ``messages`` of ``batch`` to failed/; return that file's path."""
        failed = dataclasses.replace(batch, messages=messages)
        return self._write(self.failed_directory, failed)

    def fail(self, name):
        """Move spool file ``name`` to failed/ as it is; return its new path."""
        target = os.path.join(self.failed_directory, name)
        os.replace(os.path.join(self.directory, name), target)
        return target

    def names(self):
        """The spool files' names, oldest first."""
        return sorted(name for name in os.listdir(self.directory)
                      if name.endswith(SUFFIX) and not name.startswith("."))

    def load(self, name):
        """The SpooledBatch in file ``name``; SpoolError if it is unreadable."""
        try:
            with open(os.path.join(self.directory, name), encoding="utf-8") as handle:
                return SpooledBatch.from_json(name, handle.read())
        except (OSError, ValueError, TypeError, KeyError) as error:
            raise SpoolError(f"{name}: {error}") from None

    def remove(self, batch):
        """Take ``batch``'s file out of the spool, if it is still there."""
        try:
            os.unlink(os.path.join(self.directory, batch.name))
        except FileNotFoundError:
            pass

    @staticmethod
    def _write(directory, batch, durable=True):
        """Write ``batch`` to ``directory`` under a temporary name (unique,
        as the batch's name is), fsync it if ``durable`` and rename it
        into place."""
        target = os.path.join(directory, batch.name)
        temporary = os.path.join(directory, f".tmp-{batch.name}")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with open(descriptor, "w", encoding="utf-8") as handle:
                handle.write(batch.to_json())
                handle.flush()
                if durable:
                    os.fsync(descriptor)
            os.replace(temporary, target)
        except BaseException:
            os.unlink(temporary)
            raise
        return target


class _SpoolLock:
    """The spool's lock file, held exclusively (flock) within a ``with``."""

    def __init__(self, path):
        self.path = path
        self.handle = None

    def __enter__(self):
        self.handle = open(self.path, "a")
        fcntl.flock(self.handle, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc_info):
        self.handle.close()
        return False
