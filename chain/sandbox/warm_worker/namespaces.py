"""Linux namespaces of a worker and of its runners, through libc (ctypes). stdlib only."""

from __future__ import annotations

import fcntl
import os
import socket
import struct
from typing import ClassVar


class Namespaces:
    """Namespaces of a worker and of its runners, inside the template's bubblewrap sandbox.

    The template runs as uid 0 of its own user namespace with capabilities there (never on the host), so a
    forked worker can unshare new mount, PID, network, IPC and UTS namespaces, mount its own directory as
    /tmp (hiding every other worker's) and a /proc of its PID namespace. The worker keeps its capabilities
    (it runs nothing of a task's) to give each runner a PID namespace of its own; a runner mounts that
    namespace's /proc and then drops every capability for good (bounding set emptied, no_new_privs) before
    it runs anything, so no run ever has one."""

    CLONE: ClassVar[dict[str, int]] = {
        "mount": 0x00020000,
        "pid": 0x20000000,
        "net": 0x40000000,
        "ipc": 0x08000000,
        "uts": 0x04000000,
    }
    MS_BIND, MS_REC, MS_PRIVATE, MS_NOSUID, MS_NODEV, MS_NOEXEC = 4096, 16384, 1 << 18, 2, 4, 8
    MS_RDONLY, MS_REMOUNT, MS_SHARED, MNT_DETACH = 1, 32, 1 << 20, 2
    # The new mount API (Linux >= 5.12; the same numbers on every architecture).
    SYS_OPEN_TREE, SYS_MOVE_MOUNT, SYS_MOUNT_SETATTR = 428, 429, 442
    OPEN_TREE_CLONE, AT_EMPTY_PATH, MOVE_MOUNT_F_EMPTY_PATH = 1, 0x1000, 4
    MOUNT_ATTR_RDONLY, MOUNT_ATTR_NOSUID, MOUNT_ATTR_NODEV = 1, 2, 4

    PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 24, 38, 47, 4

    def __init__(self, exposed=()):
        import ctypes

        self.exposed = list(exposed)  # paths under /tmp to keep visible inside (chain's warm_pool says which)
        self.ctypes = ctypes
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.own_pid_namespace = None

    def _check(self, result, what):
        if result != 0:
            errno = self.ctypes.get_errno()
            raise OSError(errno, f"{what}: {os.strerror(errno)}")

    def enter(self, directory):
        """Called in the forked worker; returns in a grandchild that is PID 1 of the new namespaces."""
        flags = 0
        for flag in self.CLONE.values():
            flags |= flag
        self._check(self.libc.unshare(flags), "unshare")
        bring_up_loopback()  # a new network namespace starts with `lo` down, unlike bwrap's --unshare-net
        self._check(self.libc.mount(None, b"/", None, self.MS_REC | self.MS_PRIVATE, None), "make / private")
        # The worker's own /tmp would hide an interpreter or chain checkout that lives under /tmp (a CI
        # clone): carry them into the worker directory first, read-only, so they stay where they were.
        for path in self.exposed:
            target = os.path.join(directory, os.path.relpath(path, "/tmp"))
            os.makedirs(target, exist_ok=True)
            self._check(
                self.libc.mount(path.encode(), target.encode(), None, self.MS_BIND | self.MS_REC, None),
                f"expose {path}",
            )
            self._check(
                self.libc.mount(None, target.encode(), None, self.MS_REMOUNT | self.MS_BIND | self.MS_RDONLY, None),
                f"make {path} read-only",
            )
        self._check(
            self.libc.mount(directory.encode(), b"/tmp", None, self.MS_BIND | self.MS_REC, None),
            "bind the worker directory on /tmp",
        )
        # Shared, so what the worker mounts under /tmp later (a run's overlay workspace) reaches the mount
        # namespaces its runners already have (a runner cannot mount: it has no capabilities).
        self._check(self.libc.mount(None, b"/tmp", None, self.MS_SHARED, None), "make /tmp shared")
        if os.fork() != 0:
            os._exit(0)  # the worker proper is our child, PID 1 of the new PID namespace
        self._mount_proc()
        self.own_pid_namespace = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)

    def _mount_proc(self):
        self._check(
            self.libc.mount(b"proc", b"/proc", b"proc", self.MS_NOSUID | self.MS_NODEV | self.MS_NOEXEC, None),
            "mount /proc",
        )

    def overlay_works(self):
        """Whether this kernel mounts overlayfs here (in a user namespace: Linux >= 5.11)."""
        probe = "/tmp/.overlay-probe"
        parts = [os.path.join(probe, d) for d in ("lower", "upper", "work", "ws")]
        try:
            for d in parts:
                os.makedirs(d)
            self.mount_overlay(*parts)
            self.unmount(parts[3])
            self.unmount(parts[0])
            return True
        except OSError:
            return False
        finally:
            import shutil

            shutil.rmtree(probe, ignore_errors=True)

    def mount_overlay(self, lower, upper, work, target, read_only_lower=True):
        """`target` shows `lower` (a by-reference base, read-only) with `upper` (the run's changed files, and
        whatever the run writes) over it: writes copy a file up, never into `lower`. `lower` itself is made
        read-only where the run can see it (/tmp), so neither path writes the base."""
        if read_only_lower and not os.statvfs(lower).f_flag & os.ST_RDONLY:  # (once per worker and base)
            self._read_only_bind(lower)
            if not os.statvfs(lower).f_flag & os.ST_RDONLY:
                raise OSError(f"{lower} is still writable")
        options = f"lowerdir={lower},upperdir={upper},workdir={work}".encode()
        flags = self.MS_NOSUID | self.MS_NODEV
        self._check(self.libc.mount(b"overlay", target.encode(), b"overlay", flags, options), "mount the workspace")

    def _read_only_bind(self, path):
        """Bind `path` on itself read-only from the start (new mount API: a detached copy made read-only, then
        moved into place), so the copies that propagate into runners' namespaces are read-only too. A bind
        made read-only by a later remount is read-only only here: remount flags do not propagate, and a runner
        already running would see the base writable."""
        libc, ctypes = self.libc, self.ctypes
        libc.syscall.restype = ctypes.c_long
        n, here = ctypes.c_long, ctypes.c_long(-100)  # (AT_FDCWD) every integer a long: syscall() is variadic
        fd = libc.syscall(n(self.SYS_OPEN_TREE), here, path.encode(), n(self.OPEN_TREE_CLONE | os.O_CLOEXEC))
        if fd < 0:
            self._check(-1, f"open_tree {path}")
        try:
            attr = (ctypes.c_uint64 * 4)(
                self.MOUNT_ATTR_RDONLY | self.MOUNT_ATTR_NOSUID | self.MOUNT_ATTR_NODEV, 0, 0, 0
            )
            self._check(
                libc.syscall(n(self.SYS_MOUNT_SETATTR), n(fd), b"", n(self.AT_EMPTY_PATH), ctypes.byref(attr), n(32)),
                f"make {path} read-only",
            )
            self._check(
                libc.syscall(n(self.SYS_MOVE_MOUNT), n(fd), b"", here, path.encode(), n(self.MOVE_MOUNT_F_EMPTY_PATH)),
                f"mount {path} read-only",
            )
        finally:
            os.close(fd)

    def unmount(self, target):
        self._check(self.libc.umount2(target.encode(), self.MNT_DETACH), f"unmount {target}")

    def before_runner(self):
        """In the worker: the next child it forks is PID 1 of a new PID namespace..."""
        self._check(self.libc.unshare(self.CLONE["pid"]), "unshare a PID namespace for a runner")

    def after_runner(self):
        """...and the ones after it are not (a second unshare would fail until this is undone)."""
        self._check(
            self.libc.setns(self.own_pid_namespace, self.CLONE["pid"]), "setns back to the worker's PID namespace"
        )

    def enter_runner(self):
        """In a new runner, PID 1 of its namespace: a /proc that shows it, then no capabilities."""
        os.close(self.own_pid_namespace)
        self._check(self.libc.unshare(self.CLONE["mount"]), "unshare a mount namespace for a runner")
        self._mount_proc()
        self.drop_capabilities()

    def drop_capabilities(self):
        ctypes = self.ctypes
        for cap in range(64):
            self.libc.prctl(self.PR_CAPBSET_DROP, cap, 0, 0, 0)
        self.libc.prctl(self.PR_CAP_AMBIENT, self.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
        self._check(self.libc.prctl(self.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")

        class Header(ctypes.Structure):
            _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]  # noqa: RUF012  (ctypes' own protocol)

        class Data(ctypes.Structure):
            _fields_ = [  # noqa: RUF012  (ctypes reads the class attribute)
                ("effective", ctypes.c_uint32),
                ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32),
            ]

        self._check(self.libc.capset(ctypes.byref(Header(0x20080522, 0)), (Data * 2)()), "capset")


SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
IFREQ = "16sH22s"  # struct ifreq: the interface name, then ifr_flags at the start of a 24-byte union


def bring_up_loopback():
    """`ip link set lo up` in the network namespace we are in (needs CAP_NET_ADMIN there): a test's own
    server on 127.0.0.1 works, and nothing outside the namespace is reachable through it."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack(IFREQ, b"lo", 0, b"")
        flags = struct.unpack(IFREQ, fcntl.ioctl(sock.fileno(), SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(sock.fileno(), SIOCSIFFLAGS, struct.pack(IFREQ, b"lo", flags | IFF_UP, b""))
