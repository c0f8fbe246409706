"""Developers' uploads as developers make them: ``dpkg-buildpackage -S``,
signed with their key, sent with Debian's ``dput``.

``signed_source(directory, keys, fingerprint, ...)`` builds a small
source package whose changelog names ``distribution`` and signs its .dsc
and .changes as dpkg-buildpackage does (with the throwaway key's GnuPG
home); its .changes path.  ``dput(...)`` runs the real dput with a
dput.cf of the test's own and returns (exit status, output).
"""

import os
import subprocess

from buildmaster.testing.debpackages import make_source_package


def signed_source(directory, keys, fingerprint, name="hello-bm", version="1.0",
                  distribution="rocket", sign=True):
    """The _source.changes of a new source package, signed unless not ``sign``."""
    dsc = make_source_package(str(directory), name=name, version=version)
    tree = os.path.join(str(directory), f"{name}-{version}")
    changelog = os.path.join(tree, "debian", "changelog")
    with open(changelog, encoding="utf-8") as handle:
        text = handle.read()
    with open(changelog, "w", encoding="utf-8") as handle:
        handle.write(text.replace(") unstable;", f") {distribution};", 1))
    os.unlink(dsc)
    signing = [f"--sign-key={fingerprint}"] if sign else ["--no-sign"]
    subprocess.run(
        ["dpkg-buildpackage", "-S", "-d", "--no-check-builddeps", *signing,
         "--sign-command=gpg", "--build-by=Build Farm Tests <tests@example.invalid>"],
        cwd=tree, check=True, capture_output=True,
        env=dict(os.environ, GNUPGHOME=keys.home, DEB_SIGN_KEYID=fingerprint))
    return os.path.join(str(directory), f"{name}_{version}_source.changes")


def dput_cf(path, method, host, port, incoming, login=None, identity=None):
    """A dput.cf with one host, 'farm'; its path."""
    lines = ["[farm]", f"fqdn = {host}:{port}" if method.startswith("http") else f"fqdn = {host}",
             f"method = {method}", f"incoming = {incoming}", "allow_unsigned_uploads = 1"]
    if login:
        lines.append(f"login = {login}")
    if method == "scp":
        # ssh_config(5) lines, one -o each; continuation lines are indented.
        options = [f"Port {port}", "StrictHostKeyChecking no",
                   "UserKnownHostsFile /dev/null", "BatchMode yes"]
        if identity:
            options += [f"IdentityFile {identity}", "IdentitiesOnly yes"]
        lines.append("ssh_config_options = " + "\n\t".join(options))
        lines.append("scp_compress = 0")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
    return path


def dput_command(config, changes):
    """The argv of dput uploading ``changes`` to 'farm' (forced: a test may
    send the same upload twice)."""
    return ["dput", "--force", "--unchecked", "-c", str(config), "farm", str(changes)]
