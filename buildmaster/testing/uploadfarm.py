"""A farm made from a farm file that takes developers' uploads, for the
daemon's upload tests (tests/test_uploads_daemon.py) and the upload
benchmark (benchmarks/uploads.py).

``define_farm`` applies a farm file with ``buildmaster apply`` as a
process: this machine's processor, acme with its development series
rocket, alice (a throwaway OpenPGP key) with her PPA ``~alice/tools``,
and the builders given; then ``buildmaster chroot set`` gives
acme/rocket its chroot, so an accepted upload gets its build.

``put_upload`` sends an upload as Debian's dput does over HTTP (one
connection a file, ``Connection: close``, the files the .changes lists
in its order, the .changes last) with plain HTTP PUTs, and ``half_put``
holds a raw socket that has sent half of a file's body.

``UploadsSeen`` reads what the daemon made of the uploads (the Upload
rows, the queue's directories, the mail spool) and ``violations`` checks
the invariants that must hold once it has settled, whatever killed it
meanwhile.  Everything here blocks.
"""

import collections
import email
import http.client
import json
import os
import re
import socket
import subprocess
import sys
import time

import sqlalchemy as sa

from buildmaster.uploads import inbox

TARGET = "~alice/tools/acme"
ARCHIVE = "~alice/tools"
SERIES = "rocket"
SIGNER = "Alice <alice@example.org>"
ALICE = "alice@example.org"
STATES = inbox.STATES

FARM_FILE = """\
[[processor]]
name = "{arch}"

[[distribution]]
name = "acme"
title = "Acme Linux"
components = ["main", "contrib"]

[[distribution.series]]
name = "rocket"
version = "1.0"
status = "DEVELOPMENT"
architectures = {{ {arch} = "{arch}" }}
nominated_arch_indep = "{arch}"

[[person]]
name = "alice"
email = "alice@example.org"
openpgp_keys = ["alice.asc"]
"""

BUILDER = """
[[builder]]
name = "{name}"
url = "{url}"
processor = "{arch}"
"""


def buildmaster(config_path, *args, timeout=300):
    """``buildmaster --config CONFIG_PATH ARGS...`` as a process; its
    stdout.  RuntimeError with its output when it fails."""
    done = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "buildmaster"),
         "--config", str(config_path), *map(str, args)],
        capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"buildmaster {' '.join(map(str, args))}: exit status "
                           f"{done.returncode}\n{done.stdout}{done.stderr}")
    return done.stdout


def targets(count):
    """The upload targets of alice's first ``count`` PPAs: ~alice/tools,
    then ~alice/tools2, ~alice/tools3..."""
    return [TARGET] + [f"~alice/tools{number}/acme" for number in range(2, count + 1)]


PPA = """
[[archive]]
reference = "{reference}"
distribution = "acme"
"""


def define_farm(config_path, directory, keys, arch, chroot, builders=(), ppas=1):
    """Apply the farm file (written to ``directory`` with alice's new key,
    made in ``keys``, exported beside it) and set acme/rocket/ARCH's
    chroot to the tarball ``chroot``; alice's fingerprint.  ``builders``
    is [(name, url)]; alice has ``ppas`` PPAs (``targets``)."""
    directory = str(directory)
    os.makedirs(directory, exist_ok=True)
    alice = keys.make(SIGNER)
    keys.export(os.path.join(directory, "alice.asc"), alice, armor=True)
    text = FARM_FILE.format(arch=arch) + "".join(
        PPA.format(reference=target.rsplit("/", 1)[0]) for target in targets(ppas)) + \
        "".join(BUILDER.format(name=name, url=url, arch=arch) for name, url in builders)
    farm_file = os.path.join(directory, "farm.toml")
    with open(farm_file, "w", encoding="utf-8") as handle:
        handle.write(text)
    buildmaster(config_path, "apply", farm_file)
    buildmaster(config_path, "chroot", "set", f"acme/{SERIES}/{arch}", chroot)
    return alice


# -- The daemon's configuration -------------------------------------------------------------

# The farm's jobs for a farm that takes uploads, builds and publishes.
JOBS = (("slave_scanner", "scan"), ("queue_builder", "build_queue"),
        ("dispatcher", "dispatch"), ("publisher", "publish"),
        ("upload_processor", "process_uploads"))
STARTED = f"Sequencer starting with {len(JOBS)} jobs"


def steady_port():
    """A free loopback TCP port below the kernel's ephemeral range: no
    client socket (the master's database connections, an HTTP client)
    can be given it while a killed master is down, so the master always
    listens on it again when it is restarted."""
    import random
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as handle:
            low = int(handle.read().split()[0])
    except (OSError, ValueError):
        low = 32768
    while True:
        port = random.randrange(10000, max(low, 10001))
        if port in _GIVEN:
            continue
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        _GIVEN.add(port)
        return port


_GIVEN = set()   # the ports steady_port gave this process, never given twice


def daemon_config_text(database_url, root, smtp_port, upload_port, signing_key="",
                       jobs=JOBS, mindelay=1, admins=()):
    """The daemon's configuration: its database, its directories under
    ``root``, every server on a steady loopback port (the archives served,
    PPAs included, and signed with ``signing_key``), mail to ``smtp_port``,
    the upload server on ``upload_port``; ``jobs`` [(name, function in
    buildmaster.jobs)] every ``mindelay`` seconds, or the default jobs
    when None."""
    root = str(root)
    public, restricted, archive, web = (steady_port() for _ in range(4))
    base = f"http://127.0.0.1:{archive}"
    text = (
        f"[database]\nurl = {database_url}\n"
        f"[builddmaster]\nroot = {root}/builddmaster\nsocket_timeout = 10\n"
        f"[librarian]\nstorage = {root}/librarian\n"
        f"public_port = {public}\nrestricted_port = {restricted}\n"
        f"public_url = http://127.0.0.1:{public}\n"
        f"restricted_url = http://127.0.0.1:{restricted}\n"
        f"[mail]\nsmtp_host = 127.0.0.1\nsmtp_port = {smtp_port}\nretry_delay = 2\n"
        f"buildd_admins = {', '.join(admins)}\n"
        f"[archives]\nroot = {root}/archives\nhttp_port = {archive}\n"
        f"primary_url = {base}/primary\nppa_url = {base}/ppa\n"
        f"private_ppa_url = {base}/private\n"
        + (f"signing_key = {signing_key}\n" if signing_key else "")
        + f"[upload]\nhttp_port = {upload_port}\n"
        f"[web]\nport = {web}\n"
        "[sequencer]\nshutdown_timeout = 30\n")
    for name, function in jobs or ():
        text += (f"[sequencer.job.{name}]\ncallable = buildmaster.jobs:{function}\n"
                 f"mindelay = {mindelay}\ntimeout = 300\n")
    return text


# -- Sending uploads ---------------------------------------------------------------------

def dput_order(changes):
    """The paths dput sends for ``changes``: the files it lists, in its
    order, then the .changes itself."""
    directory = os.path.dirname(str(changes))
    listed = inbox.listed_names(str(changes)) or []
    return [os.path.join(directory, name) for name, _ in listed] + [str(changes)]


def put_file(port, target, path, host="127.0.0.1", timeout=60):
    """PUT one file as dput's http method does; the response's status."""
    with open(path, "rb") as handle:
        body = handle.read()
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        connection.putrequest("PUT", f"/upload/{target}/{os.path.basename(path)}",
                              skip_accept_encoding=True)
        connection.putheader("User-Agent", "dput")
        connection.putheader("Connection", "close")
        connection.putheader("Content-Length", str(len(body)))
        connection.endheaders()
        for start in range(0, len(body), 65536):
            connection.send(body[start:start + 65536])
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def put_upload(port, target, changes, host="127.0.0.1"):
    """Send the upload of ``changes`` in dput's order; the time.time() the
    last PUT was answered.  RuntimeError when a PUT is not answered 2xx;
    OSError when the connection fails."""
    for path in dput_order(changes):
        status = put_file(port, target, path, host)
        if not 200 <= status < 300:
            raise RuntimeError(f"PUT {os.path.basename(path)}: {status}")
    return time.time()


def half_put(port, target, path, host="127.0.0.1"):
    """A raw socket that has sent a PUT of ``path`` with its whole length
    announced and half of its body; the socket, still open."""
    with open(path, "rb") as handle:
        body = handle.read()
    sock = socket.create_connection((host, port), timeout=30)
    sock.sendall(
        f"PUT /upload/{target}/{os.path.basename(path)} HTTP/1.1\r\nHost: {host}\r\n"
        f"User-Agent: dput\r\nConnection: close\r\nContent-Length: {len(body)}\r\n\r\n"
        .encode("ascii") + body[:len(body) // 2])
    return sock


# -- What the daemon made of them ----------------------------------------------------------

class UploadsSeen:
    """The uploads' traces: database rows, queue directories, spool files.

    ``root`` is the queue (``<builddmaster root>/uploads``), ``spool`` the
    mail spool directory (``<builddmaster root>/mail-spool``)."""

    def __init__(self, engine, root, spool):
        self.engine, self.root, self.spool = engine, str(root), str(spool)

    def rows(self):
        """{queue id: (state, source, version, builds)} of the Upload rows."""
        from buildmaster.model import Upload
        with self.engine.connect() as connection:
            found = connection.execute(sa.select(
                Upload.queue_id, Upload.state, Upload.source, Upload.version,
                Upload.builds).where(Upload.queue_id.is_not(None))).all()
        return {row.queue_id: (row.state, row.source, row.version, row.builds)
                for row in found}

    def directories(self, where):
        path = os.path.join(self.root, where)
        return sorted(os.listdir(path)) if os.path.isdir(path) else []

    def queued(self):
        """The upload ids waiting in queue/ (claimed, not moved out)."""
        return [name for name in self.directories("queue") if not name.startswith(".")]

    def staging(self):
        """queue/'s hidden directories: claims not finished."""
        return [name for name in self.directories("queue") if name.startswith(".")]

    def arrived(self):
        """The .changes whole in incoming/, waiting to be claimed."""
        incoming = os.path.join(self.root, "incoming")
        return [name for slug in self.directories("incoming")
                if os.path.isdir(os.path.join(incoming, slug))
                for name in os.listdir(os.path.join(incoming, slug))
                if name.endswith(".changes") and not name.startswith(inbox.PART_PREFIX)]

    def parts(self):
        """Part files anywhere under incoming/ (files being received)."""
        found = []
        for where, _, names in os.walk(os.path.join(self.root, "incoming")):
            found += [os.path.join(where, name) for name in names
                      if name.startswith(inbox.PART_PREFIX)]
        return found

    def spooled(self):
        """{upload queue id: spool file name} of the upload mail in the
        spool, held or waiting to be sent (names starting with a dot
        included: a batch not yet released)."""
        found = {}
        if not os.path.isdir(self.spool):
            return found
        for name in os.listdir(self.spool):
            if not name.endswith(".json") or name.startswith(".tmp-"):
                continue
            try:
                with open(os.path.join(self.spool, name), encoding="utf-8") as handle:
                    about = json.load(handle).get("about", "")
            except (OSError, ValueError):
                continue
            match = re.match(r"upload (\S+) ", about)
            if match:
                found[match.group(1)] = name
        return found

    def window(self):
        """Where the processing of some upload is now, as far as the files
        and the database show (read while the master is stopped):
        'held, not committed' (its mail in the spool, no row yet),
        'committed, not moved' (its row, its directory still in queue/),
        'claiming' (a hidden directory in queue/), else None."""
        rows = self.rows()
        if any(queue_id not in rows for queue_id in self.spooled()):
            return "held, not committed"
        if any(queue_id in rows for queue_id in self.queued()):
            return "committed, not moved"
        if self.staging():
            return "claiming"
        return None


def messages(smtp_messages):
    """[(Message-ID, Subject, [to])] of raw messages [(from, [to], text)]."""
    found = []
    for _, recipients, text in smtp_messages:
        parsed = email.message_from_string(text)
        found.append((parsed["Message-ID"], parsed["Subject"], list(recipients)))
    return found


RECORDED = re.compile(r"Mail about upload (\S+) (\w+) delivered to (\S+)$", re.MULTILINE)


def violations(seen, sent, mail, master_log):
    """What is wrong once the daemon has settled, as sentences.

    ``sent`` maps each source name uploaded to (its version, how many
    times it was sent: a client that got no answer to its .changes sends
    the upload again, as a developer would); ``mail`` is [(Message-ID,
    Subject, [to])] as the SMTP server received them.

    * every upload taken (a .changes that arrived whole) has exactly one
      Upload row and exactly one directory under accepted/, rejected/ or
      failed/; none is left in queue/, nor a claim half made;
    * each source is accepted once; another row of it can only be a
      second sending, rejected as not newer;
    * each source is registered once (one release, one publication in
      the PPA) and has its builds once: the builds its row names, one
      per architecture;
    * each upload is mailed once: one message (one Message-ID) per row,
      delivered more than once only when the master's log records at
      most one of the deliveries (a message the server took in the
      instant before a kill is sent again, as the spool promises:
      buildmaster.mail.spool), and every upload is mailed.
    """
    from buildmaster.model import (
        Archive, Build, SourcePackageName, SourcePackagePublishingHistory,
        SourcePackageRelease, Upload)
    found = []
    rows = seen.rows()
    by_source = collections.defaultdict(list)
    for queue_id, (state, source, version, builds) in rows.items():
        by_source[source].append((queue_id, state, version, builds))
    with seen.engine.connect() as connection:
        reasons = dict(connection.execute(sa.select(Upload.queue_id, Upload.reasons)).all())
    for source, (version, times) in sent.items():
        uploads = by_source.get(source, [])
        accepted = [row for row in uploads if row[1] == "ACCEPTED"]
        if len(accepted) != 1 or accepted[0][2] != version:
            found.append(f"{source} {version}: accepted {len(accepted)} times "
                         f"({[row[1:3] for row in uploads]})")
        if len(uploads) > times:
            found.append(f"{source}: {len(uploads)} Upload rows, sent {times} times")
        for queue_id, state, _, _ in uploads:
            if state != "ACCEPTED" and not any(
                    "is not newer than" in reason for reason in reasons[queue_id] or []):
                found.append(f"{source}: upload {queue_id} {state}: {reasons[queue_id]}")
    for source in set(by_source) - set(sent):
        found.append(f"an Upload row for {source}, which nobody uploaded")
    for queue_id in rows:
        places = [state for state in STATES if queue_id in seen.directories(state)]
        if len(places) != 1:
            found.append(f"upload {queue_id} is in {places or 'no directory'}")
    for queue_id in set().union(*(seen.directories(state) for state in STATES)) - set(rows):
        if not queue_id.startswith("incomplete-"):
            found.append(f"directory {queue_id} has no Upload row")
    if seen.queued() or seen.staging():
        found.append(f"left in queue/: {seen.queued() + seen.staging()}")

    spph = SourcePackagePublishingHistory
    with seen.engine.connect() as connection:
        releases = collections.Counter(connection.execute(
            sa.select(SourcePackageName.name)
            .join(SourcePackageRelease,
                  SourcePackageRelease.sourcepackagename_id == SourcePackageName.id)).scalars())
        publications = collections.Counter(connection.execute(
            sa.select(SourcePackageName.name)
            .join(SourcePackageRelease,
                  SourcePackageRelease.sourcepackagename_id == SourcePackageName.id)
            .join(spph, spph.sourcepackagerelease_id == SourcePackageRelease.id)
            .join(Archive, Archive.id == spph.archive_id)
            .where(Archive.name == ARCHIVE.split("/")[1])).scalars())
        builds = collections.defaultdict(list)
        for name, build_id in connection.execute(
                sa.select(SourcePackageName.name, Build.id)
                .join(SourcePackageRelease,
                      SourcePackageRelease.sourcepackagename_id == SourcePackageName.id)
                .join(Build, Build.sourcepackagerelease_id == SourcePackageRelease.id)):
            builds[name].append(build_id)
    for source in sent:
        if releases[source] != 1 or publications[source] != 1:
            found.append(f"{source}: {releases[source]} releases, {publications[source]} "
                         "publications")
        named = sorted(build for row in by_source.get(source, []) for build in row[3])
        if len(builds[source]) != 1 or sorted(builds[source]) != named:
            found.append(f"{source}: builds {sorted(builds[source])}, its uploads name "
                         f"{named}")

    recorded = collections.Counter(RECORDED.findall(master_log))
    mailed = collections.defaultdict(set)       # (source, state) -> Message-IDs
    deliveries = collections.Counter()
    for message_id, subject, to in mail:
        match = re.match(r"(Accepted|Rejected): (\S+) ", subject or "")
        if match:
            state = match.group(1).upper()
            mailed[(match.group(2), state)].add(message_id)
            deliveries[(message_id, match.group(2), state, tuple(to))] += 1
    for source in sent:
        for state in ("ACCEPTED", "REJECTED"):
            count = sum(1 for row in by_source.get(source, []) if row[1] == state)
            if len(mailed[(source, state)]) != count:
                found.append(f"{source}: {len(mailed[(source, state)])} different "
                             f"{state.lower()} messages for {count} such uploads")
    for (message_id, source, state, to), count in deliveries.items():
        told = sum(n for (queue_id, told_state, address), n in recorded.items()
                   if told_state == state and (address,) == to and any(
                       row[0] == queue_id for row in by_source.get(source, [])))
        if count > 1 and told > 1:
            found.append(f"message {message_id} about {source} delivered {count} times, "
                         f"{told} of them recorded by a master")
    return found
