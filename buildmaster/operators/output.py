"""What the command line prints: aligned tables for people, JSON for scripts.

A listing is a list of plain dicts (the JSON objects); a table shows some
of their keys as columns.  ``build_object`` and friends turn rows into
those dicts, so the table and the JSON always say the same thing.
"""

import json

from common import steptimes


def emit(objects, columns, as_json, empty="(none)"):
    """Print ``objects`` as a JSON list, or as a table of ``columns``
    ((header, key) pairs); an empty table prints ``empty``."""
    if as_json:
        print(json.dumps(objects, indent=2))
    elif objects:
        print("\n".join(table_lines(objects, columns)))
    else:
        print(empty)


def emit_object(obj):
    """Print what a command did as one JSON object."""
    print(json.dumps(obj, indent=2))


def table_lines(objects, columns):
    """Lines of a table whose columns are as wide as their widest cell."""
    cells = [[header for header, _ in columns]]
    cells += [[cell_text(item[key]) for _, key in columns] for item in objects]
    widths = [max(len(row[index]) for row in cells) for index in range(len(columns))]
    return ["  ".join(text.ljust(width) for text, width in zip(row, widths)).rstrip()
            for row in cells]


def cell_text(value):
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def timestamp(value):
    return value.isoformat() if value is not None else None


def age_text(seconds):
    """'12s', '5m 03s', '2h 05m', '3d 02h': the two largest units."""
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days}d {hours:02d}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def builder_object(builder):
    job = builder.currentjob
    return {
        "name": builder.name,
        "title": builder.title,
        "url": builder.url,
        "processor": builder.processor.name,
        "virtualized": builder.virtualized,
        "manual": builder.manual,
        "builderok": builder.builderok,
        "failnotes": builder.failnotes,
        "failure_count": builder.failure_count,
        "current_build": job.build_id if job is not None else None,
    }


def build_object(build, config):
    # Here, not at the top: the health package brings Twisted and Jinja2,
    # which the listings of anything but builds do without.
    from buildmaster.health.colours import colour
    spr = build.sourcepackagerelease
    return {
        "id": build.id,
        "title": build.title,
        "source": spr.name,
        "version": spr.version,
        "distribution": build.distribution.name,
        "series": build.distroseries.name,
        "arch": build.distroarchseries.architecturetag,
        "archive": build.archive.reference,
        "pocket": build.pocket.name,
        "state": build.buildstate.name,
        "colour": colour(build.buildstate.name, build.warnings),
        "warnings": build.warnings,
        "builder": _builder_name(build),
        "datecreated": timestamp(build.datecreated),
        "datebuilt": timestamp(build.datebuilt),
        "buildlog_url": file_url(config, build.buildlog),
        "dependencies": build.dependencies,
        "failure_count": build.failure_count,
        # {step: seconds} of its last attempt, as its slave's log says.
        "step_times": steptimes.ordered(build.step_times),
    }


def _builder_name(build):
    """The builder that built it, or the one building it now."""
    builder = build.builder
    if builder is None and build.buildqueue_record is not None:
        builder = build.buildqueue_record.builder
    return builder.name if builder is not None else None


def file_url(config, alias):
    """The librarian's public URL of ``alias``, None for no file."""
    if alias is None:
        return None
    from buildmaster.librarian.urls import http_url
    return http_url(config, alias)


def series_object(series):
    """A series as the CLI and the API show it."""
    parent = series.parent_series
    architectures = [{"tag": arch.architecturetag, "processor": arch.processor.name,
                      "chroot": arch.chroot is not None, "official": arch.official}
                     for arch in series.architectures]
    return {
        "series": f"{series.distribution.name}/{series.name}",
        "version": series.version, "status": series.status.name,
        "parent": parent.name if parent is not None else None,
        "nominated_arch_indep": series.nominatedarchindep.architecturetag
        if series.nominatedarchindep is not None else None,
        "architectures": architectures,
        "architectures_text": " ".join(
            f"{arch['tag']}({arch['processor']}{'' if arch['chroot'] else ', no chroot'})"
            for arch in architectures if arch["official"]) or "-",
        "external_dependencies": list(series.external_dependencies),
        "chroot_suite": series.chroot_suite, "chroot_mirror": series.chroot_mirror,
    }


def archive_object(config, archive):
    """An archive as the CLI and the API show it, never with its secret."""
    from buildmaster.archive.dependencies import archive_url
    return {"reference": archive.reference, "distribution": archive.distribution.name,
            "enabled": archive.enabled, "private": archive.private,
            "url": archive_url(config, archive, with_credentials=False)}
