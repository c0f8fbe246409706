"""No fsync in a build's chroot, whatever runs there: a seccomp filter
(classic BPF, as bwrap's ``--seccomp FD`` loads it) that answers fsync,
fdatasync, sync_file_range, sync, syncfs and msync with success without
the kernel doing them, as eatmydata does with a preloaded library, but
with nothing installed in the chroot and for static binaries too.

dpkg's ``force-unsafe-io`` (speed.UNSAFE_IO_DPKG) stops only its
per-file syncs while unpacking: dpkg still syncs its database for every
package, apt its caches, and a build whatever it likes.  The chroot is
thrown away with the build, so a crash loses nothing the filter kept
from the disk; the data is in the page cache for every reader at once.

The filter knows the system call numbers of x86-64, i386 (an i386 build
on an amd64 slave) and arm64; any other architecture's calls pass
untouched.  SECCOMP_RET_ERRNO with errno 0 makes the call return 0.
"""

import struct

# struct sock_filter {u16 code; u8 jt; u8 jf; u32 k}
_LD_W_ABS = 0x20      # BPF_LD | BPF_W | BPF_ABS
_JEQ_K = 0x15         # BPF_JMP | BPF_JEQ | BPF_K
_RET_K = 0x06         # BPF_RET | BPF_K
_ARCH_OFFSET, _NR_OFFSET = 4, 0   # struct seccomp_data: nr, arch
RET_ALLOW = 0x7FFF0000
RET_SUCCEED = 0x00050000          # SECCOMP_RET_ERRNO | 0

# AUDIT_ARCH_* -> the numbers of fsync, fdatasync, sync_file_range, sync,
# syncfs, msync.
SYNC_CALLS = {
    0xC000003E: (74, 75, 277, 162, 306, 26),       # x86-64
    0x40000003: (118, 148, 314, 36, 344, 144),     # i386
    0xC00000B7: (82, 83, 84, 81, 267, 227),        # arm64
}


def _op(code, k, jt=0, jf=0):
    return struct.pack("=HBBI", code, jt, jf, k)


def program():
    """The filter's bytes: an array of struct sock_filter."""
    ops = [_op(_LD_W_ABS, _ARCH_OFFSET)]
    for arch, numbers in SYNC_CALLS.items():
        # arch? load nr, test each number, else allow; not arch: next arch.
        block = [_op(_LD_W_ABS, _NR_OFFSET)]
        for index, number in enumerate(numbers):
            to_succeed = len(numbers) - index
            block.append(_op(_JEQ_K, number, jt=to_succeed, jf=0))
        block += [_op(_RET_K, RET_ALLOW), _op(_RET_K, RET_SUCCEED)]
        ops.append(_op(_JEQ_K, arch, jt=0, jf=len(block)))
        ops += block
    ops.append(_op(_RET_K, RET_ALLOW))
    return b"".join(ops)


def write_program(path):
    """Write the filter to ``path``; return ``path``."""
    with open(path, "wb") as f:
        f.write(program())
    return path
