"""`python chain_overlay.py LOWER UPPER WORK TARGET -- COMMAND...`: the first thing a cold bubblewrap run of a
by-reference task does (chain.sandbox.bwrap). bwrap starts it as uid 0 of the run's user namespace with
CAP_SYS_ADMIN there only; it mounts TARGET (the workspace) as an overlay of LOWER (the base, which bwrap
bound read-only) under UPPER (the run's changed files, and every write the run makes), then becomes "nobody"
in a user namespace of its own, as every other cold run is, keeps no capability, and execs COMMAND.
Writes copy a file up into UPPER; nothing reaches the base. stdlib only: runs in the project's interpreter."""

import ctypes
import os
import sys

CLONE_NEWUSER = 0x10000000
MS_NOSUID, MS_NODEV = 2, 4
PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 24, 38, 47, 4
NOBODY = 65534


def main(argv):
    lower, upper, work, target, dash, *command = argv
    if dash != "--" or not command:
        raise SystemExit("usage: chain_overlay.py LOWER UPPER WORK TARGET -- COMMAND...")
    libc = ctypes.CDLL(None, use_errno=True)

    def check(result, what):
        if result != 0:
            errno = ctypes.get_errno()
            raise SystemExit(f"chain_overlay: {what}: {os.strerror(errno)}")

    options = f"lowerdir={lower},upperdir={upper},workdir={work}".encode()
    check(libc.mount(b"overlay", target.encode(), b"overlay", MS_NOSUID | MS_NODEV, options), "mount the workspace")
    uid, gid = os.getuid(), os.getgid()
    check(libc.unshare(CLONE_NEWUSER), "a user namespace of its own")
    for name, text in (("setgroups", "deny"), ("uid_map", f"{NOBODY} {uid} 1"), ("gid_map", f"{NOBODY} {gid} 1")):
        with open(f"/proc/self/{name}", "w") as fh:
            fh.write(text)
    for cap in range(64):
        libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)
    libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    check(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]

    check(libc.capset(ctypes.byref(Header(0x20080522, 0)), (Data * 2)()), "capset")
    os.chdir(target)  # the overlay, not the directory under it bwrap changed into
    os.execvp(command[0], command)


if __name__ == "__main__":
    main(sys.argv[1:])
