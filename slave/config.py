"""The slave's ini configuration: one ``[slave]`` section."""

import configparser
from dataclasses import dataclass, fields

SECTION = "slave"


class ConfigError(Exception):
    """A missing or bad configuration value; str() is one line for users."""


@dataclass(frozen=True)
class SlaveConfig:
    bindhost: str
    bindport: int
    architecturetag: str
    filecache: str
    workdir: str
    build_timeout: float
    path: str = ""
    # Optional: the most parallel=N a build gets (0: as many as the CPUs),
    # and where each series' ccache lives ('': no ccache).  See speed.py.
    max_parallel: int = 0
    ccache_dir: str = ""


def load_config(path):
    """Read and check the config file at ``path``; raise ConfigError."""
    if not path:
        raise ConfigError(
            "no config file given (set BUILDMASTER_SLAVE_CONFIG or --config)")
    parser = configparser.ConfigParser(interpolation=None)
    try:
        with open(path, encoding="utf-8") as f:
            parser.read_file(f)
    except (OSError, configparser.Error) as e:
        raise ConfigError(f"{path}: cannot read config file: {e}") from None
    if not parser.has_section(SECTION):
        raise ConfigError(f"{path}: missing section [{SECTION}]")
    for name in parser.sections():
        if name != SECTION:
            raise ConfigError(f"{path}: [{name}]: unknown section (the slave "
                              f"reads only [{SECTION}])")
    section = parser[SECTION]
    known = [field.name for field in fields(SlaveConfig) if field.name != "path"]
    for key in section:
        if key not in known:
            raise ConfigError(f"{path}: [{SECTION}] {key}: unknown key "
                              f"(known: {', '.join(known)})")
    return SlaveConfig(
        bindhost=_text(path, section, "bindhost"),
        bindport=_number(path, section, "bindport", int, 0, 65535),
        architecturetag=_text(path, section, "architecturetag"),
        filecache=_text(path, section, "filecache"),
        workdir=_text(path, section, "workdir"),
        build_timeout=_number(path, section, "build_timeout", float, 1, None),
        path=path,
        max_parallel=(_number(path, section, "max_parallel", int, 0, None)
                      if section.get("max_parallel", "").strip() else 0),
        ccache_dir=section.get("ccache_dir", "").strip(),
    )


def _text(path, section, key):
    value = section.get(key, "").strip()
    if not value:
        raise ConfigError(f"{path}: [{SECTION}] {key}: missing or empty")
    return value


def _number(path, section, key, kind, minimum, maximum):
    text = _text(path, section, key)
    try:
        value = kind(text)
    except ValueError:
        value = None
    if (value is None or value < minimum
            or (maximum is not None and value > maximum)):
        bounds = f">= {minimum}" + (f" and <= {maximum}" if maximum else "")
        raise ConfigError(
            f"{path}: [{SECTION}] {key}: expected a number {bounds},"
            f" got {text!r}")
    return value
