"""The farm report: how the farm did over a period, as figures and text.

``figures`` works out, from the rows buildmaster.health.farmdata reads,
what ``buildmaster report`` prints and the farm_report job mails (as the
seed's periodic buildbot reports did): builds per day and per state,
failure rates per builder and per architecture (red among coloured
builds), the top failing sources, regressions (lines gone red, less the
ones shown flaky), the flaky builds with both builders, the builders
out of use and for how long, and the median and 95th percentile of the
queue wait and the build time.  ``text`` lays the figures out for
people; the JSON is the figures themselves.  Both pure.
"""

import datetime
import math
import re
import statistics

from buildmaster.health.colours import COLOURS, NONE, ORANGE, RED
from buildmaster.model import BuildStatus
from buildmaster.operators.output import age_text, table_lines

TOP_SOURCES = 10
_DURATION = re.compile(r"^(\d+)([wdhm])$")
_UNITS = {"w": "weeks", "d": "days", "h": "hours", "m": "minutes"}
_STATE_ORDER = [state.name for state in BuildStatus] + ["GIVENBACK"]


def parse_duration(text):
    """'7d' -> timedelta(days=7); also w, h, m.  ValueError otherwise."""
    match = _DURATION.match(text.strip())
    if not match or int(match.group(1)) == 0:
        raise ValueError(f"{text!r} is not a duration like 7d, 12h, 30m or 2w")
    return datetime.timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def percentile(values, fraction):
    """The nearest-rank percentile of ``values`` (sorted or not)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def _spread(seconds):
    if not seconds:
        return {"builds": 0, "median_seconds": None, "p95_seconds": None}
    return {"builds": len(seconds), "median_seconds": round(statistics.median(seconds), 1),
            "p95_seconds": round(percentile(seconds, 0.95), 1)}


def _rates(rows, key):
    counts = {}
    for row in rows:
        if row["colour"] in COLOURS and row[key] is not None:
            total, red = counts.get(row[key], (0, 0))
            counts[row[key]] = (total + 1, red + (row["colour"] == RED))
    return [{key: name, "builds": total, "red": red, "failure_rate": round(red / total, 3)}
            for name, (total, red) in sorted(counts.items(),
                                             key=lambda item: (-item[1][1] / item[1][0],
                                                               item[0]))]


def _per_day(rows, since, until):
    days = {}
    day = since.date()
    while day <= (until - datetime.timedelta(microseconds=1)).date():
        days[day.isoformat()] = {}
        day += datetime.timedelta(days=1)
    for row in rows:
        states = days.setdefault(row["finished_at"].date().isoformat(), {})
        states[row["state"]] = states.get(row["state"], 0) + 1
    return [{"day": day, "total": sum(states.values()),
             "states": dict(sorted(states.items(), key=lambda item:
                                   _STATE_ORDER.index(item[0])))}
            for day, states in sorted(days.items())]


def _top_failing(rows):
    sources = {}
    for row in rows:
        if row["colour"] == RED and not row["builder_fault"]:
            entry = sources.setdefault(row["source"], {"red": 0, "versions": set(),
                                                       "arches": set()})
            entry["red"] += 1
            entry["versions"].add(row["version"])
            entry["arches"].add(row["arch"])
    ranked = sorted(sources.items(), key=lambda item: (-item[1]["red"], item[0]))
    return [{"source": name, "red": entry["red"], "versions": sorted(entry["versions"]),
             "arches": sorted(entry["arches"])} for name, entry in ranked[:TOP_SOURCES]]


def _flaky(rows):
    return [{"source": row["source"], "version": row["version"], "arch": row["arch"],
             "archive": row["archive"], "series": row["series"],
             "failed_on": row["failed_on"], "built_on": row["builder"],
             "failed_at": row["failed_at"].isoformat() if row["failed_at"] else None,
             "built_at": row["finished_at"].isoformat()}
            for row in rows if row["flaky_of_id"] is not None]


def _offline(builders, now):
    return [{"builder": each["builder"], "state": each["state"],
             "since": each["since"].isoformat() if each["since"] else None,
             "for_seconds": (int((now - each["since"]).total_seconds())
                             if each["since"] else None),
             "notes": each["notes"]} for each in builders]


def figures(rows, shown_flaky, builders, since, until, now):
    """The report's figures (a JSON-ready dict) for the outcome ``rows``
    of [since, until), the ids of failed outcomes ``shown_flaky`` later,
    and the ``builders`` out of use at ``now``."""
    colours = {colour: sum(1 for row in rows if row["colour"] == colour)
               for colour in (*COLOURS, NONE)}
    coloured = sum(colours[colour] for colour in COLOURS)
    regressions = [row for row in rows if row["change"] == "regression"
                   and not row["builder_fault"] and row["id"] not in shown_flaky]
    waits = [(row["started_at"] - row["queued_at"]).total_seconds() for row in rows
             if row["started_at"] is not None and row["queued_at"] is not None]
    times = [(row["finished_at"] - row["started_at"]).total_seconds() for row in rows
             if row["started_at"] is not None]
    return {
        "since": since.isoformat(), "until": until.isoformat(),
        "builds": {"total": len(rows), **colours,
                   "failure_rate": round(colours[RED] / coloured, 3) if coloured else None,
                   "regressions": len(regressions),
                   "flaky": sum(1 for row in rows if row["flaky_of_id"] is not None)},
        "per_day": _per_day(rows, since, until),
        "builders": _rates(rows, "builder"),
        "architectures": _rates(rows, "arch"),
        "top_failing": _top_failing(rows),
        "regressions": [{"source": row["source"], "version": row["version"],
                         "arch": row["arch"], "archive": row["archive"],
                         "series": row["series"], "state": row["state"],
                         "builder": row["builder"]} for row in regressions],
        "flaky": _flaky(rows),
        "offline": _offline(builders, now),
        "queue_wait": _spread(waits),
        "build_time": _spread(times),
    }


def _percent(rate):
    return "-" if rate is None else f"{rate * 100:.1f}%"


def _seconds(value):
    return "-" if value is None else age_text(value)


def _table(title, objects, columns):
    lines = ["", title]
    lines += table_lines(objects, columns) if objects else ["(none)"]
    return lines


def _moment(iso):
    return iso[:16].replace("T", " ") if iso else "-"


def text(report):
    """The report laid out for people, as the mail and the CLI show it."""
    builds = report["builds"]
    since, until = report["since"], report["until"]
    lines = [f"Build farm report, {_moment(since)} to {_moment(until)} UTC", "",
             f"Builds finished: {builds['total']} ({builds['green']} green, "
             f"{builds[ORANGE]} orange, {builds[RED]} red, {builds[NONE]} none); "
             f"failure rate {_percent(builds['failure_rate'])}",
             f"Regressions: {builds['regressions']}; flaky builds: {builds['flaky']}"]
    states = [state for state in _STATE_ORDER
              if any(state in day["states"] for day in report["per_day"])]
    lines += _table("Builds per day", [
        {"day": day["day"], "total": day["total"],
         **{state: day["states"].get(state, 0) for state in states}}
        for day in report["per_day"]],
        [("DAY", "day"), ("TOTAL", "total"), *[(state, state) for state in states]])
    rate_columns = [("BUILDS", "builds"), ("RED", "red"), ("RATE", "rate")]
    for title, key in (("Failure rate per builder", "builder"),
                       ("Failure rate per architecture", "arch")):
        rows = report["builders" if key == "builder" else "architectures"]
        lines += _table(title, [{**row, "rate": _percent(row["failure_rate"])}
                                for row in rows],
                        [(key.upper(), key), *rate_columns])
    lines += _table("Top failing sources", [
        {**row, "versions": " ".join(row["versions"]), "arches": " ".join(row["arches"])}
        for row in report["top_failing"]],
        [("SOURCE", "source"), ("RED", "red"), ("VERSIONS", "versions"),
         ("ARCHES", "arches")])
    lines += _table("Regressions", report["regressions"], [
        ("SOURCE", "source"), ("VERSION", "version"), ("ARCH", "arch"),
        ("ARCHIVE", "archive"), ("SERIES", "series"), ("STATE", "state"),
        ("BUILDER", "builder")])
    lines += _table("Flaky builds (failed, then built when tried again)", [
        {**row, "built_at": _moment(row["built_at"])} for row in report["flaky"]],
        [("SOURCE", "source"), ("VERSION", "version"), ("ARCH", "arch"),
         ("ARCHIVE", "archive"), ("FAILED ON", "failed_on"), ("BUILT ON", "built_on"),
         ("BUILT AT", "built_at")])
    lines += _table("Builders offline or quarantined", [
        {**row, "since": _moment(row["since"]), "for": _seconds(row["for_seconds"])}
        for row in report["offline"]],
        [("BUILDER", "builder"), ("STATE", "state"), ("SINCE", "since"), ("FOR", "for"),
         ("NOTES", "notes")])
    lines.append("")
    for title, key in (("Queue wait", "queue_wait"), ("Build time", "build_time")):
        spread = report[key]
        lines.append(f"{title}: median {_seconds(spread['median_seconds'])}, "
                     f"95th percentile {_seconds(spread['p95_seconds'])} "
                     f"({spread['builds']} builds)")
    return "\n".join(lines) + "\n"
