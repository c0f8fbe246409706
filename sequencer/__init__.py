"""The task sequencer: the farm's periodic jobs, run one at a time.

Each job (the slave scanner, the queue builder, the dispatcher...) runs
again ``mindelay`` seconds after it last finished; the job due first runs
next, and never two at once, so no two jobs fight over the same rows.  A
job is an external command or an in-process callable; a job that fails
(non-zero exit, exception, or running past its ``timeout``) is logged
and mailed to the ``[sequencer] mailer_targets``, and the loop carries
on with the next job: nothing a job does stops the sequencer.

``log``, ``failure_message`` and ``sendmail`` are looked up here at the
moment they are used, so a test can replace them, as the seed did with
``sequencer.log = MockLogger()``.
"""

import logging

from twisted.logger import Logger
from twisted.python.failure import Failure

_logger = Logger(namespace="sequencer")


class TwistedLog:
    """``msg`` and ``err`` forwarding to the twistd log."""

    def msg(self, text):
        _logger.info("{text}", text=text)

    def err(self, what):
        """Log an error message, or a Failure with its traceback (so this
        can be a Deferred's errback)."""
        if isinstance(what, Failure):
            _logger.failure("sequencer error", failure=what)
        else:
            _logger.error("{text}", text=what)


log = TwistedLog()


def routine(text):
    """Log a line every run writes (a job scheduled, a clean exit): at
    debug in the daemon, which shows INFO and above, so an idle farm's log
    stays quiet; through ``log.msg`` when a test has replaced ``log``, as
    the seed's doctest does and prints."""
    if isinstance(log, TwistedLog):
        logging.getLogger("sequencer").debug(text)
    else:
        log.msg(text)

# The text mailed (and logged) when a job fails; filled from a dict with
# from, to, job, exitcode, cmd, log and errlog.
failure_message = """\
From: %(from)s
To: %(to)s
Subject: buildmaster job %(job)s failed with exit code %(exitcode)d

The buildmaster job %(job)s failed with exit code %(exitcode)d.

Command: %(cmd)s

Output:
%(log)s

Error output:
%(errlog)s
"""


def sendmail(host, fromaddr, to, msg, port=25):
    """Send ``msg`` (text with headers) to ``to`` through ``host:port``;
    a Deferred.  The SMTP client's factory logs no start and stop lines."""
    import io

    from twisted.internet import defer, reactor
    from twisted.mail import smtp
    sent = defer.Deferred()
    factory = smtp.SMTPSenderFactory(fromaddr, [to], io.BytesIO(msg.encode("utf-8")), sent)
    factory.noisy = False
    reactor.connectTCP(host, port, factory)
    return sent


from sequencer.job import BuildSequencerJob, TIMEOUT_EXIT_CODE  # noqa: E402
from sequencer.service import BuildSequencer  # noqa: E402

__all__ = ["BuildSequencer", "BuildSequencerJob", "TIMEOUT_EXIT_CODE", "failure_message",
           "log", "routine", "sendmail"]
