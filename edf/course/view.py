"""What a submission's process sees of the machine: an allow-list, made by bubblewrap.

bubblewrap (``bwrap``, Debian's package ``bubblewrap``; Flatpak confines its apps with it) starts
a command in namespaces of its own on an empty root where only the folders named on its command
line appear. ``command`` wraps the submission's command in it, so that the process sees

- read-only: the system's programs and libraries (``/usr`` and the links beside it, two files
  of ``/etc``); Python: its prefixes and the folders of ``sys.path`` that hold installed
  packages; edf's own package folders (``edf``, ``kernels``, ``lectures``: in a checkout, not
  the rest of it, so no ``exercises/`` with the solutions, no tests, no ``.git``); the grader's
  copy (the grader's helpers run there) and the student's files;
- writable: its own folder, a tmpfs of ``disk`` bytes (HOME, TMPDIR, the caches; the student's
  files bound read-only inside it), and small private ``/tmp`` and ``/dev/shm``;
- nothing else of the disk: not the instructor's home, not the class folder wherever it lies,
  not the grader's scratch files;
- a PID namespace with its own ``/proc``: it sees only its own processes, so no other process's
  command line, environment or open files, and it can signal nothing outside; when the first
  process bwrap started (the namespace's init) dies, the kernel kills every process in it, and
  bwrap dies with the grader (``--die-with-parent``);
- no network, and its own IPC and host name.

As root, bwrap runs as root (it then needs no user namespace: it works where unprivileged user
namespaces are switched off, as on Ubuntu 24.04) and the submission's user is taken inside the
view (``BECOME``) before Python reads anything of the student's. Without root, bwrap runs as the
grader's user in a user namespace of its own, where the kernel allows unprivileged ones.
Docker's default profile (Gradescope's containers) allows neither: ``unavailable`` says why.
"""
from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import subprocess
import sys
from functools import cache
from pathlib import Path

SYSTEM = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")  # links into /usr where merged
ETC = ("/etc/ld.so.cache", "/etc/localtime")  # the loader's cache (where numpy's libraries are), the time zone
PACKAGES = ("edf", "edf.kernels", "edf.lectures")  # edf's package folders (setup.py's package_dir)
SCRATCH = 16 * 2 ** 20  # the size of its private /tmp and /dev/shm (TMPDIR points into its own folder)

# the first program in the view, as root: take the submission's user, then start the submission
# (-I -S: nothing of the student's folder, nor of site-packages, runs while it is still root)
BECOME = ("import os, sys; uid, gid = int(sys.argv[1]), int(sys.argv[2]); os.setgroups([]); "
          "os.setresgid(gid, gid, gid); os.setresuid(uid, uid, uid); os.execv(sys.argv[3], sys.argv[3:])")


def command(argv: list[str], *, shown: list[Path], folder: str | None = None, disk: int | None = None,
            uid: int | None = None, gid: int | None = None) -> list[str]:
    """``argv`` in a view of its own: the system, Python, edf and ``shown`` read-only, its own
    ``folder`` a tmpfs of ``disk`` bytes (where it starts; a folder of ``shown`` inside it is
    bound read-only over it); as root, run as ``uid``/``gid``."""
    args = [bwrap(), "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
            "--die-with-parent", "--new-session", "--proc", "/proc", "--dev", "/dev"]
    if uid is None:  # bwrap as the grader's user: a user namespace, and none nested in it
        args += ["--unshare-user", "--disable-userns"]
    else:  # bwrap as root: BECOME needs these two to take the submission's user, then has none
        args += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    system = [Path(p) for p in SYSTEM if os.path.isdir(p) and not os.path.islink(p)]
    args += [a for p in SYSTEM if os.path.islink(p) for a in ("--symlink", os.readlink(p), p)]
    args += ["--dir", "/etc", *(a for p in ETC for a in ("--ro-bind-try", p, p))]
    readable = outermost({*system, *python_folders(), *edf_folders(), *map(Path, shown)}, folder)
    mounts = [(str(p), "read") for p in readable] + [("/tmp", "scratch"), ("/dev/shm", "scratch")]
    mounts += [(folder, "own")] if folder else []
    for path, how in sorted(mounts, key=lambda mount: len(Path(mount[0]).parts)):  # outer ones first
        if how == "read":  # (bwrap would make the folders on the way 0700: closed to the user BECOME takes)
            args += [*(["--dir", str(Path(path).parent)] if Path(path).parent != Path("/") else []),
                     "--ro-bind", path, path]
        elif how == "scratch":
            args += ["--perms", "1777", "--size", str(SCRATCH), "--tmpfs", path]
        else:  # 1777: writable by the submission's user, the only user in the view
            args += ["--perms", "1777", *(["--size", str(disk)] if disk else []), "--tmpfs", path]
            args += [a for name in ("home", "tmp", "cache") for a in ("--perms", "1777", "--dir", f"{path}/work/{name}")]
    args += ["--remount-ro", "/", *(["--chdir", folder] if folder else []), "--"]
    if uid is not None:
        args += [sys.executable, "-I", "-S", "-c", BECOME, str(uid), str(gid)]
    return args + argv


def python_folders() -> set[Path]:
    """Python and its installed packages: its prefixes (a virtual environment's and the base
    installation's), the folder of the interpreter itself, and the folders of ``sys.path``
    inside them or named site-packages / dist-packages. Not the other folders of ``sys.path``:
    the current folder, a checkout added by a ``.pth`` file, a test runner's folders."""
    prefixes = {Path(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix)}
    found = prefixes | {Path(os.path.realpath(sys.executable)).parent}
    for entry in sys.path:
        path = Path(os.path.abspath(entry)) if entry else None
        if path is not None and path.is_dir() and (path.name in ("site-packages", "dist-packages")
                                                   or any(path.is_relative_to(p) for p in prefixes)):
            found.add(path)
    return found


def edf_folders() -> set[Path]:
    """edf's own package folders: inside site-packages when installed, or ``edf/``, ``kernels/``
    and ``lectures/`` of a checkout installed in place (``pip install -e``)."""
    return {Path(spec.origin).parent for name in PACKAGES
            if (spec := importlib.util.find_spec(name)) is not None and spec.origin}


def outermost(folders: set[Path], own: str | None) -> list[Path]:
    """The existing ``folders`` without those that another one shows already; one inside the
    submission's own folder is kept (its tmpfs covers it)."""
    own_folder = Path(own) if own else None

    def shows(outer: Path, path: Path) -> bool:
        covered = own_folder is not None and path.is_relative_to(own_folder) and own_folder.is_relative_to(outer)
        return path.is_relative_to(outer) and not covered

    kept: list[Path] = []
    for path in sorted((p for p in folders if p.exists()), key=lambda p: len(p.parts)):
        if not any(shows(outer, path) for outer in kept):
            kept.append(path)
    return kept


def bwrap() -> str:
    return shutil.which("bwrap") or "bwrap"


@cache
def unavailable() -> str | None:
    """Why this process cannot give a submission a view of its own, or None when it can: a
    view of Python alone, made once, as the grading will make it."""
    if shutil.which("bwrap") is None:
        return "bubblewrap is not installed (Debian and Ubuntu: apt-get install bubblewrap)"
    root = os.geteuid() == 0
    probe = command([sys.executable, "-I", "-S", "-c", "pass"], shown=[], uid=0 if root else None, gid=0)
    try:
        result = subprocess.run(probe, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"bwrap could not be run: {error}"
    if result.returncode != 0:
        said = (result.stderr.strip().splitlines() or [f"exit code {result.returncode}"])[-1]
        why = "" if root else " (without root it needs unprivileged user namespaces)"
        return f"bwrap cannot make a view here{why}: {said}"
    return None


def exit_status(code: int | None) -> int | None:
    """The submission's exit status from bwrap's, which reports death by signal N as 128 + N."""
    if code is not None and code > 128 and code - 128 in signal.valid_signals():
        return 128 - code
    return code
