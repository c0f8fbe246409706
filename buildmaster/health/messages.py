"""The text of the health messages: colour transitions to the status
list, builder transitions to the buildd admins, the farm report.

Each function returns what ``BuildMailer.hold`` takes: [(recipient, raw
message)].  The Message-ID is made from what the message is about (an
outcome's id, a builder's change, a report's period), so a copy sent
twice after a crash at the worst moment is the same message to a list
server that drops duplicates.
"""

import email.message
import email.policy
import email.utils

import jinja2

from buildmaster.health.transitions import EXPLAINED
from buildmaster.librarian.urls import http_url

_POLICY = email.policy.default.clone(linesep="\n")
_templates = jinja2.Environment(
    loader=jinja2.PackageLoader("buildmaster", "templates"),
    undefined=jinja2.StrictUndefined, keep_trailing_newline=True, trim_blocks=True,
    autoescape=False)


def raw_messages(config, recipients, subject, body, message_id, date, headers=()):
    """[(recipient, raw text)] of one message to each recipient."""
    messages = []
    for recipient in recipients:
        message = email.message.EmailMessage(policy=_POLICY)
        message["From"] = config.mail.from_address
        message["To"] = recipient
        message["Subject"] = subject
        message["Date"] = email.utils.format_datetime(date)
        message["Message-ID"] = message_id
        for name, value in headers:
            message[name] = value
        message.set_content(body, cte=_encoding(body))
        messages.append((recipient, message.as_string()))
    return messages


def _encoding(body):
    """7bit for plain ASCII text (read as it is, long URLs and all),
    quoted-printable otherwise."""
    if body.isascii() and all(len(line) <= 998 for line in body.splitlines()):
        return "7bit"
    return "quoted-printable"


def message_id(config, local):
    domain = config.mail.from_address.rpartition("@")[2] or "localhost"
    return f"<{local}@{domain}>"


def log_location(config, alias):
    if alias is None:
        return "not available"
    if alias.restricted:
        return "not public (private archive): ask a build administrator"
    return http_url(config, alias)


def state_text(outcome):
    """'FULLYBUILT', 'FULLYBUILT with 2 warnings', 'FAILEDTOBUILD'."""
    if outcome.state == "FULLYBUILT" and outcome.warnings:
        plural = "s" if outcome.warnings != 1 else ""
        return f"FULLYBUILT with {outcome.warnings} warning{plural}"
    return outcome.state


def _side(config, outcome):
    if outcome is None:
        return None
    return {
        "source": outcome.build.sourcepackagerelease.name,
        "version": outcome.build.sourcepackagerelease.version,
        "build": outcome.build_id, "state": outcome.state,
        "state_text": state_text(outcome), "colour": outcome.colour,
        "warnings": outcome.warnings,
        "builder": outcome.builder.name if outcome.builder else "no builder",
        "log": log_location(config, outcome.buildlog),
    }


def transition(config, outcome, previous, flaky_of, now):
    """The status list's message about ``outcome`` after ``previous``
    (None for a line's first build); ``flaky_of`` the failed attempt of
    the same version, if any."""
    build = outcome.build
    arch = build.distroarchseries.architecturetag
    archive, series = build.archive.reference, build.distroseries.name
    subject = (f"{build.sourcepackagerelease.name}: {state_text(outcome)} on {arch} "
               f"in {archive} {series}")
    if previous is not None:
        subject += (f", was {state_text(previous)} in "
                    f"{previous.build.sourcepackagerelease.version}")
    modes = config.status.mode
    body = _templates.get_template("status-transition.txt").render(
        change=outcome.change, now=_side(config, outcome), before=_side(config, previous),
        flaky_builder=(flaky_of.builder.name if flaky_of is not None and flaky_of.builder
                       else "another builder"),
        archive=f"{archive} ({build.archive.displayname})",
        series=f"{build.distribution.name} {series}", arch=arch,
        excerpt=outcome.excerpt.splitlines() if outcome.excerpt else None,
        excerpt_source="upload log" if outcome.state == "FAILEDTOUPLOAD" else "build log",
        mailing_list=", ".join(config.status.mailing_list),
        told=" and ".join(EXPLAINED[mode] for mode in modes), modes=", ".join(modes))
    return raw_messages(
        config, config.status.mailing_list, subject, body,
        message_id(config, f"status-outcome-{outcome.id}"), now,
        headers=[("X-Buildmaster-Colour", outcome.colour),
                 ("X-Buildmaster-Change", outcome.change)])


def builder_transition(config, builder, was, state, since, notes, builds, now):
    """The buildd admins' message about ``builder`` going from ``was`` to
    ``state`` (OK, FAILED or QUARANTINED); ``builds`` are lines naming the
    builds a quarantine requeued."""
    words = {"OK": "back in use", "FAILED": "failed", "QUARANTINED": "quarantined"}
    body = _templates.get_template("builder-transition.txt").render(
        name=builder.name, url=builder.url, processor=builder.processor.name,
        state=state, was=was, since=f"{since:%Y-%m-%d %H:%M:%S} UTC", notes=notes,
        builds=builds, count=len(builds), seconds=config.status.quarantine_seconds)
    return raw_messages(
        config, config.mail.buildd_admins, f"Builder {builder.name} {words[state]}",
        body, message_id(config, f"builder-{builder.id}-{state.lower()}-"
                                 f"{now:%Y%m%d%H%M%S%f}"), now,
        headers=[("X-Buildmaster-Builder-State", state)])
