"""Confining a submission's process: its own user, its own view, limits, nothing left behind.

The grader starts the student's code in a child process (``edf.submission``) set up here
between fork and exec (``Confinement.preexec``) and, where the machine allows, wrapped in a
view of its own (``edf.view``, bubblewrap: only Python, edf, the grader's copy and its own
folder; its own PID namespace and /proc; no network):

- as root (Gradescope runs autograders as root; so does a class graded on a staff machine) the
  child runs as a user of its own, one per submission (``account``: a uid from a pool nobody
  else uses, locked while a submission holds it), with no supplementary groups: it cannot write
  the grader's files or the results, read another submission's folders, or signal the grader;
- limits: address space, CPU time, the size of any file it writes (its printed output
  included), the number of processes and threads of its user (a fork bomb stops there), no
  core files, no privileges gained through set-user-ID programs, and it dies with its parent;
- private folders (0700): HOME, TMPDIR and the caches point into the submission's own folder
  (with a view, a tmpfs of ``disk`` bytes);
- without a view, as root, a network namespace of its own where the kernel allows one.

Nothing it started survives it (``Confinement.clean_up``): the grader is a child subreaper, so
processes that detach themselves (``setsid`` after a double fork) are re-parented to it and
killed with the rest of its descendants; as root every process of the submission's user is
killed, wherever it went, and the files that user left in the shared temporary folders are
removed before the uid is handed to the next submission. (In a view, the processes it starts
are also in its PID namespace, which the kernel empties when the namespace's first process ends.)

Without root the child runs as the grader's own user: still a separate process that reaches the
grader only as data, limited and cleaned up as above (its process limit counts that user's other
processes too), in a view of its own where the kernel allows unprivileged user namespaces, and
without one able to read and write whatever that user can.
"""
from __future__ import annotations

import ctypes
import fcntl
import json
import os
import pwd
import re
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
from edf.course import view

ENVIRONMENT = "EDF_SANDBOX"  # how the grading process tells the grader's pytest the confinement
FIRST_UID, ACCOUNTS = 1_000_000, 4096  # the pool of grading users: far above any real account
LOCKS = Path("/run/edf-grading") if Path("/run").is_dir() else Path("/tmp/edf-grading")
SHARED_TEMPORARY = ("/tmp", "/var/tmp", "/dev/shm")
# what of the grader's environment a submission being graded gets: how to run (the search path,
# locale, time zone, the settings of Python, the numeric libraries, CUDA and edf), not the rest
# (the instructor's tokens, PWD, VIRTUAL_ENV: secrets, and paths it has no use for)
PASSED_ON = re.compile(r"PATH|LD_LIBRARY_PATH|LANG|LANGUAGE|LC_\w+|TZ|TERM|USER|LOGNAME|PYTHON\w+|"
                       r"(OMP|OPENBLAS|MKL|BLIS|VECLIB|NUMEXPR|NUMBA|CUDA|NVIDIA|MPL|EDF)\w*")

_libc = ctypes.CDLL(None, use_errno=True)  # loaded before any fork: preexec only calls into it
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_SET_CHILD_SUBREAPER, PR_SET_NO_NEW_PRIVS = 1, 4, 36, 38
CLONE_NEWNET = 0x40000000


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
    disk: int | None = None            # what it may write in all, in a view (its folder is a tmpfs of this size)
    cpu_seconds: int | None = None
    processes: int | None = None       # processes and threads of its user at once
    call_seconds: float | None = None  # the longest one call into it may take
    view: bool = False                 # a view of its own (edf.view): what it needs, nothing else
    grader: str | None = None          # the grader's copy, which it reads (the grader's helpers run there)

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
        private folders and unbuffered output (printed text reaches the grader at once). With a
        folder of its own (grading), only the settings it runs by (``PASSED_ON``)."""
        env = {k: v for k, v in base.items() if k not in (ENVIRONMENT, "EDF_EXERCISE_IMPL")
               and (not self.folder or PASSED_ON.fullmatch(k))}
        env.update(PYTHONUNBUFFERED="1", PYTHONDONTWRITEBYTECODE="1")
        if self.folder:
            work = Path(self.folder) / "work"
            env.update(HOME=str(work / "home"), TMPDIR=str(work / "tmp"), MPLCONFIGDIR=str(work / "cache"),
                       XDG_CACHE_HOME=str(work / "cache"), EDF_CACHE_DIR=str(work / "cache" / "edf"),
                       NUMBA_CACHE_DIR=str(work / "cache" / "numba"))
        return env

    def wrap(self, argv: list[str], shown: list[Path]) -> list[str]:
        """The command that starts ``argv`` confined: in a view of its own showing, besides
        Python and edf, ``shown`` (the student's files, the grader's copy) where ``view`` asks
        for one. Without a view the submission's own user must reach those folders itself."""
        shown = [*shown, *([Path(self.grader)] if self.grader else [])]
        if self.view:
            return view.command(argv, shown=shown, folder=self.folder, disk=self.disk, uid=self.uid, gid=self.gid)
        if self.uid is not None:
            for path in sorted({*view.python_folders(), *view.edf_folders(), *shown}):
                if (closed := closed_ancestor(path.resolve(), self.uid)) is not None:
                    raise EdfError(f"the submission's user cannot enter {closed} (which holds {path}), and it "
                                   f"has no view of its own here: install Python and edf where every user can "
                                   f"read them, or bubblewrap (edf.view)")
        return argv

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
        if self.uid is not None and not self.view:  # in a view, bwrap (as root) starts it, and it takes its user there
            _libc.unshare(CLONE_NEWNET)  # no network where the kernel allows it; else as before
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
