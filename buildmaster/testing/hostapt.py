"""apt on this host, pointed at the farm's archives, in a directory of its own.

``HostApt(directory, lines)`` writes a sources.list, an auth.conf and the
trusted keys under ``directory`` and runs apt-get / apt-cache with every
state, cache and configuration path there, so the host's own apt setup is
neither read nor touched.  Commands block: run them in a thread when the
archives are served by the same reactor.
"""

import os
import subprocess


class HostApt:
    """apt confined to ``directory``, reading ``lines`` as its sources.list."""

    def __init__(self, directory, lines, keys=(), auth=()):
        """``keys`` are binary OpenPGP public keys to trust; ``auth`` are
        (machine, login, password) lines for auth.conf, the machine a
        URL prefix (apt sends credentials over plain http only to a
        machine written with its 'http://')."""
        self.directory = str(directory)
        etc = os.path.join(self.directory, "etc")
        for sub in ("etc/trusted.gpg.d", "etc/sources.list.d", "etc/preferences.d",
                    "state/lists/partial", "cache/archives/partial"):
            os.makedirs(os.path.join(self.directory, sub), exist_ok=True)
        with open(os.path.join(etc, "sources.list"), "w", encoding="utf-8") as f:
            f.write("".join(f"{line}\n" for line in lines))
        for number, key in enumerate(keys):
            with open(os.path.join(etc, "trusted.gpg.d", f"farm-{number}.gpg"), "wb") as f:
                f.write(key)
        self.auth_path = os.path.join(etc, "auth.conf")
        with open(self.auth_path, "w", encoding="utf-8") as f:
            f.write("".join(f"machine {machine} login {login} password {password}\n"
                            for machine, login, password in auth))
        os.chmod(self.auth_path, 0o600)
        self.status_path = os.path.join(self.directory, "state", "status")
        open(self.status_path, "a").close()

    def options(self):
        d = self.directory
        settings = {
            "Dir::Etc": os.path.join(d, "etc"),
            "Dir::Etc::sourcelist": os.path.join(d, "etc", "sources.list"),
            "Dir::Etc::sourceparts": os.path.join(d, "etc", "sources.list.d"),
            "Dir::Etc::trustedparts": os.path.join(d, "etc", "trusted.gpg.d"),
            "Dir::Etc::netrc": self.auth_path,
            "Dir::State": os.path.join(d, "state"),
            "Dir::State::status": self.status_path,
            "Dir::Cache": os.path.join(d, "cache"),
            "APT::Sandbox::User": "root",
            "Debug::NoLocking": "1",
            "Acquire::Languages": "none",
        }
        return [arg for key, value in settings.items() for arg in ("-o", f"{key}={value}")]

    def run(self, tool, *args, cwd=None):
        """Run ``tool`` (apt-get, apt-cache) with ``args`` in ``cwd``; the
        CompletedProcess (text), whatever its exit status."""
        return subprocess.run([tool, *self.options(), *args], capture_output=True,
                              text=True, env=dict(os.environ, LANG="C"), cwd=cwd)

    def update(self):
        return self.run("apt-get", "update")

    def versions(self, package):
        """The versions of ``package`` apt knows of, from ``apt-cache madison``."""
        done = self.run("apt-cache", "madison", package)
        return [line.split("|")[1].strip() for line in done.stdout.splitlines()
                if line.count("|") >= 2]
