"""Confining a submission's process: its own user, limits, private folders, nothing left behind.

The grader starts the student's code in a child process (``edf.submission``) set up here
between fork and exec (``Confinement.preexec``):

- as root (Gradescope runs autograders as root; so does a class graded on a staff machine) the
  child runs as a user of its own, one per submission (``account``: a uid from a pool nobody
  else uses, locked while a submission holds it), with no supplementary groups: it cannot write
  the grader's files or the results, read another submission's folders, or signal the grader;
- limits: address space, CPU time, the size of any file it writes (its printed output
  included), the number of processes and threads of its user (a fork bomb stops there), no
  core files, no privileges gained through set-user-ID programs, and it dies with its parent;
- private folders (0700): HOME, TMPDIR and the caches point into the submission's own folder;
- where the kernel allows a new network namespace (root with CAP_SYS_ADMIN) it has no network.

Nothing it started survives it (``Confinement.clean_up``): the grader is a child subreaper, so
processes that detach themselves (``setsid`` after a double fork) are re-parented to it and
killed with the rest of its descendants; as root every process of the submission's user is
killed, wherever it went, and the files that user left in the shared temporary folders are
removed before the uid is handed to the next submission.

Without root the child runs as the grader's own user: still a separate process that reaches the
grader only as data, limited and cleaned up as above (its process limit counts that user's other
processes too), but able to read and write whatever that user can.
"""
from __future__ import annotations

import ctypes
import fcntl
import json
import os
import pwd
import resource
import shutil
import signal
import stat
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator

from edf.core.errors import EdfError

ENVIRONMENT = "EDF_SANDBOX"  # how the grading process tells the grader's pytest the confinement
FIRST_UID, ACCOUNTS = 1_000_000, 4096  # the pool of grading users: far above any real account
LOCKS = Path("/run/edf-grading") if Path("/run").is_dir() else Path("/tmp/edf-grading")
SHARED_TEMPORARY = ("/tmp", "/var/tmp", "/dev/shm")

_libc = ctypes.CDLL(None, use_errno=True)  # loaded before any fork: preexec only calls into it
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_SET_CHILD_SUBREAPER, PR_SET_NO_NEW_PRIVS = 1, 4, 36, 38
CLONE_NEWNS, CLONE_NEWNET = 0x00020000, 0x40000000
MS_NOSUID, MS_NODEV, MS_BIND, MS_REC, MS_PRIVATE = 2, 4, 4096, 16384, 1 << 18


def prctl(option: int, value: int) -> bool:
    return _libc.prctl(option, value, 0, 0, 0) == 0


@dataclass
class Confinement:
    """How a submission's process is started; every field None: not confined that way."""

    uid: int | None = None             # its own user (the grader runs as root)
    gid: int | None = None
    folder: str | None = None          # its private folder: its files, and work/ for HOME, TMPDIR, caches
    memory: int | None = None          # address space, bytes
    file_size: int | None = None       # the largest file it may write, its printed output included
    disk: int | None = None            # what it may write in all (where work/ can be a tmpfs of this size)
    cpu_seconds: int | None = None
    processes: int | None = None       # processes and threads of its user at once
    call_seconds: float | None = None  # the longest one call into it may take
    reachable: tuple[str, ...] = ()    # with a view of its own: folders it must read (Python, edf, grader)
    covered: tuple[str, ...] = ()      # ... and folders covered by an empty one (shared temporary
                                       # folders, and folders its user could not pass through)

    @classmethod
    def from_environment(cls) -> "Confinement":
        """The confinement the grading process asked for (``$EDF_SANDBOX``), or none: a
        student grading their own work locally."""
        text = os.environ.get(ENVIRONMENT)
        return cls(**json.loads(text)) if text else cls()

    def to_environment(self) -> dict[str, str]:
        return {ENVIRONMENT: json.dumps(asdict(self))}

    def environment(self, base: dict[str, str]) -> dict[str, str]:
        """The child's environment: the grader's, without the grading settings, with the
        private folders and unbuffered output (printed text reaches the grader at once)."""
        env = {k: v for k, v in base.items() if k not in (ENVIRONMENT, "EDF_EXERCISE_IMPL")}
        env.update(PYTHONUNBUFFERED="1", PYTHONDONTWRITEBYTECODE="1")
        if self.folder:
            work = Path(self.folder) / "work"
            env.update(HOME=str(work / "home"), TMPDIR=str(work / "tmp"), MPLCONFIGDIR=str(work / "cache"),
                       XDG_CACHE_HOME=str(work / "cache"), EDF_CACHE_DIR=str(work / "cache" / "edf"),
                       NUMBA_CACHE_DIR=str(work / "cache" / "numba"))
        return env

    def with_view(self, needed: list[Path]) -> "Confinement":
        """For a submission's own user: what its view of the files must show (Python, its
        packages, edf, the grader's copy, its own folder: ``needed``) and what it covers (the
        shared temporary folders, folders its user could not pass through, such as a 0700 home
        holding Python). Without a view of its own (no mount namespaces: Docker's default, as on
        Gradescope) every needed folder must be open to other users."""
        if self.uid is None:
            return self
        reachable = sorted({str(Path(p).resolve()) for p in needed if Path(p).exists()})
        closed = sorted({c for p in reachable if (c := closed_ancestor(Path(p), self.uid))})
        if not mount_namespaces():
            if closed:
                raise EdfError(f"the submission's user cannot enter {closed[0]} (which holds {reachable[0]}), "
                               f"and this machine gives it no view of its own (mount namespaces): install "
                               f"Python and edf where every user can read them")
            return self
        covered = [t for t in SHARED_TEMPORARY if Path(t).is_dir()] + closed
        covered = [c for c in covered if not any(_inside(c, other) for other in covered if other != c)]
        return Confinement(**{**asdict(self), "reachable": tuple(reachable), "covered": tuple(covered)})

    def preexec(self) -> None:
        """Runs in the child between fork and exec: namespaces and user first (they need
        root), then limits, which bind whatever the child becomes. What fails is written to
        the child's output (subprocess reports only that something failed)."""
        try:
            self._confine()
        except BaseException as error:
            os.write(2, f"confining the submission's process failed: {type(error).__name__}: {error}\n".encode())
            raise

    def _confine(self) -> None:
        if self.uid is not None:
            _libc.unshare(CLONE_NEWNET)  # no network where the kernel allows it; else as before
            if self.covered:
                self._view()
            os.setgroups([])
            os.setresgid(self.gid, self.gid, self.gid)
            os.setresuid(self.uid, self.uid, self.uid)
        limits = [(resource.RLIMIT_CORE, 0), (resource.RLIMIT_AS, self.memory),
                  (resource.RLIMIT_FSIZE, self.file_size), (resource.RLIMIT_NPROC, self.processes)]
        for which, value in limits:
            if value is not None:
                resource.setrlimit(which, (value, value))
        if self.cpu_seconds is not None:  # SIGXCPU at the limit, SIGKILL a little later
            resource.setrlimit(resource.RLIMIT_CPU, (self.cpu_seconds, self.cpu_seconds + 5))
        prctl(PR_SET_NO_NEW_PRIVS, 1)
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        os.umask(0o077)

    def _view(self) -> None:
        """A mount namespace of its own: the covered folders become empty tmpfs (those it may
        write to are small), the reachable ones are bound back in, and its work folder is a
        tmpfs of ``disk`` bytes (a submission that fills its disk fills only that)."""
        if _libc.unshare(CLONE_NEWNS) != 0:
            raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNS)")
        _mount("none", "/", None, MS_REC | MS_PRIVATE, None)
        kept = {path: os.open(path, os.O_PATH) for path in self.reachable}  # before anything is covered
        for folder in sorted(self.covered, key=len):
            mode = "1777,size=16m" if folder in SHARED_TEMPORARY else "0755,size=1m"
            _mount("tmpfs", folder, "tmpfs", MS_NOSUID | MS_NODEV, f"mode={mode}")
        for path in sorted(kept, key=len):
            if any(path == c or _inside(path, c) for c in self.covered):
                if os.path.isdir(f"/proc/self/fd/{kept[path]}"):
                    os.makedirs(path, exist_ok=True)
                else:
                    os.makedirs(os.path.dirname(path), exist_ok=True)
                    open(path, "a").close()
                _mount(f"/proc/self/fd/{kept[path]}", path, None, MS_BIND | MS_REC, None)
            os.close(kept[path])
        if self.folder:
            work = os.path.join(self.folder, "work")
            size = f",size={self.disk}" if self.disk else ""
            _mount("tmpfs", work, "tmpfs", MS_NOSUID | MS_NODEV, f"mode=0700,uid={self.uid},gid={self.gid}{size}")
            for name in ("home", "tmp", "cache"):
                os.mkdir(os.path.join(work, name), 0o700)
                os.chown(os.path.join(work, name), self.uid, self.gid)

    def process_limit(self) -> "Confinement":
        """Without a user of its own the process limit counts the grader's user's processes
        too: the limit becomes what that user runs now plus the allowance."""
        if self.uid is not None or self.processes is None:
            return self
        running = sum(1 for _ in processes(os.getuid(), threads=True))
        return Confinement(**{**asdict(self), "processes": running + self.processes})

    def clean_up(self) -> None:
        """Kill every process the submission started, detached ones included: every
        descendant of this process (the grader's, whose only children are submissions' processes)
        and, as root, every process of the submission's user."""
        kill_descendants()
        if self.uid is not None:
            kill_user(self.uid)


def _mount(source: str, target: str, kind: str | None, flags: int, options: str | None) -> None:
    encode = lambda text: None if text is None else text.encode()  # noqa: E731
    if _libc.mount(encode(source), encode(target), encode(kind), flags, encode(options)) != 0:
        raise OSError(ctypes.get_errno(), f"mount {target}")


def _inside(path: str, folder: str) -> bool:
    return path.startswith(folder.rstrip("/") + "/")


def closed_ancestor(path: Path, uid: int) -> str | None:
    """The outermost folder on the way to ``path`` that user ``uid`` may not pass through
    (``path`` itself counts only as a way to what is inside it)."""
    for folder in reversed(path.parents):
        try:
            info = os.stat(folder)
            if info.st_uid != uid and not info.st_mode & stat.S_IXOTH:
                return str(folder)
        except OSError:
            return None
    return None


_MOUNT_NAMESPACES: list[bool] = []


def mount_namespaces() -> bool:
    """Whether a child of this process may have mount namespaces of its own (root with
    CAP_SYS_ADMIN, outside Docker's default profile); asked once."""
    if not _MOUNT_NAMESPACES:
        probe = "import ctypes, sys; sys.exit(ctypes.CDLL(None).unshare(0x00020000) != 0)"
        result = subprocess.run([sys.executable, "-S", "-c", probe], capture_output=True)
        _MOUNT_NAMESPACES.append(result.returncode == 0)
    return _MOUNT_NAMESPACES[0]


# ------------------------------------------------------------------------------ processes

def processes(uid: int | None = None, threads: bool = False, zombies: bool = False) -> Iterator[tuple[int, int]]:
    """(pid, parent pid) of every live process (of real user ``uid``); with ``threads``, one
    entry per thread (what the process limit counts); with ``zombies``, the dead ones not yet
    reaped too."""
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            status = dict(line.split(":", 1) for line in Path(entry.path, "status").read_text().splitlines()
                          if ":" in line)
        except (OSError, ValueError):
            continue  # gone meanwhile
        if not zombies and status.get("State", "").split()[:1] in (["Z"], ["X"]):
            continue
        if uid is not None and int(status["Uid"].split()[0]) != uid:
            continue
        count = int(status.get("Threads", "1")) if threads else 1
        for _ in range(count):
            yield int(entry.name), int(status["PPid"])


def become_subreaper() -> bool:
    """Orphans among this process's descendants become its children instead of init's, so
    that ``kill_descendants`` finds them."""
    return prctl(PR_SET_CHILD_SUBREAPER, 1)


def kill_descendants(root: int | None = None) -> None:
    """SIGKILL every descendant of ``root`` (this process), until none is left."""
    root = os.getpid() if root is None else root

    def descendants() -> list[int]:
        # the family tree through dead processes too: a child whose parent has just exited may
        # not have been handed to this process yet
        children: dict[int, list[int]] = {}
        for pid, parent in processes(zombies=True):
            children.setdefault(parent, []).append(pid)
        found, stack = [], list(children.get(root, []))
        while stack:
            pid = stack.pop()
            found.append(pid)
            stack.extend(children.get(pid, []))
        return [pid for pid in found if _running(pid)]

    _kill_until_none_left(descendants, "descendants of this process")


def kill_user(uid: int) -> None:
    """SIGKILL every process of real user ``uid`` (needs root), until none is left."""
    _kill_until_none_left(lambda: [pid for pid, _ in processes(uid)], f"processes of user {uid}")


def _kill_until_none_left(find, what: str) -> None:
    """SIGKILL what ``find()`` lists until it lists nothing. A process being killed may still
    fork (its child then appears after the scan that found it), so "nothing left" counts only
    from a scan that began after every process killed so far had finished exiting: a process
    can only be made by a live one."""
    killed: set[int] = set()
    for attempt in range(200):
        settled = not any(_running(pid) for pid in killed)
        found = find()
        if not found and settled:
            return
        for pid in found:
            _kill(pid)
        killed.update(found)
        _reap(found)
        time.sleep(0.002 * attempt)
    raise EdfError(f"{what} survive SIGKILL")


def _running(pid: int) -> bool:
    """Whether ``pid`` exists and has not finished exiting (a zombie has: its children are
    already re-parented)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    state = status.split("State:", 1)[1].split()[:1] if "State:" in status else []
    return state not in (["Z"], ["X"])


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _reap(pids: list[int]) -> None:
    """Collect the exit of those of ``pids`` that are this process's children (orphans it
    adopted as a subreaper), so that they do not stay zombies."""
    for pid in pids:
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass


# -------------------------------------------------------------------------------- accounts

@dataclass
class Account:
    uid: int
    gid: int


@contextmanager
def account() -> Iterator[Account | None]:
    """A user of its own for one submission, or None when this process is not root. Its
    processes and its files in the shared temporary folders are removed before it is given
    to the next submission (and when it is taken: a grading that was killed left them)."""
    if os.geteuid() != 0:
        yield None
        return
    LOCKS.mkdir(mode=0o700, exist_ok=True)
    info = LOCKS.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != 0 or info.st_mode & 0o022:
        raise EdfError(f"{LOCKS} must be a folder owned by root that only root can write")
    for uid in range(FIRST_UID, FIRST_UID + ACCOUNTS):
        try:
            pwd.getpwuid(uid)
            continue  # a real user after all
        except KeyError:
            pass
        lock = os.open(LOCKS / f"{uid}.lock", os.O_CREAT | os.O_RDWR | os.O_NOFOLLOW, 0o600)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(lock)
            continue
        try:
            clear_user(uid)
            yield Account(uid, uid)
        finally:
            try:
                clear_user(uid)
            finally:
                os.close(lock)  # releases the lock
        return
    raise EdfError(f"all {ACCOUNTS} grading accounts are in use")


def clear_user(uid: int) -> None:
    """No process of ``uid`` left, and none of its files in the shared temporary folders."""
    kill_user(uid)
    for top in dict.fromkeys((*SHARED_TEMPORARY, os.environ.get("TMPDIR", "/tmp"))):
        _remove_owned(Path(top), uid, depth=3)


def _remove_owned(folder: Path, uid: int, depth: int) -> None:
    """Remove what ``uid`` owns in ``folder``, and look inside the folders anyone may write
    to (the only other places it could have written), ``depth`` levels down."""
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        try:
            info = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if info.st_uid == uid:
            if stat.S_ISDIR(info.st_mode):
                shutil.rmtree(entry.path, ignore_errors=True)
            else:
                Path(entry.path).unlink(missing_ok=True)
        elif stat.S_ISDIR(info.st_mode) and info.st_mode & stat.S_IWOTH and depth > 1:
            _remove_owned(Path(entry.path), uid, depth - 1)


def private_folder(path: Path, owner: Account | None) -> Path:
    """``path`` made (0700), owned by ``owner`` when there is one."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    if owner is not None:
        for item in [path, *path.rglob("*")]:
            os.lchown(item, owner.uid, owner.gid)
    return path
