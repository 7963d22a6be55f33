"""edf.submission and edf.sandbox: a grader reaches the student's module, imported in a process
of its own, only as data. Each case runs a small grader with pytest (as grading does) on a
small student module and reads the per-test results edf's plugin records: what crosses and how
(answers, exceptions, changed arguments, generators, the grader's callbacks, helpers run there),
what a misbehaving module costs (one test, not the run), and, confined, what it cannot reach."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

from edf import sandbox, view

ROOT = Path(__file__).resolve().parent.parent

STUDENT = '''
import os, sys, time
import numpy as np
print("importing the student's module")
TILE = 4

def add(a, b):
    return a + b

def settle(ranges, index, size):
    ranges[index] = size
    return True

def double(prog, x):
    prog.append(f"for i: y[i] = 2 * {x}[i]")
    return "y"

def conflict():
    from edf.errors import ShapeError
    raise ShapeError("index 'k' has no source")

def custom():
    class Mine(Exception):
        pass
    raise Mine("mine")

def todo():
    raise NotImplementedError("TODO(exercise 90.1): todo")

def batches(n):
    for k in range(n):
        yield np.full(3, k)

def apply(f, x):
    return f(x) + 1

def pid():
    return os.getpid()

def who():
    return os.getuid(), os.environ["HOME"], os.environ["TMPDIR"], os.getcwd()

def environment():
    return dict(os.environ)

def patch_numpy():
    np.allclose = lambda *a, **k: True

def exit_now():
    os._exit(3)

def loop():
    while True:
        pass

def shout():
    print("x" * 100_000)

def flood():
    while True:
        sys.stdout.write("y" * 1_000_000)

def fill_disk():
    written = 0
    try:
        with open(os.path.join(os.environ["TMPDIR"], "big"), "wb") as f:
            while written < 2 ** 31:
                f.write(b"z" * 2 ** 20)
                written += 2 ** 20
    except OSError as error:
        return written, error.errno
    return written, 0

def touch(path):
    try:
        with open(path, "a") as f:
            f.write("forged")
        return "written"
    except OSError as error:
        return type(error).__name__

def listing(path):
    try:
        return sorted(os.listdir(path))
    except OSError as error:
        return type(error).__name__

def process_ids():
    return sorted(int(p) for p in os.listdir("/proc") if p.isdigit())

def read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError as error:
        return type(error).__name__

def network():
    import socket
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))  # TEST-NET-1: needs a route, sends nothing
        return True
    except OSError:
        return False
'''

GRADER = '''
import os
import numpy as np
import pytest
import edf
from edf.errors import ShapeError
from edf.submission import SubmissionError, in_submission

pytestmark = pytest.mark.ex90_1


def test_answers_and_changed_arguments(impl):
    ranges, prog = {}, edf.Program()
    assert impl.add(2, 3) == 5 and impl.TILE == 4
    assert impl.settle(ranges, "i", 4) is True and ranges == {"i": 4}
    assert impl.double(prog, "x") == "y" and prog.source() == "for i: y[i] = 2 * x[i]"


def test_exceptions_cross_as_themselves(impl):
    with pytest.raises(ShapeError, match="index 'k' has no source") as error:
        impl.conflict()
    assert "raise ShapeError" in str(getattr(error.value, "__notes__", ""))  # the student's traceback
    with pytest.raises(SubmissionError, match="Mine: mine"):
        impl.custom()
    with pytest.raises(AttributeError, match="no_such_function"):
        impl.no_such_function


def test_generators_and_the_graders_callbacks(impl):
    assert [int(b.sum()) for b in impl.batches(3)] == [0, 3, 6]
    assert impl.apply(lambda x: x * 10, 2) == 21


@in_submission
def inside(function, x):
    return function.__name__, x * 2, os.getpid()


def test_helpers_run_in_the_submission(impl):
    name, doubled, pid = inside(impl.double, 3)
    assert (name, doubled) == ("double", 6) and pid == impl.pid() != os.getpid()


def test_patches_stay_in_its_process(impl):
    impl.patch_numpy()
    assert not np.allclose(1, 2)


def test_not_done(impl):
    impl.todo()


def test_exit_mid_test(impl):
    impl.exit_now()


def test_a_fresh_process_after_an_exit(impl):
    assert impl.add(1, 2) == 3


def test_loop(impl):
    impl.loop()


def test_a_fresh_process_after_a_loop(impl):
    assert impl.add(2, 2) == 4


def test_prints(impl):
    impl.shout()


def test_floods(impl):
    impl.flood()


def test_fills_its_disk(impl):
    written, errno = impl.fill_disk()
    print("WROTE", written, errno)


def test_confined(impl):
    uid, home, tmp, cwd = impl.who()
    checkout = os.path.dirname(os.path.dirname(edf.__file__))
    print("CONFINED", json.dumps({"uid": uid, "home": home, "tmp": tmp, "cwd": cwd,
                                  "grader": impl.touch(__file__), "root": impl.listing("/root"),
                                  "tmp_listing": impl.listing("/tmp"), "network": impl.network(),
                                  "processes": impl.process_ids(), "grader_process": impl.listing(f"/proc/{os.getpid()}"),
                                  "checkout": impl.listing(checkout), "secret": impl.read(os.environ["SECRET"]),
                                  "environment": impl.environment()}))
'''.replace("import os\n", "import json\nimport os\n", 1)


def grade(tmp_path: Path, student: str, confinement: sandbox.Confinement | None = None, select: str = "",
          extra_env: dict | None = None, run_as: list[str] = ()):
    """Run GRADER on ``student`` with pytest in a subprocess (its command after ``run_as``);
    {test: (outcome, message)}, the problems recorded, and pytest's output."""
    folder = tmp_path / "exercises" / "90_fake"
    folder.mkdir(parents=True)
    (tmp_path / "exercises" / "conftest.py").write_text((ROOT / "exercises" / "conftest.py").read_text())
    (tmp_path / "pytest.ini").write_text("[pytest]\nmarkers =\n    ex90_1: exercise 90.1, everything\n")
    (folder / "test_grader.py").write_text(GRADER)
    (folder / "student.py").write_text(student)
    report = tmp_path / "report.jsonl"
    env = {**os.environ, "EDF_EXERCISE_IMPL": str(folder / "student.py"), "SECRET": str(tmp_path / "none"),
           **(confinement or sandbox.Confinement()).to_environment(), **(extra_env or {})}
    result = subprocess.run([*run_as, sys.executable, "-m", "pytest", str(folder), "-p", "edf.pytest_tasks", "--tasks-report",
                             str(report), "-p", "no:cacheprovider", "-q", "-rA", "-o", "addopts=",
                             *(["-k", select] if select else [])],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    lines = [json.loads(line) for line in report.read_text().splitlines()]
    outcomes = {r["test"].split("::")[-1]: ("passed" if r["passed"] else "failed", r["message"])
                for r in lines if r["event"] == "result"}
    return outcomes, [r["message"] for r in lines if r["event"] == "problem"], result.stdout


def test_what_crosses_and_what_a_misbehaving_call_costs(tmp_path):
    limits = sandbox.Confinement(call_seconds=10, file_size=8 * 2 ** 20)
    outcomes, problems, output = grade(tmp_path, STUDENT, limits, select="not fills and not confined")
    expected_pass = ["test_answers_and_changed_arguments", "test_exceptions_cross_as_themselves",
                     "test_generators_and_the_graders_callbacks", "test_helpers_run_in_the_submission",
                     "test_patches_stay_in_its_process", "test_a_fresh_process_after_an_exit",
                     "test_a_fresh_process_after_a_loop", "test_prints"]
    for name in expected_pass:
        assert outcomes[name][0] == "passed", (name, outcomes[name], output[-3000:])
    assert outcomes["test_not_done"] == ("failed", "exercise 90.1 is not done yet: TODO(exercise 90.1): todo")
    assert "its process ended during call function exit_now: exit code 3" in outcomes["test_exit_mid_test"][1]
    assert "did not finish within 10 s (the time limit of one call)" in outcomes["test_loop"][1]
    assert "OSError: [Errno 27] File too large" in outcomes["test_floods"][1]  # Python ignores SIGXFSZ
    assert len(problems) == 2 and "exit code 3" in problems[0] and "time limit" in problems[1]
    assert "--- printed by student.py ---" in output and "importing the student's module" in output


@pytest.mark.parametrize("case, student", [
    ("syntax error", "def add(a, b)\n    return a + b\n"),
    ("exits at import", "import sys\nsys.exit(0)\n"),
    ("ends at import", "import os\nos._exit(0)\n"),
    ("raises at import", "raise ValueError('no')\n"),
])
def test_a_module_that_cannot_be_imported_fails_every_test_at_once(tmp_path, case, student):
    outcomes, problems, _ = grade(tmp_path, student, select="answers or exceptions or generators")
    assert len(outcomes) == 3 and all(outcome == "failed" for outcome, _ in outcomes.values())
    messages = {message for _, message in outcomes.values()}
    assert len(messages) == 1 and "student.py could not be imported" in messages.pop()
    assert len(problems) == 1  # imported once, not once per test
    why = {"syntax error": "SyntaxError", "exits at import": "it called sys.exit(0)",
           "ends at import": "ended while importing it: exit code 0", "raises at import": "ValueError: no"}[case]
    assert why in problems[0]


@pytest.fixture
def staff_secret():
    """A file outside the temporary folders that every user may read, as a course's files under
    /srv or in a home open to others often are."""
    parent = next(p for p in (Path("/srv"), Path.home()) if os.access(p, os.W_OK))
    folder = Path(tempfile.mkdtemp(prefix="edf-staff-", dir=parent))
    try:
        os.chmod(folder, 0o755)
        (folder / "solution.py").write_text("ANSWER = 42\n")
        os.chmod(folder / "solution.py", 0o644)
        yield folder / "solution.py"
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def confined(tmp_path: Path, account, **fields) -> tuple[sandbox.Confinement, Path]:
    private = tmp_path / "private"
    for name in ("home", "tmp", "cache"):
        (private / "work" / name).mkdir(parents=True)
    sandbox.private_folder(private, account)
    os.chmod(tmp_path, 0o711)
    return sandbox.Confinement(uid=account and account.uid, gid=account and account.gid, folder=str(private),
                               call_seconds=60, disk=16 * 2 ** 20, processes=64, **fields), private


def report(output: str) -> dict:
    assert "CONFINED" in output, output[-3000:]
    return json.loads(output.split("CONFINED ", 1)[1].splitlines()[0])


def test_confined_in_a_view_of_its_own(tmp_path, staff_secret, view_here):
    """Its view (edf.view): its own folder, Python, edf's package folders and the grader's copy,
    nothing else; its own processes only; no network; its disk a tmpfs of its own. As root it is
    also a user of its own; without root, the grader's user in a user namespace."""
    if not view_here:
        pytest.skip(f"no view of its own here: {view.unavailable()}")
    with sandbox.account() as account:
        confinement, private = confined(tmp_path, account, view=True)
        outcomes, problems, output = grade(tmp_path, STUDENT, confinement, select="confined or fills",
                                           extra_env={"SECRET": str(staff_secret), "PWD": str(ROOT)})
        seen = report(output)
        assert seen["uid"] == (account.uid if account else os.getuid())
        assert seen["home"] == str(private / "work" / "home") and seen["cwd"] == str(private)
        assert seen["grader"] in ("PermissionError", "OSError", "FileNotFoundError")  # read-only: EROFS
        # of /tmp it sees only the way to its own folder and to what it must read (Python, edf:
        # a clone of the project under /tmp, as a CI runner may make)
        needed = [Path(p).resolve().parts for p in (tmp_path, ROOT, sys.prefix)]
        assert sorted(seen["tmp_listing"]) == sorted({parts[2] for parts in needed if len(parts) > 2 and parts[1] == "tmp"})
        assert seen["root"] in ([".pyenv"], [], "PermissionError")
        assert seen["network"] is False
        written, errno = map(int, output.split("WROTE ", 1)[1].split()[:2])
        assert written <= 16 * 2 ** 20 and errno == 28  # ENOSPC: only its own disk is full
        # its own processes: the namespace's first process (bwrap) and its own
        assert len(seen["processes"]) <= 3 and seen["grader_process"] == "FileNotFoundError", seen["processes"]
        # of the checkout, edf's package folders only (and a virtual environment inside it): no solutions
        assert set(seen["checkout"]) <= {"edf", "kernels", "lectures", ".venv", "venv"}, seen["checkout"]
        assert {"edf", "kernels"} <= set(seen["checkout"])
        assert seen["secret"] == "FileNotFoundError"
        # of the grader's environment, what it runs by: not the instructor's tokens, nor PWD
        assert "SECRET" not in seen["environment"], sorted(seen["environment"])
        assert seen["environment"].get("PWD", str(private)) == str(private)  # (bwrap sets PWD to where it starts)
        assert {"PATH", "HOME", "TMPDIR", "PYTHONUNBUFFERED"} <= set(seen["environment"])
    assert account is None or not list(sandbox.processes(account.uid))


NOBODY = 65534


def as_nobody(folder: Path) -> list[str]:
    """A command prefix (run as root) that runs a command as user nobody, in a mount namespace
    where the folders on the way to Python and edf that nobody may not enter (a 0700 home holding
    pyenv) are covered by open ones with Python and edf bound back, as on a machine where they
    are installed for every user."""
    needed = sorted({*view.python_folders(), *view.edf_folders()})
    lines = ["set -e"]
    for number, closed in enumerate(sorted({c for p in needed if (c := sandbox.closed_ancestor(p, NOBODY))})):
        keep = folder / f"closed{number}"
        keep.mkdir()
        lines += [f"mount --bind '{closed}' '{keep}'", f"mount -t tmpfs -o mode=0755 none '{closed}'"]
        for path in (p for p in needed if p.is_relative_to(closed)):
            lines += [f"mkdir -p '{path}'", f"mount --bind '{keep / path.relative_to(closed)}' '{path}'"]
    lines.append(f'exec setpriv --reuid {NOBODY} --regid {NOBODY} --clear-groups -- "$@"')
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", "\n".join(lines), "sh"]


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"), reason="needs root (and setpriv) to try it")
def test_a_view_without_root(staff_secret, view_here):
    """Grading without root (tried here as user nobody): bwrap runs as the grader's user, in a
    user namespace of its own; the view shows what it shows as root, and nothing else."""
    if not view_here:
        pytest.skip(f"no view of its own here: {view.unavailable()}")
    folder = Path(tempfile.mkdtemp(prefix="edf-nobody-"))
    try:
        os.chmod(folder, 0o777)
        work = folder / "work"
        (work / "private").mkdir(parents=True)
        os.chmod(work, 0o777)
        env = {"SECRET": str(staff_secret), "HOME": str(work), "TMPDIR": str(work), "EDF_CACHE_DIR": str(work / "edf")}
        confinement = sandbox.Confinement(folder=str(work / "private"), call_seconds=60, disk=16 * 2 ** 20, view=True)
        outcomes, problems, output = grade(work, STUDENT, confinement, select="confined", extra_env=env,
                                           run_as=as_nobody(folder))
        seen = report(output)
        assert seen["uid"] == NOBODY and seen["cwd"] == str(work / "private")
        assert len(seen["processes"]) <= 3 and seen["grader_process"] == "FileNotFoundError", seen["processes"]
        assert {"edf", "kernels"} <= set(seen["checkout"]) <= {"edf", "kernels", "lectures", ".venv", "venv"}
        assert seen["secret"] == "FileNotFoundError" and seen["network"] is False
        assert seen["grader"] in ("OSError", "PermissionError")  # read-only
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="a user of its own needs root")
def test_confined_as_a_user_of_its_own_without_a_view(tmp_path, staff_secret):
    """Where no view can be made (Docker's default profile, as on Gradescope): its own user,
    which cannot write the grader's files, nor enter folders closed to other users; where
    Python itself lies in such a folder, the process is not started and the grade says why."""
    with sandbox.account() as account:
        confinement, private = confined(tmp_path, account)
        outcomes, problems, output = grade(tmp_path, STUDENT, confinement, select="confined",
                                           extra_env={"SECRET": str(staff_secret)})
        closed = [c for p in (sys.prefix, sys.base_prefix) if (c := sandbox.closed_ancestor(Path(p).resolve(), account.uid))]
        if closed:
            assert problems and f"the submission's user cannot enter {closed[0]}" in problems[0], problems
            assert "no view of its own here" in problems[0]
        else:
            seen = report(output)
            assert seen["uid"] == account.uid and seen["cwd"] == str(private)
            assert seen["grader"] in ("PermissionError", "FileNotFoundError")
            assert seen["root"] == "PermissionError"
            assert seen["secret"] == "ANSWER = 42\n"  # what no view hides: files open to every user
    assert not list(sandbox.processes(account.uid))


ESCAPE = """
import os, sys
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(600)", sys.argv[1]])
    os._exit(0)
os._exit(0)
"""

REAPER = """
import os, subprocess, sys, time
from edf import sandbox, view
sandbox.become_subreaper()
subprocess.run([sys.executable, "-c", sys.argv[1], sys.argv[2]])
def command_line(pid):
    try:
        return open(f"/proc/{pid}/cmdline").read()
    except OSError:  # gone meanwhile
        return ""
for _ in range(400):  # until the grandchild has detached and exec'd (a loaded machine may take seconds)
    if any(command_line(p).endswith(f"time.sleep(600)\\0{sys.argv[2]}\\0") for p, _ in sandbox.processes()):
        break
    time.sleep(0.05)
sandbox.kill_descendants()
print("done")
"""


def test_nothing_the_submission_started_survives(tmp_path):
    """A process that detaches itself (double fork, setsid) is re-parented to the grader, a
    child subreaper, and killed with the rest."""
    marker = f"edf-escape-{os.getpid()}-{tmp_path.name}"

    def escaped() -> list[int]:
        found = []
        for pid, _ in sandbox.processes():
            try:
                if marker in Path(f"/proc/{pid}/cmdline").read_text(errors="replace"):
                    found.append(pid)
            except OSError:  # gone meanwhile
                pass
        return found

    try:
        result = subprocess.run([sys.executable, "-c", REAPER, ESCAPE, marker], capture_output=True, text=True,
                                timeout=120)
        assert result.stdout.strip() == "done", result.stderr
        assert not escaped()
    finally:  # a failed run leaves nothing behind either
        for pid in escaped():
            os.kill(pid, 9)
