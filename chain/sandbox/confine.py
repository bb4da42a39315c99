"""Landlock and seccomp through ctypes: a process restricts itself, and everything it starts, for good.

This module imports nothing but the standard library and nothing of chain, because it runs in two places:
the cold `landlock` backend starts it as a script (`python confine.py CONFIG_JSON -- ARGV...`: restrict,
then exec the command), and warm workers load it by path into the task's own interpreter and call
`apply(config)` in each run's child after the fork and before the task's code runs.

`apply` does, in this order:

* no_new_privs (a setuid binary cannot undo any of this; both Landlock and seccomp require it);
* **Landlock** (Linux >= 5.13): every filesystem access right the kernel knows is handled, and only the
  paths in `config["read"]` (read and execute, beneath each path) and `config["write"]` (everything
  beneath) are granted, `config["devices"]` (character devices such as /dev/null) read and write, and
  `config["listable"]` only listing directories (/proc: the process list, but no process's files);
  since ABI 4 TCP bind and connect are handled with no port allowed; since ABI 6
  abstract unix sockets and signals are scoped to the run (it cannot signal chain, PID 1 or another run,
  nor reach a host service on an abstract socket). Landlock also keeps the run from ptrace-ing, or reading
  /proc/PID/environ of, any process outside its domain;
* **seccomp** (a BPF filter): socket() of any family but AF_UNIX fails with EAFNOSUPPORT; ptrace, mount,
  unshare, setns, bpf, keyctl, io_uring (which would bypass the filter), kernel modules, kexec, perf,
  userfaultfd, process_vm_*, handles to inodes, new mount API, and clone() with namespace flags fail with
  EPERM; clone3 fails with ENOSYS so that libc falls back to clone(), whose flags the filter can see; any
  other architecture's syscalls (x32, i386) fail.

Why ctypes and not a binding: see docs/sandbox.md ("Why chain calls Landlock and seccomp through ctypes").
"""

import ctypes
import errno
import json
import os
import platform
import struct
import sys

LANDLOCK_CREATE_RULESET, LANDLOCK_ADD_RULE, LANDLOCK_RESTRICT_SELF = 444, 445, 446  # the same on every arch
LANDLOCK_CREATE_RULESET_VERSION = 1
LANDLOCK_RULE_PATH_BENEATH = 1

# Filesystem rights, with the ABI that introduced each.
FS_EXECUTE, FS_WRITE_FILE, FS_READ_FILE, FS_READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
FS_REMOVE_DIR, FS_REMOVE_FILE, FS_MAKE_CHAR, FS_MAKE_DIR = 1 << 4, 1 << 5, 1 << 6, 1 << 7
FS_MAKE_REG, FS_MAKE_SOCK, FS_MAKE_FIFO, FS_MAKE_BLOCK, FS_MAKE_SYM = 1 << 8, 1 << 9, 1 << 10, 1 << 11, 1 << 12
FS_REFER, FS_TRUNCATE, FS_IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15  # ABI 2, 3, 5
NET_BIND_TCP, NET_CONNECT_TCP = 1 << 0, 1 << 1  # ABI 4
SCOPE_ABSTRACT_UNIX_SOCKET, SCOPE_SIGNAL = 1 << 0, 1 << 1  # ABI 6

FILE_RIGHTS = FS_EXECUTE | FS_WRITE_FILE | FS_READ_FILE | FS_TRUNCATE | FS_IOCTL_DEV  # the rights a file can get
READ_RIGHTS = FS_EXECUTE | FS_READ_FILE | FS_READ_DIR
DEVICE_RIGHTS = FS_READ_FILE | FS_WRITE_FILE | FS_TRUNCATE | FS_IOCTL_DEV  # /dev/null and the like

PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 38, 22, 2

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


class RulesetAttr(ctypes.Structure):
    _fields_ = [
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    ]


class PathBeneathAttr(ctypes.Structure):
    _pack_ = 1  # __attribute__((packed)) in the kernel's header
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


class ConfinementError(OSError):
    pass


def _fail(what):
    err = ctypes.get_errno()
    raise ConfinementError(err, f"{what}: {os.strerror(err)}")


def landlock_abi():
    """The kernel's Landlock ABI version, or 0 when Landlock is missing or disabled."""
    abi = _libc.syscall(
        LANDLOCK_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(LANDLOCK_CREATE_RULESET_VERSION)
    )
    return max(0, int(abi))


def handled_rights(abi):
    """(filesystem rights, network rights, scopes) an ABI version can handle."""
    fs = (1 << 13) - 1  # ABI 1: EXECUTE .. MAKE_SYM
    if abi >= 2:
        fs |= FS_REFER
    if abi >= 3:
        fs |= FS_TRUNCATE
    if abi >= 5:
        fs |= FS_IOCTL_DEV
    net = NET_BIND_TCP | NET_CONNECT_TCP if abi >= 4 else 0
    scoped = SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL if abi >= 6 else 0
    return fs, net, scoped


def _add_path(ruleset, path, rights, handled):
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return False  # a path that does not exist here grants nothing
    try:
        if not os.path.isdir(f"/proc/self/fd/{fd}"):
            rights &= FILE_RIGHTS
        attr = PathBeneathAttr(rights & handled, fd)
        if (
            _libc.syscall(
                LANDLOCK_ADD_RULE, ruleset, LANDLOCK_RULE_PATH_BENEATH, ctypes.byref(attr), ctypes.c_uint32(0)
            )
            != 0
        ):
            _fail(f"landlock_add_rule {path}")
    finally:
        os.close(fd)
    return True


def apply_landlock(read, write, devices=(), listable=(), abi=None):
    abi = landlock_abi() if abi is None else abi
    if abi < 1:
        raise ConfinementError(errno.ENOSYS, "Landlock is not available in this kernel")
    fs, net, scoped = handled_rights(abi)
    attr = RulesetAttr(fs, net, scoped)
    size = ctypes.sizeof(RulesetAttr) if abi >= 6 else (16 if abi >= 4 else 8)
    ruleset = _libc.syscall(LANDLOCK_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0))
    if ruleset < 0:
        _fail("landlock_create_ruleset")
    try:
        for path in read:
            _add_path(ruleset, path, READ_RIGHTS, fs)
        for path in devices:
            _add_path(ruleset, path, DEVICE_RIGHTS, fs)
        for path in listable:
            _add_path(ruleset, path, FS_READ_DIR, fs)
        for path in write:
            _add_path(ruleset, path, fs, fs)
        if _libc.syscall(LANDLOCK_RESTRICT_SELF, ctypes.c_int(ruleset), ctypes.c_uint32(0)) != 0:
            _fail("landlock_restrict_self")
    finally:
        os.close(ruleset)
    return abi


# -- seccomp ---------------------------------------------------------------------------------------------

AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
# Denied outright (EPERM), per architecture.
DENIED = {
    "x86_64": {
        "ptrace": 101,
        "syslog": 103,
        "pivot_root": 155,
        "chroot": 161,
        "acct": 163,
        "mount": 165,
        "umount2": 166,
        "swapon": 167,
        "swapoff": 168,
        "reboot": 169,
        "init_module": 175,
        "delete_module": 176,
        "quotactl": 179,
        "kexec_load": 246,
        "add_key": 248,
        "request_key": 249,
        "keyctl": 250,
        "unshare": 272,
        "perf_event_open": 298,
        "name_to_handle_at": 303,
        "open_by_handle_at": 304,
        "setns": 308,
        "process_vm_readv": 310,
        "process_vm_writev": 311,
        "finit_module": 313,
        "kexec_file_load": 320,
        "bpf": 321,
        "userfaultfd": 323,
    },
    "aarch64": {
        "ptrace": 117,
        "syslog": 116,
        "pivot_root": 41,
        "chroot": 51,
        "acct": 89,
        "mount": 40,
        "umount2": 39,
        "swapon": 224,
        "swapoff": 225,
        "reboot": 142,
        "init_module": 105,
        "delete_module": 106,
        "quotactl": 60,
        "kexec_load": 104,
        "add_key": 217,
        "request_key": 218,
        "keyctl": 219,
        "unshare": 97,
        "perf_event_open": 241,
        "name_to_handle_at": 264,
        "open_by_handle_at": 265,
        "setns": 268,
        "process_vm_readv": 270,
        "process_vm_writev": 271,
        "finit_module": 273,
        "kexec_file_load": 294,
        "bpf": 280,
        "userfaultfd": 282,
    },
}
COMMON_DENIED = {
    "open_tree": 428,
    "move_mount": 429,
    "fsopen": 430,
    "fsconfig": 431,
    "fsmount": 432,
    "fspick": 433,
    "mount_setattr": 442,
    "io_uring_setup": 425,
    "io_uring_enter": 426,
    "io_uring_register": 427,
}
SOCKET = {"x86_64": 41, "aarch64": 198}
CLONE = {"x86_64": 56, "aarch64": 220}
CLONE3 = 435
CLONE_NAMESPACES = 0x7E020000  # NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET
AF_UNIX = 1

_LD_ABS_W, _JEQ, _JGE, _JSET, _RET = 0x20, 0x15, 0x35, 0x45, 0x06
RET_ALLOW, RET_ERRNO = 0x7FFF0000, 0x00050000


def _insn(code, k, jt=0, jf=0):
    return struct.pack("HBBI", code, jt, jf, k)


def seccomp_program(arch=None):
    """The filter as a list of packed `struct sock_filter`s (None for an architecture chain has no table for)."""
    arch = arch or platform.machine()
    if arch not in AUDIT_ARCH:
        return None
    nr_arg0 = 16  # offsetof(struct seccomp_data, args[0]) (its low 32 bits on a little-endian machine)
    denied = sorted({**DENIED[arch], **COMMON_DENIED}.values())
    prog = [
        _insn(_LD_ABS_W, 4),
        _insn(_JEQ, AUDIT_ARCH[arch], 1, 0),
        _insn(_RET, RET_ERRNO | errno.ENOSYS),
        _insn(_LD_ABS_W, 0),
    ]
    if arch == "x86_64":  # x32 syscalls share the architecture value; their numbers have bit 30 set
        prog += [_insn(_JGE, 0x40000000, 0, 1), _insn(_RET, RET_ERRNO | errno.ENOSYS)]
    for nr in denied:
        prog += [_insn(_JEQ, nr, 0, 1), _insn(_RET, RET_ERRNO | errno.EPERM)]
    prog += [_insn(_JEQ, CLONE3, 0, 1), _insn(_RET, RET_ERRNO | errno.ENOSYS)]
    # clone(flags, ...): refuse new namespaces
    prog += [
        _insn(_JEQ, CLONE[arch], 0, 3),
        _insn(_LD_ABS_W, nr_arg0),
        _insn(_JSET, CLONE_NAMESPACES, 0, 1),
        _insn(_RET, RET_ERRNO | errno.EPERM),
        _insn(_LD_ABS_W, 0),
    ]
    # socket(domain, ...): AF_UNIX only
    prog += [
        _insn(_JEQ, SOCKET[arch], 0, 3),
        _insn(_LD_ABS_W, nr_arg0),
        _insn(_JEQ, AF_UNIX, 1, 0),
        _insn(_RET, RET_ERRNO | errno.EAFNOSUPPORT),
    ]
    prog += [_insn(_RET, RET_ALLOW)]
    return prog


class SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def apply_seccomp():
    prog = seccomp_program()
    if prog is None:
        raise ConfinementError(errno.ENOSYS, f"no seccomp filter for {platform.machine()}")
    code = ctypes.create_string_buffer(b"".join(prog))
    fprog = SockFprog(len(prog), ctypes.cast(code, ctypes.c_void_p))
    if _libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) != 0:
        _fail("seccomp filter")


def apply(config):
    """Restrict this process (and all it starts) as `config` says: {"read": [...], "write": [...],
    "devices": [...], "listable": [...]}.
    Raises ConfinementError if anything could not be applied: a run is never left half-confined."""
    if _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        _fail("no_new_privs")
    abi = apply_landlock(
        config.get("read", ()),
        config.get("write", ()),
        config.get("devices", ()),
        config.get("listable", ()),
        config.get("abi"),
    )
    apply_seccomp()
    return abi


def main(argv):
    """`confine.py CONFIG_JSON -- COMMAND...`: restrict, then become COMMAND. Exit 126 if confinement fails."""
    if len(argv) < 3 or argv[1] != "--":
        print("usage: confine.py CONFIG_JSON -- COMMAND...", file=sys.stderr)
        return 2
    try:
        apply(json.loads(argv[0]))
    except (OSError, ValueError) as exc:
        print(f"chain-confine: cannot confine the run: {exc}", file=sys.stderr)
        return 126
    try:
        os.execv(argv[2], argv[2:])
    except OSError as exc:
        print(f"chain-confine: cannot start {argv[2]}: {exc}", file=sys.stderr)
        return 127


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
