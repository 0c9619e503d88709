"""The system calls a bubblewrap run may not make: a seccomp filter for ``bwrap --seccomp FD``.

fallocate(2) reserves a gigabyte of disk in about a millisecond without writing it (with
``FALLOC_FL_KEEP_SIZE``, past the run's largest file too), so between two polls of the run's disk
limit (supervision.py, every 0.1 s) a run could fill the grading machine's disk, and every other
run of the batch and the grader's own writes with it. Refused, a program falls back to writing
(glibc's ``posix_fallocate`` does), which the memory cgroup paces like any other write. The same
reservation has other doors, shut too (no honest notebook uses them): io_uring, where no filter
sees the call, and the XFS-born ioctls every file system answers (``FS_IOC_RESVSP64``,
``FS_IOC_ZERO_RANGE``: type ``'X'``, compared on the low 32 bits the kernel reads).

The filter is built by libseccomp, which knows each architecture's system call numbers and the
other ABIs a process may enter the kernel through (a call through one is refused too); it is
loaded through ctypes, and where it is not installed there is no filter (the plan says so).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import functools
import os

SCMP_ACT_ALLOW = 0x7FFF0000
SCMP_ACT_ERRNO = 0x00050000   # | the errno the call returns
SCMP_CMP_MASKED_EQ = 7        # (argument & datum_a) == datum_b
IOCTL_TYPE, XFS_TYPE = 0xFF00, ord("X") << 8   # an ioctl number's type byte, and the XFS family's


class _ArgumentTest(ctypes.Structure):   # libseccomp's struct scmp_arg_cmp
    _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int), ("datum_a", ctypes.c_uint64), ("datum_b", ctypes.c_uint64)]


# system call -> (errno it returns, test of an argument it is refused for; None: always)
DENIED: dict[str, tuple[int, _ArgumentTest | None]] = {
    "fallocate": (errno.EOPNOTSUPP, None),
    "io_uring_setup": (errno.ENOSYS, None),
    "ioctl": (errno.ENOTTY, _ArgumentTest(1, SCMP_CMP_MASKED_EQ, IOCTL_TYPE, XFS_TYPE)),
}


@functools.cache
def filter_program() -> bytes | None:
    """The compiled filter (classic BPF, as bubblewrap reads it); None without libseccomp."""
    path = ctypes.util.find_library("seccomp")
    if path is None:
        return None
    lib = ctypes.CDLL(path)
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_rule_add_array.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint,
                                           ctypes.POINTER(_ArgumentTest)]
    lib.seccomp_export_bpf.argtypes = [ctypes.c_void_p, ctypes.c_int]
    lib.seccomp_release.argtypes = [ctypes.c_void_p]
    context = lib.seccomp_init(SCMP_ACT_ALLOW)
    if not context:
        return None
    try:
        for name, (code, test) in DENIED.items():
            number = lib.seccomp_syscall_resolve_name(name.encode())
            tests = (_ArgumentTest * 1)(test) if test is not None else None
            if number < 0 or lib.seccomp_rule_add_array(context, SCMP_ACT_ERRNO | code, number, 0 if tests is None else 1,
                                                        tests) != 0:
                return None
        out = os.memfd_create("seccomp")
        try:
            if lib.seccomp_export_bpf(context, out) != 0:
                return None
            os.lseek(out, 0, os.SEEK_SET)
            return b"".join(iter(lambda: os.read(out, 65536), b""))
        finally:
            os.close(out)
    finally:
        lib.seccomp_release(context)


def filter_file() -> int | None:
    """A descriptor bubblewrap reads the filter from (the caller passes it on and closes it);
    None without libseccomp."""
    program = filter_program()
    if program is None:
        return None
    fd = os.memfd_create("seccomp", 0)   # inheritable: bubblewrap reads it after exec
    os.write(fd, program)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd
