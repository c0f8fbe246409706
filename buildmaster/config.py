"""The buildmaster configuration: one ini file, checked whole at start-up.

The file is named by ``--config`` or ``BUILDMASTER_CONFIG``; with neither,
every key takes its default, which is an embedded SQLite database and
working directories under ``./var/``.  Every problem is reported as a
ConfigError naming the file, the section and the key.
"""

import configparser
import dataclasses
import os
import re
from urllib.parse import urlsplit

DEFAULT_JOBS = {
    "slave_scanner": {"callable": "buildmaster.jobs:scan", "mindelay": "5"},
    "queue_builder": {"callable": "buildmaster.jobs:build_queue", "mindelay": "60"},
    "dispatcher": {"callable": "buildmaster.jobs:dispatch", "mindelay": "5"},
    "checkwatches": {"callable": "buildmaster.jobs:checkwatches", "mindelay": "300"},
    "publisher": {"callable": "buildmaster.jobs:publish", "mindelay": "5"},
    "build_health": {"callable": "buildmaster.jobs:build_health", "mindelay": "30"},
    "farm_report": {"callable": "buildmaster.jobs:farm_report", "mindelay": "3600"},
    "upload_processor": {"callable": "buildmaster.jobs:process_uploads", "mindelay": "60"},
}

# Sections of sources.list lines keyed by what they apply to.
EXTERNAL_DEPENDENCY_SECTIONS = {
    "external_dependencies.series": "DISTRIBUTION/SERIES",
    "external_dependencies.archive": "DISTRIBUTION/ARCHIVE",
}


class ConfigError(Exception):
    """A configuration problem, printable as one line for the operator."""

    def __init__(self, path, section, key, problem):
        self.path, self.section, self.key = path, section, key
        where = f"[{section}]" + (f" {key}" if key else "")
        super().__init__(f"{path or '<defaults>'}: {where}: {problem}")


def _int(value):
    number = int(value)
    if number < 0:
        raise ValueError("must not be negative")
    return number


def _positive_int(value):
    number = int(value)
    if number < 1:
        raise ValueError("must be at least 1")
    return number


def _float(value):
    number = float(value)
    if number <= 0:
        raise ValueError("must be greater than 0")
    return number


def _bool(value):
    lowered = value.strip().lower()
    if lowered in ("1", "yes", "true", "on"):
        return True
    if lowered in ("0", "no", "false", "off"):
        return False
    raise ValueError(f"not a boolean: {value!r}")


def _backend(value):
    if value not in ("disk", "swift"):
        raise ValueError(f"not a librarian backend (disk or swift): {value!r}")
    return value


def _http_url(value):
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http URL: {value!r}")
    return value.rstrip("/")


def _callback_url(value):
    """Where slaves call the master back: '' (from ``[web]``), 'none', or a URL."""
    if value in ("", "none"):
        return value
    return _http_url(value)


def _db_url(value):
    if not re.match(r"^(sqlite|postgresql)(\+\w+)?://", value):
        raise ValueError(f"not a sqlite:// or postgresql:// URL: {value!r}")
    return value


def _addresses(value):
    return [address.strip() for address in value.split(",") if address.strip()]


def _text(value):
    return value


# What ``[status] mode`` may name (buildmaster.health.transitions says
# what each one mails).
STATUS_MODES = ("problem", "change", "failing", "warnings")

# dpkg's tools ("dpkg-shlibdeps: warning: ..."), the compiler ("foo.c:12:5:
# warning: ...") and the upload log's "WARNING ..." lines.  Not the
# warnings dpkg-source gives unpacking every source on a slave, which holds
# no keyring (the master checked the upload's signature): "extracting
# unsigned source package (x.dsc)", or "cannot verify inline signature for
# ./x.dsc: no acceptable signature found" (or another reason); they say
# nothing of the package.
ROUTINE_DPKG_WARNINGS = (r"extracting unsigned source package \("
                         r"|cannot verify inline signature for ")
DEFAULT_WARNING_PATTERNS = "\n".join([
    rf"^dpkg-[a-z]+: warning: (?!{ROUTINE_DPKG_WARNINGS})",
    r"^[^\s:]+:\d+:(\d+:)? warning: ",
    r"^WARNING\s",
])


def _modes(value):
    modes = tuple(dict.fromkeys(_addresses(value)))
    unknown = [mode for mode in modes if mode not in STATUS_MODES]
    if unknown or not modes:
        raise ValueError(f"not a mode: {', '.join(unknown) or repr(value)} "
                         f"(known: {', '.join(STATUS_MODES)})")
    return modes


def _patterns(value):
    """One regular expression a line, compiled."""
    compiled = []
    for line in value.splitlines():
        if line.strip():
            try:
                compiled.append(re.compile(line.strip()))
            except re.error as error:
                raise ValueError(f"bad pattern {line.strip()!r}: {error}") from None
    return compiled


# section -> key -> (parser, default); a default of None means required.
SCHEMA = {
    "database": {"url": (_db_url, "sqlite:///var/buildmaster.db")},
    "builddmaster": {
        "root": (_text, "var/builddmaster"),
        "socket_timeout": (_float, "30"),
        "download_timeout": (_float, "600"),
        "max_concurrent_calls": (_int, "50"),
        "scan_failure_threshold": (_int, "5"),
        "builder_failure_threshold": (_int, "5"),
        "job_failure_threshold": (_int, "3"),
        "callback_url": (_callback_url, ""),
        "max_parallel": (_int, "0"),
    },
    "librarian": {
        "storage": (_text, "var/librarian"),
        "public_host": (_text, "127.0.0.1"),
        "public_port": (_int, "58000"),
        "restricted_port": (_int, "58005"),
        "public_url": (_http_url, "http://localhost:58000"),
        "restricted_url": (_http_url, "http://localhost:58005"),
        "token_lifetime": (_int, "3600"),
        # Where file contents live: 'disk' (under storage) or 'swift'
        # (buildmaster/librarian/swift.py; storage still keeps the token
        # secret).
        "backend": (_backend, "disk"),
        "swift_auth_url": (_text, ""),
        "swift_user": (_text, ""),
        "swift_key": (_text, ""),
        "swift_container": (_text, "librarian"),
        # Swift refuses objects over 5 GiB: larger files are stored as
        # static large objects of segments this size (bytes).
        "swift_segment_size": (_positive_int, str(5 * 1024 ** 3 - 64 * 1024 ** 2)),
        # Read from the disk store what Swift lacks (while migrating).
        "disk_fallback": (_bool, "false"),
    },
    "archives": {
        "primary_url": (_http_url, "http://ftpmaster.internal"),
        "ppa_url": (_http_url, "http://ppa.launchpad.dev"),
        "private_ppa_url": (_http_url, "http://private-ppa.launchpad.dev"),
        "root": (_text, "var/archives"),
        "http_host": (_text, "127.0.0.1"),
        "http_port": (_int, "0"),
        "signing_key": (_text, ""),
    },
    "mail": {
        "smtp_host": (_text, "localhost"),
        "smtp_port": (_int, "25"),
        "from_address": (_text, "buildmaster@localhost"),
        "buildd_admins": (_addresses, ""),
        "retry_delay": (_int, "300"),
        "max_connections": (_positive_int, "4"),
        "send_timeout": (_float, "60"),
    },
    "status": {
        "mailing_list": (_addresses, ""),
        "mode": (_modes, "problem"),
        "warning_patterns": (_patterns, DEFAULT_WARNING_PATTERNS),
        "quarantine_failures": (_positive_int, "3"),
        "quarantine_seconds": (_positive_int, "120"),
        "report_every": (_positive_int, "7"),
        "report_to": (_addresses, ""),
    },
    "sequencer": {
        "mailer_targets": (_addresses, "-"),
        "shutdown_timeout": (_int, "60"),
    },
    "upload": {
        "keyring": (_text, ""),
        # The upload server (buildmaster/uploads/): dput's HTTP PUT and SFTP.
        "http_host": (_text, "127.0.0.1"),
        "http_port": (_int, "0"),
        "sftp_host": (_text, "127.0.0.1"),
        "sftp_port": (_int, "0"),
        "max_file_size": (_positive_int, str(1024 ** 3)),
        "max_upload_size": (_positive_int, str(2 * 1024 ** 3)),
        "incomplete_timeout": (_positive_int, "3600"),
    },
    "web": {
        "host": (_text, "127.0.0.1"),
        "port": (_int, "58010"),
    },
    "scheduling": {
        # Fair share between archive owners (buildmaster/queue/fairshare.py).
        "fair_share": (_bool, "true"),
        "half_life": (_float, "14400"),
        "band": (_int, "4"),
        "owner_cap": (_int, "0"),
    },
    "checkwatches": {
        "timeout": (_float, "30"),
        "interval_hours": (_positive_int, "23"),
        "lockfile": (_text, "checkwatches.lock"),
    },
}

JOB_SCHEMA = {
    "command": (_text, ""),
    "callable": (_text, ""),
    "mindelay": (_int, None),
    "alwayslog": (_bool, "false"),
    "timeout": (_int, "3600"),
}


@dataclasses.dataclass
class JobConfig:
    """One ``[sequencer.job.NAME]`` section."""

    name: str
    command: str
    callable: str
    mindelay: int
    alwayslog: bool
    timeout: int

    def getSectionName(self):
        return self.name


class Section:
    """The parsed keys of one section, as attributes."""

    def __init__(self, name, values):
        self._name = name
        self.__dict__.update(values)

    def __repr__(self):
        return f"<Section {self._name}>"


class Config:
    """The whole configuration: ``config.database.url``, ``config.jobs``..."""

    def __init__(self, path, sections, jobs, base_dir):
        self.path = path
        self.base_dir = base_dir
        for name, values in sections.items():
            setattr(self, name, Section(name, values))
        self.jobs = jobs

    def resolve(self, path):
        """A configured relative path, taken relative to the config's directory."""
        return os.path.normpath(os.path.join(self.base_dir, path))


def _parse_section(path, name, schema, given):
    values = {}
    for key in given:
        if key not in schema:
            raise ConfigError(path, name, key, "unknown key")
    for key, (parser, default) in schema.items():
        raw = given.get(key, default)
        if raw is None:
            raise ConfigError(path, name, key, "missing key")
        try:
            values[key] = parser(raw)
        except ValueError as error:
            raise ConfigError(path, name, key, str(error)) from None
    return values


def _sources_lines(value):
    """Non-blank lines, each a 'deb' or 'deb-src' line with a URL and a suite."""
    lines = [line.strip() for line in value.splitlines() if line.strip()]
    for line in lines:
        if not re.match(r"^deb(-src)?\s+(\[[^\]]*\]\s+)?\w+://\S+\s+\S+", line):
            raise ValueError(f"not a sources.list line: {line!r}")
    return lines


def _parse_external_dependencies(path, parser):
    """{'series'|'archive': {key: [sources.list lines]}} from the
    ``[external_dependencies.*]`` sections."""
    found = {}
    for section, form in EXTERNAL_DEPENDENCY_SECTIONS.items():
        kind = section.rpartition(".")[2]
        found[kind] = {}
        if not parser.has_section(section):
            continue
        for key, value in parser[section].items():
            parts = key.split("/", 1)
            if len(parts) != 2 or not all(parts):
                raise ConfigError(path, section, key, f"not {form}")
            try:
                found[kind][key] = _sources_lines(value)
            except ValueError as error:
                raise ConfigError(path, section, key, str(error)) from None
    return found


def _parse_jobs(path, parser):
    named = {s[len("sequencer.job."):]: dict(parser[s]) for s in parser.sections()
             if s.startswith("sequencer.job.")}
    raw_jobs = named or DEFAULT_JOBS
    jobs = []
    for name, given in raw_jobs.items():
        section = f"sequencer.job.{name}"
        values = _parse_section(path, section, JOB_SCHEMA, given)
        if bool(values["command"]) == bool(values["callable"]):
            raise ConfigError(path, section, "command",
                              "give exactly one of 'command' or 'callable'")
        jobs.append(JobConfig(name=name, **values))
    return jobs


def _read(path):
    parser = configparser.ConfigParser(interpolation=None)
    if path is None:
        return parser
    try:
        with open(path, encoding="utf-8") as handle:
            parser.read_file(handle)
    except OSError as error:
        raise ConfigError(path, "-", None, f"cannot read: {error.strerror}") from None
    except configparser.Error as error:
        message = str(error).splitlines()[0]
        raise ConfigError(path, "-", None, f"not an ini file: {message}") from None
    return parser


def load(path=None, check_dirs=True):
    """Read and check the configuration; ``path`` None means defaults only."""
    parser = _read(path)
    for section in parser.sections():
        if section not in SCHEMA and section not in EXTERNAL_DEPENDENCY_SECTIONS \
                and not section.startswith("sequencer.job."):
            raise ConfigError(path, section, None, "unknown section")
    sections = {
        name: _parse_section(path, name, schema,
                             dict(parser[name]) if parser.has_section(name) else {})
        for name, schema in SCHEMA.items()
    }
    base_dir = os.path.dirname(os.path.abspath(path)) if path else os.getcwd()
    config = Config(path, sections, _parse_jobs(path, parser), base_dir)
    config.external_dependencies = _parse_external_dependencies(path, parser)
    config.builddmaster.root = config.resolve(config.builddmaster.root)
    config.archives.root = config.resolve(config.archives.root)
    if config.archives.signing_key:
        config.archives.signing_key = config.resolve(config.archives.signing_key)
    if config.upload.keyring:
        config.upload.keyring = config.resolve(config.upload.keyring)
    config.librarian.storage = config.resolve(config.librarian.storage)
    _check_swift(config)
    config.database.url = _absolute_sqlite(config, config.database.url)
    if check_dirs:
        _check_writable(config, "builddmaster", "root")
        _check_writable(config, "librarian", "storage")
        _check_writable(config, "archives", "root")
        _check_readable(config, "archives", "signing_key")
        _check_readable(config, "upload", "keyring")
    return config


def _check_swift(config):
    """With backend = swift, Swift's auth URL, user and key are needed."""
    settings = config.librarian
    if settings.backend != "swift":
        return
    for key in ("swift_auth_url", "swift_user", "swift_key", "swift_container"):
        if not getattr(settings, key):
            raise ConfigError(config.path, "librarian", key, "needed with backend = swift")
    try:
        _http_url(settings.swift_auth_url)
    except ValueError as error:
        raise ConfigError(config.path, "librarian", "swift_auth_url", str(error)) from None


def _absolute_sqlite(config, url):
    """Relative SQLite paths are taken relative to the config file."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/") \
            and url != "sqlite://" and ":memory:" not in url:
        return prefix + config.resolve(url[len(prefix):])
    return url


def _check_writable(config, section, key):
    directory = getattr(getattr(config, section), key)
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as error:
        raise ConfigError(config.path, section, key,
                          f"cannot create {directory}: {error.strerror}") from None
    if not os.access(directory, os.W_OK | os.X_OK):
        raise ConfigError(config.path, section, key, f"{directory} is not writable")


def _check_readable(config, section, key):
    path = getattr(getattr(config, section), key)
    if path and not os.access(path, os.R_OK):
        raise ConfigError(config.path, section, key, f"cannot read {path}")


def config_path_from_environment(explicit=None):
    """The config file to use: ``--config``, else BUILDMASTER_CONFIG, else none."""
    return explicit or os.environ.get("BUILDMASTER_CONFIG") or None
