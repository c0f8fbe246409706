"""What makes a build as fast as the compiler allows, decided apart from
running it.

- No fsync in the throwaway chroot: every command runs under a seccomp
  filter that makes the sync calls no-ops (nosync.py), dpkg unpacks with
  ``force-unsafe-io`` besides (UNSAFE_IO_DPKG), and apt fetches and
  writes no Translation indexes (FAST_APT).  A crash loses nothing: the
  chroot is thrown away with its build.
- ``DEB_BUILD_OPTIONS=parallel=N``: N is the slave's CPUs, capped by its
  configuration's ``max_parallel`` and by the ``parallel`` the master
  may send with a build (``parallel_jobs``).  The slave reports its own
  N in status() (Builder.status).
- ccache, off by default: with ``ccache_dir`` configured, each series
  has its own cache ``<ccache_dir>/<series>``, outside the chroot, bound
  into the build step only (CcacheDir).
"""

import os
import re

UNSAFE_IO_DPKG = ("/etc/dpkg/dpkg.cfg.d/buildd-unsafe-io", "force-unsafe-io\n")
FAST_APT = """\
Acquire::Languages "none";
"""
CCACHE_INSIDE = "/var/cache/buildd-ccache"
_SERIES = re.compile(r"^[a-z0-9][a-z0-9.+_-]*$")


class BadParallel(ValueError):
    """The master's ``parallel`` is no positive number; str() says so."""


def cpu_count():
    """The CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def own_parallel(config, cpus=None):
    """The slave's own N: its CPUs, at most its ``max_parallel`` (0: no cap)."""
    cpus = cpu_count() if cpus is None else cpus
    return max(1, min(cpus, config.max_parallel) if config.max_parallel else cpus)


def master_cap(args):
    """The ``parallel`` the master sent with a build, or None; BadParallel
    for one that is not a whole number >= 1."""
    cap = args.get("parallel")
    if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int) or cap < 1):
        raise BadParallel(f"parallel: expected a whole number >= 1, got {cap!r}")
    return cap


def parallel_jobs(config, args, cpus=None):
    """The N of this build's parallel=N: the slave's own, at most the
    master's cap when it sent one (master_cap)."""
    jobs, cap = own_parallel(config, cpus), master_cap(args)
    return jobs if cap is None else min(jobs, cap)


def build_options(jobs, environ_options=""):
    """DEB_BUILD_OPTIONS with ``parallel=jobs`` in place of any other."""
    words = [word for word in environ_options.split() if not word.startswith("parallel=")]
    return " ".join(words + [f"parallel={jobs}"])


def build_step(config, args, ccache, env):
    """(environment, bind mounts) of dpkg-buildpackage: ``env`` with its
    DEB_BUILD_OPTIONS and, when ``ccache`` (a CcacheDir) is on, ccache's."""
    env = dict(env)
    env["DEB_BUILD_OPTIONS"] = build_options(parallel_jobs(config, args),
                                             env.get("DEB_BUILD_OPTIONS", ""))
    if ccache is None:
        return env, ()
    env.update(ccache.environment(env["PATH"]))
    return env, ccache.binds()


class CcacheDir:
    """One series' ccache on the slave's disk, or None when off."""

    @staticmethod
    def of(config, args):
        """The CcacheDir of this build, None when ccache is off or the
        build names no usable series."""
        if not config.ccache_dir:
            return None
        series = args.get("series") or str(args.get("suite") or "").split("-", 1)[0]
        if not isinstance(series, str) or not _SERIES.match(series):
            return None
        return CcacheDir(os.path.join(config.ccache_dir, series))

    def __init__(self, host):
        self.host = host

    def prepare(self, uid, gid):
        """Create the cache directory, owned by the build user."""
        os.makedirs(self.host, exist_ok=True)
        os.chown(self.host, uid, gid)

    def binds(self):
        """The (host path, chroot path) bind mounts of the build step."""
        return [(self.host, CCACHE_INSIDE)]

    def environment(self, path):
        """What the build step's environment adds: ccache's compilers first."""
        return {"CCACHE_DIR": CCACHE_INSIDE, "PATH": "/usr/lib/ccache:" + path}
