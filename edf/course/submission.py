"""A student's code in a process of its own, reached from the grader only as data.

The grader (pytest with the exercise's tests, their assertions and the plugin that records the
results) is the trusted process. The student's module is imported in a child, the
*submission's process*, started and confined by ``edf.sandbox``; the two talk over a pair of
pipes in frames of ``edf.wire``: requests go there, answers and updates come back, all as data.
``connect(path).module`` is a ``Remote`` standing for the student's module:

    impl.swap_rule(stmt)   # looks up swap_rule there, sends stmt, runs it there, decodes the answer

So nothing the student's code does to its own interpreter (patching pytest, edf or the grading
plugin, atexit hooks, exiting, forking) can change what the grader records. A call that raises
raises the same exception here (builtin and edf exception types; any other becomes a
``SubmissionError``), with the student's traceback attached. A process that dies, or a call
that runs past its time limit, fails that test with a message saying so; the next test starts
a fresh process, except after a failed import, which fails every later test at once.

Both sides *lend* what is not data: the student's functions, generators and objects stay in its
process (a ``Remote`` here calls, iterates or looks into them there), and a function of the
grader given as an argument (a program's input feed, a helper such as ``vae.dequantise``) stays
in the grader, which calls it when the student's code does; the grader answers only calls, never
attribute look-ups, so lending a function lends nothing else. ``in_submission`` runs a helper of
the grader's own in the submission's process, for what is not data: compiling a student's CUDA
kernel, running the Numba source it generated. What such a helper returns is the student's
answer, to be checked here.

Run as ``python -m edf.course.submission`` it is the child's side: import the module, then serve.
"""
from __future__ import annotations

import builtins
import functools
import importlib
import importlib.util
import inspect
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any, Callable

from edf.course import view, wire
from edf.core.errors import EdfError
from edf.course.sandbox import Confinement, become_subreaper

OUTPUT_SHOWN = 4000  # characters of the student's printed output shown per call
RESTARTS = 20  # fresh processes after deaths, before the grader stops trying
# exception types that cross as themselves (anything else becomes a SubmissionError)
EXCEPTION_MODULES = ("builtins", "edf.core.errors", "numpy.linalg", "numpy.exceptions")


class SubmissionError(EdfError):
    """What the submission's process did wrong: it could not be imported, died, ran past its
    time limit, raised an exception of its own type, or answered something that is not data."""


class _Gone(Exception):
    """The other side closed its pipe (the child died)."""


class _Late(Exception):
    """The deadline passed while waiting for the other side."""


# ---------------------------------------------------------------------------------- the pipes

class Pipe:
    """Frames over two pipe ends, with a deadline on every wait (the other side may be hostile
    and simply stop)."""

    def __init__(self, read_fd: int, write_fd: int):
        self.read_fd, self.write_fd = read_fd, write_fd
        self._received = bytearray()  # read ahead: a frame usually arrives in one read

    def send(self, header: dict, buffers: list[bytes], deadline: float | None = None) -> None:
        view = memoryview(b"".join(wire.frame(header, buffers)))  # one write for a small frame
        while view:
            self._wait(self.write_fd, deadline, writing=True)
            try:
                view = view[os.write(self.write_fd, view):]
            except BlockingIOError:
                continue  # writable, but not with room for this much yet
            except OSError:
                raise _Gone from None

    def receive(self, deadline: float | None = None) -> tuple[dict, list]:
        def read(size: int) -> bytearray:
            while len(self._received) < size:
                self._wait(self.read_fd, deadline, writing=False)
                try:
                    chunk = os.read(self.read_fd, max(size - len(self._received), 1 << 16))
                except OSError:
                    raise _Gone from None
                if not chunk:
                    raise _Gone
                self._received += chunk
            data = self._received[:size]
            del self._received[:size]
            return data
        return wire.read_frame(read)

    @staticmethod
    def _wait(fd: int, deadline: float | None, writing: bool) -> None:
        if deadline is None:
            return
        left = deadline - time.monotonic()
        ready = select.select([], [fd], [], max(left, 0))[1] if writing else \
            select.select([fd], [], [], max(left, 0))[0]
        if not ready:
            raise _Late

    def close(self) -> None:
        for fd in (self.read_fd, self.write_fd):
            try:
                os.close(fd)
            except OSError:
                pass


class Remote:
    """Something the other side lent: calling it, iterating it or reading its attributes
    happens there. Attributes named like ``__x__`` are not looked up (Python's own protocols
    probe them)."""

    __slots__ = ("_peer", "_id", "_kind", "_label", "_functions")

    def __init__(self, peer: "Peer", number: int, kind: str, label: str):
        self._peer, self._id, self._kind, self._label = peer, number, kind, label
        self._functions: dict[str, Remote] = {}

    def __getattr__(self, name: str):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        if name in self._functions:
            return self._functions[name]
        value = self._peer.ask("getattr", self, name=name)
        if self._kind == "module" and isinstance(value, Remote) and value._kind == "callable":
            self._functions[name] = value  # a module's functions: looked up once (a call is then one round trip)
        return value

    def __call__(self, *args, **kwargs):
        return self._peer.ask("call", self, args=args, kwargs=kwargs)

    def __iter__(self):
        return self if self._kind == "iterator" else self._peer.ask("iter", self)

    def __next__(self):
        return self._peer.ask("next", self)

    def __repr__(self) -> str:
        return f"<{self._label} in {self._peer.where}>"


def _describe(value) -> tuple[str, str]:
    if inspect.ismodule(value):
        return "module", f"module {getattr(value, '__file__', value.__name__)}"
    kind = "iterator" if hasattr(type(value), "__next__") else "callable" if callable(value) else "object"
    name = getattr(value, "__qualname__", None) if callable(value) else None
    return kind, f"{type(value).__name__} {name}" if isinstance(name, str) else f"{type(value).__name__} object"


class Peer:
    """One end: sends requests and waits for their answers, serving the other end's requests
    meanwhile (a call may call back). ``serves`` lists the requests this end answers: the
    submission's process answers every kind, the grader only calls of what it lent."""

    def __init__(self, pipe: Pipe, serves: tuple[str, ...], where: str):
        self.pipe, self.serves, self.where = pipe, serves, where
        self.exports: dict[int, Any] = {}
        self._numbers: dict[int, int] = {}
        self.deadline: float | None = None
        self.probes: dict[str, Any] = {}
        self.ask = self.request  # what a Remote's use goes through (the grader's adds limits)

    # -- values ------------------------------------------------------------------------------
    def lend(self, value) -> dict:
        if isinstance(value, Remote):
            if value._peer is not self:
                raise SubmissionError(f"{value!r} belongs to another process")
            return {"yours": value._id}
        if id(value) not in self._numbers:
            self._numbers[id(value)] = number = len(self.exports)
            self.exports[number] = value
        kind, label = _describe(value)
        return {"lent": [self._numbers[id(value)], kind, label]}

    def borrow(self, tag: str, payload) -> Any:
        if tag == "yours" and type(payload) is int and payload in self.exports:
            return self.exports[payload]
        if tag == "lent" and type(payload) is list and len(payload) == 3 and type(payload[0]) is int \
                and all(type(p) is str for p in payload[1:]):
            return Remote(self, *payload)
        raise wire.WireError(f"a reference that is not one: {tag}")

    # -- asking ------------------------------------------------------------------------------
    def request(self, op: str, target: Remote | None, args=(), kwargs=None, **fields):
        """Send a request and return its answer (raise its exception)."""
        encoder = wire.Encoder(self.lend)
        header = {"op": op, "target": None if target is None else self.lend(target)["yours"], **fields,
                  "args": [encoder.encode(a) for a in args],
                  "kwargs": [[k, encoder.encode(v)] for k, v in (kwargs or {}).items()]}
        header["objects"] = encoder.objects
        self.pipe.send(header, encoder.buffers, self.deadline)
        while True:
            answer, buffers = self.pipe.receive(self.deadline)
            if answer.get("op") in ("reply", "error"):
                decoder = wire.Decoder(answer.get("objects"), buffers, self.borrow, originals=encoder.table)
                if answer["op"] == "reply":
                    return decoder.decode(answer.get("value"))
                raise rebuild_exception(answer, self.where)
            self.answer(answer, buffers)

    # -- answering ---------------------------------------------------------------------------
    def answer(self, request: dict, buffers: list) -> None:
        """Serve one request of the other side and send the answer."""
        op = request.get("op")
        decoder = wire.Decoder(request.get("objects"), buffers, self.borrow)
        try:
            if op not in self.serves:
                raise SubmissionError(f"{self.where} does not answer {op!r} requests")
            value = self._perform(op, request, decoder)
            header = {"op": "reply"}
        except BaseException as error:  # noqa: B036 - SystemExit from student code is an answer too
            value, header = None, describe_exception(error)
        encoder = wire.Encoder(self.lend, known=decoder.built)
        try:
            header["value"] = encoder.encode(value)
            encoder.updates(request.get("objects"), buffers)
        except Exception as error:  # an answer that cannot be sent is an error of the callee's
            encoder = wire.Encoder(self.lend)
            header = describe_exception(SubmissionError(f"its answer cannot be sent as data: {error}"))
        header["objects"] = encoder.objects
        self.pipe.send(header, encoder.buffers, self.deadline)

    def _perform(self, op: str, request: dict, decoder: wire.Decoder):
        args = [decoder.decode(a) for a in wire.as_list(request.get("args"))]
        kwargs = {wire.as_text(k): decoder.decode(v) for k, v in (wire.as_list(p, 2) for p in wire.as_list(request.get("kwargs")))}
        if op == "probe":
            return self.probe(request.get("file"), request.get("name"))(*args, **kwargs)
        target = self.borrow("yours", request.get("target"))
        if op == "call":
            return target(*args, **kwargs)
        if op == "getattr":
            return getattr(target, wire.as_text(request.get("name")))
        if op == "iter":
            return iter(target)
        return next(target)

    def probe(self, file, name):
        """A helper of the grader's (``in_submission``), loaded from the grader's file."""
        if file not in self.probes:
            spec = importlib.util.spec_from_file_location(f"edf_grader_probes_{len(self.probes)}", wire.as_text(file))
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            self.probes[file] = module
        helper = self.probes[file]
        for part in wire.as_text(name).split("."):
            helper = getattr(helper, part)
        return getattr(helper, "__wrapped__", helper)

    def serve(self) -> None:
        """Answer requests until the other side closes the pipe."""
        while True:
            try:
                request, buffers = self.pipe.receive()
            except _Gone:
                return
            self.answer(request, buffers)


# -------------------------------------------------------------------------------- exceptions

def describe_exception(error: BaseException) -> dict:
    """An exception as data: its type by name, its arguments if they are data, its message,
    and where it was raised."""
    args = list(error.args) if all(type(a) in (str, int, float, bool, type(None)) for a in error.args) else None
    try:
        message = str(error)
    except Exception:
        message = f"(an exception whose message cannot be shown: {type(error).__name__})"
    lines = traceback.format_exception(type(error), error, error.__traceback__)
    return {"op": "error", "type": type(error).__name__, "module": type(error).__module__,
            "args": args, "message": message[:20000], "traceback": "".join(lines)[-6000:]}


def rebuild_exception(answer: dict, where: str) -> Exception:
    """The exception an error answer describes: its own type where that is a builtin, edf or
    numpy exception, else a SubmissionError naming it; the remote traceback as a note."""
    name, module, message = (str(answer.get(k, ""))[:20000] for k in ("type", "module", "message"))
    cls = None
    if module in EXCEPTION_MODULES and name.isidentifier():
        found = getattr(builtins if module == "builtins" else importlib.import_module(module), name, None)
        if isinstance(found, type) and issubclass(found, Exception):
            cls = found
    error = None
    if cls is not None:
        args = answer.get("args")
        if not isinstance(args, list) or not all(type(a) in (str, int, float, bool, type(None)) for a in args):
            args = [message]
        try:
            error = cls(*args)
        except Exception:
            error = cls.__new__(cls)
            error.args = (message,)
    if error is None and (module, name) == ("builtins", "SystemExit"):
        error = SubmissionError(f"it called sys.exit({message})")
    if error is None:
        error = SubmissionError(f"{module}.{name}: {message}" if module not in ("builtins", "__main__")
                                else f"{name}: {message}")
    if hasattr(error, "add_note") and answer.get("traceback"):
        error.add_note(f"raised in {where}:\n{str(answer['traceback'])[-6000:]}")
    return error


# ---------------------------------------------------------------------------- the grader's side

class Submission:
    """The student's module at ``path``, imported in a confined process of its own (started
    when first needed, and again after it died); ``module`` is its ``Remote``."""

    def __init__(self, path: Path, aliases: dict[str, Path] | None = None,
                 confinement: Confinement | None = None, on_problem: Callable[[str], None] | None = None):
        self.path, self.aliases = Path(path), dict(aliases or {})
        self.confinement = confinement or Confinement.from_environment()
        self.on_problem = on_problem or (lambda text: None)
        self.process: subprocess.Popen | None = None
        self.peer: Peer | None = None
        self.root: Remote | None = None
        self.broken: str | None = None  # why it cannot be imported: every later call fails so
        self.restarts = 0
        self._output = None
        self._shown = 0

    @property
    def module(self) -> Remote:
        if self.broken:
            raise SubmissionError(self.broken)
        if self.peer is None:
            self._start()
        return self.root

    def _start(self) -> None:
        if self.restarts >= RESTARTS:
            self.broken = f"{self.path.name}'s process ended {RESTARTS} times; the grader stopped starting it"
            self.on_problem(self.broken)
            raise SubmissionError(self.broken)
        self.restarts += 1
        self.confinement.clean_up()
        become_subreaper()
        if self._output is None:
            self._output = tempfile.TemporaryFile()
        to_child, from_parent = os.pipe()
        to_parent, from_child = os.pipe()
        confinement = self.confinement.process_limit()
        try:
            command = confinement.wrap(
                [sys.executable, "-m", "edf.course.submission", str(to_child), str(from_child), str(self.path),
                 json.dumps({name: str(p) for name, p in self.aliases.items()})],
                shown=[self.path.parent, *(p.parent for p in self.aliases.values())])
        except EdfError as error:  # the machine cannot confine it as asked
            for fd in (to_child, from_parent, to_parent, from_child):
                os.close(fd)
            self.broken = f"{self.path.name}'s process could not be started: {error}"
            self.on_problem(self.broken)
            raise SubmissionError(self.broken) from None
        folder = confinement.folder or str(self.path.parent)
        try:
            self.process = subprocess.Popen(
                command, pass_fds=(to_child, from_child), stdin=subprocess.DEVNULL, stdout=self._output,
                stderr=subprocess.STDOUT, env=confinement.environment(dict(os.environ)), cwd=folder,
                start_new_session=True, preexec_fn=confinement.preexec)
        except (OSError, subprocess.SubprocessError) as error:
            os.close(to_parent)
            os.close(from_parent)
            self._output.seek(self._shown)
            said = self._output.read()[-2000:].decode("utf-8", errors="replace").strip()
            self.broken = f"{self.path.name}'s process could not be started: {said or error}"
            self.on_problem(self.broken)
            raise SubmissionError(self.broken) from None
        finally:
            os.close(to_child)
            os.close(from_child)
        os.set_blocking(from_parent, False)
        self.peer = Peer(Pipe(to_parent, from_parent), serves=("call",), where=f"{self.path.name}'s process")
        self.peer.ask = self.request
        self.peer.deadline = self._deadline()
        try:
            header, buffers = self.peer.pipe.receive(self.peer.deadline)
            if header.get("op") == "error":
                raise rebuild_exception(header, self.peer.where)
            self.root = wire.Decoder([], [], self.peer.borrow).decode(header.get("value"))
            if not isinstance(self.root, Remote):
                raise wire.WireError("a start that is not a module")
        except BaseException as error:
            self.broken = f"{self.path.name} could not be imported: {self._why(error, 'while importing it')}"
            self.stop()
            self.on_problem(self.broken)
            raise SubmissionError(self.broken) from None
        finally:
            self.show_output()

    def _deadline(self) -> float | None:
        seconds = self.confinement.call_seconds
        return None if seconds is None else time.monotonic() + seconds

    def request(self, op: str, target: Remote | None, **fields):
        """A request on behalf of the grader, within the time limit of one call."""
        if self.peer is None or target is not None and target._peer is not self.peer:
            raise SubmissionError(f"{self.path.name}'s process ended earlier; what came from it is gone")
        self.peer.deadline = self._deadline()
        try:
            return self.peer.request(op, target, **fields)
        except (_Gone, _Late, wire.WireError) as error:
            what = fields.get("name") or (target._label if target is not None else "it")
            message = self._why(error, f"during {op} {what}")
            self.stop()
            self.on_problem(message)
            raise SubmissionError(message) from None
        finally:
            self.show_output()

    def _why(self, error: BaseException, during: str) -> str:
        """The sentence for what went wrong (the process is stopped here if it is not yet)."""
        if isinstance(error, _Late):
            self.stop()
            return f"it did not finish within {self.confinement.call_seconds:g} s (the time limit of one call) {during}"
        if isinstance(error, _Gone):
            return f"its process ended {during}: {describe_exit(self._exit_code(), self.confinement)}"
        if isinstance(error, wire.WireError):
            return f"its process sent something that is not data {during}: {error}"
        if isinstance(error, SubmissionError):
            return str(error)
        if isinstance(error, Exception) and "\n" not in str(error):
            return f"{type(error).__name__}: {error}"
        return "".join(traceback.format_exception_only(type(error), error)).strip()

    def _exit_code(self) -> int | None:
        try:
            code = self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            return None
        return view.exit_status(code) if self.confinement.view else code  # the process is bwrap

    def show_output(self) -> None:
        """What the student's code printed since last time, into the test's captured output."""
        if self._output is None:
            return
        self._output.seek(0, os.SEEK_END)
        end = self._output.tell()
        if end > self._shown:
            self._output.seek(max(self._shown, end - OUTPUT_SHOWN))
            text = self._output.read().decode("utf-8", errors="replace")
            cut = f"(the first {end - self._shown - OUTPUT_SHOWN} bytes left out)\n" if end - self._shown > OUTPUT_SHOWN else ""
            print(f"--- printed by {self.path.name} ---\n{cut}{text}", file=sys.stdout)
            self._shown = end

    def stop(self) -> None:
        """End the process and everything it started."""
        if self.peer is not None:
            self.peer.pipe.close()
        if self.process is not None and self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        self.confinement.clean_up()
        if self.process is not None:
            self._exit_code()
        self.peer = self.root = None


def describe_exit(code: int | None, confinement: Confinement | None = None) -> str:
    """How a process ended, in words (its limits named where they explain it)."""
    confinement = confinement or Confinement()
    if code is None:
        return "it did not exit"
    if code >= 0:
        return f"exit code {code}"
    name = signal.Signals(-code).name
    why = {"SIGXFSZ": "it wrote a file (or printed) over the size limit" + (
               f" of {confinement.file_size / 2 ** 20:g} MiB" if confinement.file_size else ""),
           "SIGXCPU": "it used up its CPU time" + (f" ({confinement.cpu_seconds} s)" if confinement.cpu_seconds else ""),
           "SIGSEGV": "segmentation fault", "SIGKILL": "killed"}.get(name)
    return f"{name}, {why}" if why else name


_SUBMISSIONS: dict[tuple, Submission] = {}


def connect(path: Path, aliases: dict[str, Path] | None = None,
            on_problem: Callable[[str], None] | None = None) -> Submission:
    """The submission at ``path`` (one process per file for the whole test session)."""
    key = (str(Path(path).resolve()), tuple(sorted((k, str(v)) for k, v in (aliases or {}).items())))
    if key not in _SUBMISSIONS:
        _SUBMISSIONS[key] = Submission(Path(path), aliases, on_problem=on_problem)
    return _SUBMISSIONS[key]


def close_all() -> None:
    """Stop every submission's process and whatever it started (end of the test session)."""
    for submission in _SUBMISSIONS.values():
        submission.stop()
    _SUBMISSIONS.clear()


def in_submission(helper: Callable) -> Callable:
    """Run a grader's ``helper`` in the process of the submission that one of its arguments
    (a ``Remote``: the module or one of its functions) comes from, with that argument as the
    real thing there; its other arguments and its result cross as data. For what cannot
    cross: a CUDA kernel to compile, generated source to run. Its result is the student's
    answer: check it here."""

    @functools.wraps(helper)
    def run(*args, **kwargs):
        remote = next((a for a in (*args, *kwargs.values()) if isinstance(a, Remote)), None)
        if remote is None:
            return helper(*args, **kwargs)
        return remote._peer.ask("probe", None, file=inspect.getfile(helper), name=helper.__qualname__,
                                args=args, kwargs=kwargs)

    return run


# ---------------------------------------------------------------------------- the child's side

def load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None:
        raise SubmissionError(f"{path} is not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def main(argv: list[str]) -> int:
    """The submission's process: import the module (after the modules it may import by
    another name, such as ``solution`` for the project's mutants), then serve the grader."""
    read_fd, write_fd, path, aliases = int(argv[0]), int(argv[1]), Path(argv[2]), json.loads(argv[3])
    peer = Peer(Pipe(read_fd, write_fd), serves=("call", "getattr", "iter", "next", "probe"), where="the grader")
    try:
        sys.path.insert(0, str(path.parent))
        for name, file in aliases.items():
            load(Path(file), name)
        module = load(path, path.stem)
        header = {"op": "ready", "value": peer.lend(module), "objects": []}
    except BaseException as error:  # noqa: B036 - sys.exit() while importing is an import failure
        header = {**describe_exception(error), "objects": []}
    try:
        peer.pipe.send(header, [])
    except _Gone:
        return 1
    if header["op"] == "ready":
        peer.serve()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
