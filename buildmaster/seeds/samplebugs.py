"""The bug-tracker part of the sample world (seed 004's story).

Two more people (``test@canonical.com``, the sample person, and
``no-priv@canonical.com``), bugs 1 to 10, five external trackers and
their watches:

* ``mozilla.org`` (https://bugzilla.mozilla.org/) watches remote bugs
  2000, 123543 and 42 for bug 1 and 42 again for bug 2.  Its watches
  list newest first; the oldest, 42 for bug 2, has the lowest id, so
  "remote bug, then id" puts it before 42 for bug 1.
* ``debbugs`` has four watches, ``gnome-bugzilla`` and
  ``ubuntu-bugzilla`` one each, ``sourceforge`` none.
* ``ubuntu-bugzilla`` is not active: checkwatches skips it.

Every watch was last checked at the sample's release time.
"""

import datetime

from buildmaster.model import Bug, BugTracker, BugTrackerType, Person

PEOPLE = [
    # name, displayname, preferred email
    ("name12", "Sample Person", "test@canonical.com"),
    ("no-priv", "No Privileges Person", "no-priv@canonical.com"),
]

BUG_TITLES = [
    "Firefox does not render SVG",
    "The trash folder never empties",
    "Bug title test",
    "Reflow problems with complex page layouts",
    "Install instructions are incomplete",
    "Crash when a Save As dialog outlives its window",
    "A test bug",
    "Printing does not work",
    "Thunderbird crashes on start",
    "Another test bug",
]

TRACKERS = [
    # name, title, type, base URL, active, summary
    ("mozilla.org", "The Mozilla.org Bug Tracker", BugTrackerType.BUGZILLA,
     "https://bugzilla.mozilla.org/", True, "Where Firefox and Thunderbird bugs live."),
    ("gnome-bugzilla", "GnomeGBug GTracker", BugTrackerType.BUGZILLA,
     "http://bugzilla.gnome.org/bugs", True, "The GNOME desktop's Bugzilla."),
    ("debbugs", "Debian Bug tracker", BugTrackerType.DEBBUGS,
     "http://bugs.debian.org", True, "Debian's bug tracking system."),
    ("ubuntu-bugzilla", "Ubuntu Bugzilla", BugTrackerType.BUGZILLA,
     "https://bugzilla.ubuntu.com/", False,
     "Ubuntu's old Bugzilla; its bugs were all imported, so it is not checked."),
    ("sourceforge", "SF Tracker", BugTrackerType.SOURCEFORGE,
     "http://sourceforge.net/", True, "SourceForge's project trackers."),
]

WATCHES = [
    # tracker, our bug, remote bug; oldest first
    ("mozilla.org", 2, "42"),
    ("mozilla.org", 1, "42"),
    ("mozilla.org", 1, "123543"),
    ("mozilla.org", 1, "2000"),
    ("gnome-bugzilla", 1, "3224"),
    ("debbugs", 3, "304014"),
    ("debbugs", 1, "327452"),
    ("debbugs", 2, "308994"),
    ("debbugs", 7, "280883"),
    ("ubuntu-bugzilla", 2, "1234"),
]


def load(world, release_time):
    """Add the people, bugs, trackers and watches to ``world`` (the
    sample data's _World), with dates from ``release_time``."""
    add = world.add
    people = {name: add(Person(name=name, displayname=display, preferred_email=email))
              for name, display, email in PEOPLE}
    sample_person = people["name12"]
    world.person.update(people)
    world.bugs = {}
    for number, title in enumerate(BUG_TITLES, start=1):
        created = release_time + datetime.timedelta(days=number)
        world.bugs[number] = add(Bug(title=title, owner=sample_person,
                                     datecreated=created, datelastupdated=created))
    world.bugtrackers = {}
    for name, title, kind, baseurl, active, summary in TRACKERS:
        world.bugtrackers[name] = add(BugTracker(
            name=name, title=title, bugtrackertype=kind, baseurl=baseurl,
            active=active, summary=summary, contactdetails="", owner=sample_person,
            datecreated=release_time))
    for minutes, (tracker, bug, remotebug) in enumerate(WATCHES, start=1):
        watch = world.bugs[bug].addWatch(world.bugtrackers[tracker], remotebug,
                                         sample_person)
        watch.datecreated = release_time + datetime.timedelta(minutes=minutes)
        watch.lastchecked = release_time
        world.session.flush()
