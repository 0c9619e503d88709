"""The system calls a bubblewrap run may not make: a seccomp filter for ``bwrap --seccomp FD``.

fallocate(2) reserves a gigabyte of disk in about a millisecond without writing it, so between
two polls of the run's disk limit (supervision.py, every 0.1 s) a run could fill the grading
machine's disk, and every other run of the batch and the grader's own writes with it. Refused,
a program falls back to writing (glibc's ``posix_fallocate`` does), which the memory cgroup
paces like any other write. io_uring could make the same call where no filter sees it: refused
too (no honest notebook needs it).

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
DENIED = {"fallocate": errno.EOPNOTSUPP, "io_uring_setup": errno.ENOSYS}


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
    lib.seccomp_export_bpf.argtypes = [ctypes.c_void_p, ctypes.c_int]
    lib.seccomp_release.argtypes = [ctypes.c_void_p]
    context = lib.seccomp_init(SCMP_ACT_ALLOW)
    if not context:
        return None
    try:
        for name, code in DENIED.items():
            number = lib.seccomp_syscall_resolve_name(name.encode())
            if number < 0 or lib.seccomp_rule_add(ctypes.c_void_p(context), ctypes.c_uint32(SCMP_ACT_ERRNO | code),
                                                  ctypes.c_int(number), ctypes.c_uint(0)) != 0:
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
