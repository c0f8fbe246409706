"""Mail written inside a transaction, sent only once it commits.

A health message is held in the mail spool (on disk, fsync'd) before the
claim that says it was sent commits, and released to the mailer after:

* killed before the commit: the claim is rolled back and the next master
  tells again; the held file may then go out too, as the same message
  (same Message-ID), so nothing is lost and a list server drops the copy;
* killed after the commit: the file is in the spool and the next master's
  mailer sends it.

Holding is file I/O and may run in a thread; ``release`` must run in the
reactor's thread, where the mailer's SMTP sessions live.
"""


class Outbox:
    """Batches held in ``mailer``'s spool, waiting for their commit."""

    def __init__(self, mailer):
        self.mailer = mailer
        self.held = []

    def hold(self, about, messages):
        """Spool ``messages`` [(recipient, raw text)]; a batch, or None
        when there is nobody to send them to."""
        if not messages:
            return None
        batch = self.mailer.hold(self.mailer.config.mail.from_address, about, messages)
        self.held.append(batch)
        return batch

    def drop(self, batch):
        """The transaction was rolled back: forget ``batch``."""
        if batch is not None:
            self.held.remove(batch)
            self.mailer.drop(batch)

    def commit(self, session, *batches):
        """Commit ``session``; if that fails, roll back, drop ``batches``
        (None: nothing held) and raise."""
        try:
            session.commit()
        except Exception:
            session.rollback()
            for batch in batches:
                self.drop(batch)
            raise

    def release(self):
        """Send everything held (in the reactor's thread)."""
        held, self.held = self.held, []
        for batch in held:
            self.mailer.release(batch)
