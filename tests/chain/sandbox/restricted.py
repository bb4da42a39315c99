"""Run a command the way a locked-down container would: `python restricted.py [--no-userns] [--no-landlock]
-- COMMAND...` installs a seccomp filter, then execs COMMAND (chain), which inherits it with all it starts.

--no-userns   new user namespaces are refused with EPERM, as Docker's default seccomp profile and most hosted
              CI containers refuse them (unshare, clone with namespace flags; clone3 is ENOSYS so libc falls
              back to clone): bubblewrap really fails, the way it fails there.
--no-landlock the Landlock syscalls are ENOSYS, as on a kernel older than 5.13 or one built without it.

The filter is built with chain's own BPF helpers (chain/sandbox/confine.py); this is the kernel refusing, not
a fake probe."""

import ctypes
import errno
import os
import platform
import sys

from chain.sandbox import confine


def program(no_userns: bool, no_landlock: bool) -> list[bytes]:
    arch = platform.machine()
    ld, jeq, jset, ret = confine._LD_ABS_W, confine._JEQ, confine._JSET, confine._RET
    insn, allow, fail = confine._insn, confine.RET_ALLOW, confine.RET_ERRNO
    prog = [insn(ld, 0)]
    if no_landlock:
        for nr in (confine.LANDLOCK_CREATE_RULESET, confine.LANDLOCK_ADD_RULE, confine.LANDLOCK_RESTRICT_SELF):
            prog += [insn(jeq, nr, 0, 1), insn(ret, fail | errno.ENOSYS)]
    if no_userns:
        unshare = confine.DENIED[arch]["unshare"]
        prog += [insn(jeq, unshare, 0, 1), insn(ret, fail | errno.EPERM),
                 insn(jeq, confine.CLONE3, 0, 1), insn(ret, fail | errno.ENOSYS),
                 insn(jeq, confine.CLONE[arch], 0, 3), insn(ld, 16), insn(jset, confine.CLONE_NAMESPACES, 0, 1),
                 insn(ret, fail | errno.EPERM)]
    return prog + [insn(ret, allow)]


def main(argv: list[str]) -> int:
    split = argv.index("--")
    flags, command = argv[:split], argv[split + 1:]
    prog = program("--no-userns" in flags, "--no-landlock" in flags)
    code = ctypes.create_string_buffer(b"".join(prog))
    fprog = confine.SockFprog(len(prog), ctypes.cast(code, ctypes.c_void_p))
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(confine.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) or libc.prctl(
            confine.PR_SET_SECCOMP, confine.SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0):
        print(f"restricted.py: seccomp: {os.strerror(ctypes.get_errno())}", file=sys.stderr)
        return 125
    os.execv(command[0], command)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
