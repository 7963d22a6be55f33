"""Programs: ordered statements in Einstein loop notation, run forward and differentiated backward.

    prog = edf.Program('''
    for b, i, j: h[b, j] += x[b, i] * W[i, j]
    for b, j:    a[b, j] = relu(h[b, j])
    for b, j:    loss += a[b, j]
    ''')
    values = prog.forward(x=x, W=W)     # every tensor, by name
    grads = prog.backward("loss")        # d loss / d input, for every floating-point input

Tensors read but never assigned are the *inputs*. Tensors used inside an index
(``tok`` in ``E[tok[b, t], d]``) hold integers and get no gradient. Every other tensor is
floating point and starts at zero (``max=`` targets at -inf) each time the program runs.

Declarations complete the text where shapes say too little (see ``edf.notation``)::

    range px1 = 2, py1 = 2                 # a 2x2 pooling window: no tensor has that size
    shape pad1 = x + (0, 2, 2, 0)           # a padded copy: larger than every write to it

so ``Program(prog.source())`` is always the same program. The class reads in three parts:
build (``append``: statements and declarations, checked as they come), check (what the program
reads and defines; ``layout``) and run (``forward``, ``backward``). How a run is carried out
for one input signature (kernels, the compiled plan) is ``edf.plans``' job; deriving the
backward statements is ``edf.autodiff``'s, and the per-example ones ``edf.per_example``'s:
both take statements and return statements, and this class makes Programs of them.

The rules that make backprop a simple reverse pass:
- a tensor is assigned either once with ``=``, or by any number of ``+=`` statements, or by any
  number of ``max=`` statements, never a mix;
- every statement assigning a tensor comes before every statement reading it.
"""
from __future__ import annotations

import os
from types import MappingProxyType
from typing import TYPE_CHECKING, Iterable, Mapping, Sequence

import numpy as np

from edf.core import autodiff, checks, params, runs
from edf.core.errors import EdfError, ProgramError, ShapeError, did_you_mean
from edf.core.guards import compute_dtype, input_arrays, one_thread_at_a_time, require_finite
from edf.core.ir import (AxisOf, Declaration, Range, Shape, Statement, fresh_name, gradient_name, gradient_of,
                         index_refs, statement_refs, value_refs)
from edf.core.notation import format_declarations, from_python, parse_program, program_text, statement_text
from edf.core.params import Parameter, parameters, to_numpy
from edf.core.per_example import PerExample, derive as derive_per_example
from edf.core.ranges import Layout, infer_layout
from edf.kernels import array_module, available_targets, resolve_target

if TYPE_CHECKING:
    from edf.core.profiling import Profile


def default_backend() -> str:
    return os.environ.get("EDF_BACKEND", "numpy")


class Program:
    """An ordered list of statements with forward execution and reverse-mode backprop.

    ``source`` is text (one statement or declaration per line) or IR (Statements, Ranges,
    Shapes). ``backend`` picks the kernel target (default: ``$EDF_BACKEND`` or ``"numpy"``).
    ``check_finite`` raises ``NonFiniteError`` naming the first statement that produces inf or
    NaN (default: ``$EDF_CHECK_FINITE``). A gradient needs no ``shape`` declaration: ``W.grad``
    (``.grad2``, ``.seed``) is shaped like ``W`` unless one says otherwise.

    Components (``edf.nn``) build programs from Python: ``fresh`` names new tensors, ``bind``
    names a Parameter (the same object always gets the same name, so sharing a package shares
    the weights), and ``feed`` declares an input the program makes itself at each forward (a
    dropout mask), depending on ``training``.

    A Program is used by one thread at a time (it keeps the last forward's values for backward);
    sharing one between threads raises ``ProgramError`` (``edf.guards.one_thread_at_a_time``).
    """

    @checks.arguments(source=checks.program_text, backend=checks.optional(runs.backend),
                      check_finite=checks.optional(checks.boolean), passes=checks.optional(runs.pass_names))
    def __init__(self, source: str | Iterable[Statement | Declaration] = "", *,
                 backend: str | None = None, check_finite: bool | None = None,
                 passes: str | Sequence[str] | None = None):
        requested = backend or default_backend()
        if requested not in available_targets():
            raise EdfError(f"unknown backend {requested!r}; available: "
                           f"{', '.join(available_targets())}")
        self.backend = resolve_target(requested)
        self.check_finite = runs.flag("EDF_CHECK_FINITE") if check_finite is None else check_finite
        self.passes = passes
        self._ranges: dict[str, int | AxisOf] = {}  # declarations, changed only through append
        self._shapes: dict[str, Shape] = {}
        self.statements: list[Statement] = []
        self.parameters: dict = {}  # input name -> edf.Parameter, bound or given to forward()
        self.feeds: dict = {}  # input name -> make(shape, training): inputs the program makes
        self.training = True
        self._names_taken: set[str] = set()
        self._assigned: dict[str, tuple[str, int]] = {}  # tensor -> (op, first statement number)
        self._first_read: dict[str, int] = {}
        self._ranks: dict[str, int] = {}
        self._index_tensors: set[str] = set()
        self._value_tensors: set[str] = set()
        self._derived: dict = {}  # inputs and shape links, worked out once per version of the text
        self._gradient_programs: dict = {}
        self._values: dict[str, np.ndarray] | None = None
        self.forward_program: Program | None = None  # for a backward program: the program it differentiates
        # how it runs: a plan per input signature, and scratch memory its backward programs share
        self.runner = runs.Runner()
        self.extend(source)

    # -- build -----------------------------------------------------------------------------
    @checks.arguments(source=checks.program_text)
    def extend(self, source: str | Iterable[Statement | Declaration]) -> "Program":
        if isinstance(source, str):  # the parser's own IR needs no second check
            for item in parse_program(source, frozenset(self._ranges)):
                self._add(item)
        else:
            for item in list(source):
                self.append(item)
        return self

    @checks.arguments(statement=checks.statement)
    def append(self, statement: str | Statement | Declaration) -> "Program":
        """Add statements or declarations (text or IR) at the end, checking the program rules
        above. This is the one way a program changes: it drops plans made for the old one.
        IR made in Python is checked as text is (``edf.notation.from_python``)."""
        if isinstance(statement, str):
            return self.extend(statement)
        return self._add(from_python(statement, frozenset(self._ranges)))

    def _add(self, statement: Statement | Declaration) -> "Program":
        self.runner.clear()
        self._gradient_programs.clear()
        self._derived.clear()
        if isinstance(statement, (Range, Shape)):
            return self._declare(statement)
        number = len(self.statements) + 1
        where = f"statement {number} `{statement_text(statement)}`"
        name = statement.target.name
        ranks: dict[str, int] = {}  # committed only once every check has passed
        for ref in statement_refs(statement):
            rank = self._ranks.get(ref.name, ranks.get(ref.name, len(ref.index)))
            if rank != len(ref.index):
                raise ShapeError(f"{ref.name} is used with {rank} indices earlier but with "
                                 f"{len(ref.index)} in {where}")
            ranks[ref.name] = rank
        values = {ref.name for ref in value_refs(statement.body)} | {name}
        indices = {inner.name for ref in statement_refs(statement) for inner in index_refs(ref)}
        for tensor in (values & self._index_tensors) | (indices & (self._value_tensors | values)):
            raise ProgramError(f"{tensor} is used both as an index (integers) and as a value "
                               f"(floating point); {where} mixes them")
        if name in self._assigned:
            op, first = self._assigned[name]
            if op != statement.op or op == "=":
                detail = ("use '+=' to accumulate" if op == statement.op
                          else "a tensor is defined once with '=', accumulated with '+=', "
                               "or max-reduced with 'max=', never a mix")
                raise ProgramError(f"{name} is assigned with '{op}' in statement {first} and with "
                                   f"'{statement.op}' in {where}: {detail}")
        if name in self._first_read:
            raise ProgramError(f"{name} is read by statement {self._first_read[name]} before {where} "
                               f"assigns it: statements assigning a tensor must come before the "
                               f"statements that read it")
        self._ranks.update(ranks)
        self._assigned.setdefault(name, (statement.op, number))
        for ref in value_refs(statement.body):
            self._first_read.setdefault(ref.name, number)
        for tensor in indices:
            self._first_read.setdefault(tensor, number)
        self._index_tensors |= indices
        self._value_tensors |= values
        self.statements.append(statement)
        return self

    def _declare(self, declaration: Declaration) -> "Program":
        """A later declaration of the same index or tensor replaces the earlier one."""
        if isinstance(declaration, Range):
            self._ranges[declaration.index] = declaration.size
        else:
            self._shapes[declaration.tensor] = declaration
        return self

    # -- building from Python (components) ----------------------------------------------------
    @checks.arguments(hint=checks.identifier)
    def fresh(self, hint: str) -> str:
        """A tensor name the program does not use yet: ``hint1``, ``hint2``, ..."""
        name = fresh_name(hint, self._names_taken | set(self._first_read) | set(self._assigned))
        self._names_taken.add(name)
        return name

    @checks.arguments(parameter=checks.instance(Parameter, "an edf.Parameter"), hint=checks.identifier)
    def bind(self, parameter: Parameter, hint: str = "p") -> str:
        """The tensor name of ``parameter`` in this program, made on first use."""
        for name, bound in self.parameters.items():
            if bound is parameter:
                return name
        name = self.fresh(hint)
        self.parameters[name] = parameter
        return name

    @checks.arguments(package=params.package)
    def parameter_names(self, package) -> list[str]:
        """The names this program gives the parameters of ``package`` (a package or a list of
        Parameters), for ``backward(wrt=...)``: train part of a model, or two models in turn."""
        wanted = {id(q) for q in parameters(package)}
        return [name for name, bound in self.parameters.items() if id(bound) in wanted]

    @checks.arguments(source=checks.optional(checks.program_text), backend=checks.optional(runs.backend))
    def copy(self, source: Iterable[Statement | Declaration] | None = None, *,
             backend: str | None = None) -> "Program":
        """A new Program with this one's settings (backend, finite checks, training), bound
        parameters and fed inputs; its text is ``source`` (default: this program's)."""
        copy = Program(() if source is None else source, backend=backend or self.backend,
                       check_finite=self.check_finite, passes=self.passes)
        copy.parameters, copy.feeds, copy.training = dict(self.parameters), dict(self.feeds), self.training
        return copy._adopt([*self.declarations, *self.statements]) if source is None else copy

    def _adopt(self, items: Iterable[Statement | Declaration]) -> "Program":
        """Add IR that edf made or checked already (a program's own statements, the statements
        the swap rule derives from them) without printing and parsing it again: a derivative
        may nest deeper than text may (``edf.notation.MAX_DEPTH``)."""
        for item in items:
            self._add(item)
        return self

    @checks.arguments(backend=runs.backend)
    def with_backend(self, backend: str) -> "Program":
        """The same program on another backend (a copy)."""
        return self.copy(backend=backend)

    @checks.arguments(name=checks.tensor_name, like=checks.tensor_name, make=checks.function)
    def feed(self, name: str, like: str, make) -> None:
        """Declare ``name`` an input the program makes itself: ``make(shape, training)`` is
        called at each forward (unless a value is given) with the shape of ``like``."""
        self.feeds[name] = make
        self.append(Shape(name, like))

    @property
    def xp(self):
        """The array library tensors live in for this backend: numpy, or CuPy on a GPU."""
        return array_module(self.backend)

    # -- check: what the program reads and defines -----------------------------------------
    @property
    def declarations(self) -> list[Declaration]:
        """The program's ``range`` and ``shape`` declarations (change them with ``append``)."""
        return [*(Range(i, n) for i, n in self._ranges.items()), *self._shapes.values()]

    @property
    def ranges(self) -> Mapping[str, int | AxisOf]:
        """Declared ranges, read-only: ``prog.append("range w = 3")`` changes one."""
        return MappingProxyType(self._ranges)

    @property
    def tensors(self) -> list[str]:
        """Every tensor the program reads or assigns."""
        return list(dict.fromkeys([*self._first_read, *self._assigned]))

    @checks.arguments(name=checks.one_of(lambda given: given["self"].tensors))
    def rank(self, name: str) -> int:
        """How many indices ``name`` takes."""
        return self._ranks[name]

    @property
    def defined(self) -> list[str]:
        """Tensors assigned by the program, in order of first assignment."""
        return list(self._assigned)

    @property
    def inputs(self) -> list[str]:
        """Tensors read but never assigned, in order of first use, then those only declarations
        name (``range i = c.shape[0]``, ``shape E.grad = E``: needed for their shapes)."""
        if "inputs" not in self._derived:  # asked for at every call: worked out once
            sized = [*(s.tensor for s in self._ranges.values() if isinstance(s, AxisOf)),
                     *(t for s in self._shapes.values() for t in s.sources)]
            self._derived["inputs"] = [n for n in dict.fromkeys([*self._first_read, *sized])
                                       if n not in self._assigned]
        return list(self._derived["inputs"])

    @property
    def float_inputs(self) -> list[str]:
        """Inputs read as values, other than those the program makes itself: these get gradients."""
        return [n for n in self.inputs if n not in self._index_tensors and n not in self.feeds]

    @property
    def outputs(self) -> list[str]:
        """Defined tensors no statement reads: what the program computes for its caller."""
        return [n for n in self.defined if n not in self._first_read]

    @property
    def output(self) -> str:
        """The default output for backward: the target of the last statement."""
        if not self.statements:
            raise ProgramError("the program has no statements")
        return self.statements[-1].target.name

    def source(self) -> str:
        """The program in the notation: declarations, then statements with headers aligned.
        ``Program(prog.source())`` is the same program."""
        return program_text(self.statements, self.declarations)

    def __str__(self) -> str:
        return self.source()

    def __repr__(self) -> str:
        return f"Program({len(self.statements)} statements, backend={self.backend!r})"

    # what pickling and copying keep: the text, settings, parameters, fed inputs and the last
    # forward's values; the plans (functions, compiled kernels) are made again on first use,
    # their kernels found in the kernel cache (an arena, a lock, a thread are never sent)
    _REMADE = ("runner", "_derived", "_gradient_programs", "_thread_lock", "_forward_thread")

    def __getstate__(self) -> dict:
        return {name: value for name, value in self.__dict__.items() if name not in self._REMADE}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self.runner, self._derived, self._gradient_programs = runs.Runner(), {}, {}

    def _repr_html_(self) -> str:
        """Jupyter's display: statements with their ranges, and the backward program beside them."""
        from edf.core.display import program_html

        return program_html(self)

    # -- check: shapes ---------------------------------------------------------------------
    def _shape_links(self) -> dict[str, Shape]:
        """``shape`` declarations plus what gradient names imply (``W.grad`` is shaped like ``W``)."""
        if "links" not in self._derived:
            implied = {n: Shape(n, gradient_of(n)) for n in self.tensors if gradient_of(n)}
            self._derived["links"] = {**implied, **self._shapes}
        return self._derived["links"]

    @checks.arguments(shapes=checks.input_shapes)
    def layout(self, **shapes) -> Layout:
        """Ranges of every index and shapes of every tensor, given input shapes (or arrays).

        ``print(prog.layout(x=(64, 10), W=(10, 5)))`` shows where each range came from.
        """
        self._require_statements("layout()")
        given = {name: tuple(getattr(s, "shape", s)) for name, s in shapes.items()}
        return infer_layout(self.statements, given, self._shape_links(), self._ranges)

    @checks.arguments(backward=checks.optional(checks.tensor_names), shapes=checks.input_shapes)
    def kernel_sources(self, backward: str | Sequence[str] | None = None, **shapes) -> str:
        """The inferred layout and the function a run executes: on the numpy and numba targets
        what was chosen for each statement and the whole program as one generated function (and
        the loop nests it calls), on other targets each statement's kernel (``EDF_DEBUG=1``
        prints the same when a plan is made). ``backward="loss"``: the same for the backward
        program of ``loss``.

        Give input shapes or arrays (bound Parameters are known already); floating-point inputs
        are taken as float64 unless arrays say otherwise, index tensors as int64. A backward
        program takes its forward program's input shapes too: the shapes of the tensors it reads
        and of its seeds follow."""
        if backward is not None:
            return self._gradient_program(backward, None).kernel_sources(**shapes)
        self._require_statements("kernel_sources()")
        return runs.kernel_sources(self.runner, self.spec, self._completed(shapes))

    @checks.arguments(passes=checks.optional(runs.pass_names), backward=checks.optional(checks.tensor_names),
                      shapes=checks.input_shapes)
    def explain(self, passes: str | Sequence[str] | None = None, backward: str | Sequence[str] | None = None,
                **shapes) -> str:
        """How the plan for these input shapes is made (numpy and numba targets): each
        statement's plain meaning, then the plan after each pass (``edf.kernels.passes``), with
        what the pass chose for each statement and why. ``passes``: those to run (default: the
        program's); ``backward="loss"``: explain the backward program of ``loss``."""
        if backward is not None:
            return self._gradient_program(backward, None).explain(passes, **shapes)
        self._require_statements("explain()")
        return runs.explain(self.spec, self._completed(shapes), passes)

    def _require_statements(self, action: str) -> None:
        """A program may be empty while it is built (``Program()``, then components append);
        running or laying out one that is still empty is refused here, before any plan."""
        if not self.statements:
            only = f" (only the declarations `{'; '.join(format_declarations(self.declarations))}`)" \
                if self.declarations else ""
            raise ProgramError(f"{action} needs statements, but the program has none{only}: "
                               f"give them in the text (`for i: y[i] = 2 * x[i]`) or add them "
                               f"with append()")

    def _completed(self, shapes: Mapping) -> Mapping:
        """``shapes`` with the bound Parameters' arrays and, for a backward program, the shapes its
        forward program's layout gives: the forward tensors it reads, each seed shaped like its
        output."""
        shapes = {**{n: p.value for n, p in self.parameters.items() if n in self.inputs}, **shapes}
        forward = self.forward_program
        wanted = [*self.inputs, *(t for link in self._shape_links().values() for t in link.sources)]
        if forward is None or all(n in shapes for n in wanted):
            return shapes
        given = {**{n: p.value for n, p in forward.parameters.items()},
                 **{n: s for n, s in shapes.items() if n in forward.inputs}}
        layout = infer_layout(forward.statements, {n: tuple(getattr(s, "shape", s)) for n, s in given.items()},
                              forward._shape_links(), forward._ranges)
        # the forward's tensors come in the type it computes in: arrays of that dtype, over no memory
        dtype = compute_dtype({n: getattr(s, "dtype", np.float64) for n, s in given.items()
                               if n not in forward._index_tensors})
        like = {n: np.lib.stride_tricks.as_strided(np.zeros(1, dtype), shape, (0,) * len(shape))
                for n, shape in layout.shapes.items()}
        completed = {n: like[n] for n in wanted if n in like}
        completed.update((seed, like[output]) for output, seed in self.seeds.items())
        return {**completed, **shapes}

    @property
    def spec(self) -> "runs.ProgramSpec":
        """What running this program needs to know of it (``edf.runs.ProgramSpec``), made once
        per version of the program and settings."""
        passes = self.passes if self.passes is None or isinstance(self.passes, str) else tuple(self.passes)
        key = (self.check_finite, self.training, passes)
        found = self._derived.get("spec")
        if found is None or found[0] != key:
            starts = {name: runs.START[op] for name, (op, _) in self._assigned.items()}
            spec = runs.ProgramSpec(repr(self), tuple(self.statements), dict(self._ranges), self._shape_links(),
                                    tuple(self.inputs), frozenset(self._index_tensors), starts, dict(self.feeds),
                                    self.training, self.backend, self.check_finite, passes, self.xp)
            found = self._derived["spec"] = (key, spec)
        return found[1]

    # -- run -------------------------------------------------------------------------------
    @one_thread_at_a_time
    def forward(self, **inputs) -> dict[str, np.ndarray]:
        """Run every statement in order; returns every tensor (inputs and defined) by name.

        Inputs are arrays (data) or ``edf.Parameter`` objects (their ``.value`` is used, and
        backward stores gradients in their ``.grad``; once a program reads a Parameter,
        ``backward()`` differentiates with respect to its Parameters only: ``default_wrt``).
        """
        self._require_statements("forward()")
        self._values = None  # the last run's values go now, not after this one (peak memory)
        env = self._bind(inputs)
        self._execute(env)
        self._values = env
        return dict(env)

    def _bind(self, inputs: Mapping) -> dict[str, np.ndarray]:
        """The arrays of one run: those given, else the bound Parameters' values, checked and
        converted to the program's one dtype (``edf.guards.input_arrays``)."""
        for name in inputs:
            if name in self._assigned:
                op, number = self._assigned[name]
                raise ProgramError(f"{name} is computed by statement {number}; it cannot also be "
                                   f"given as an input")
            if name not in self.inputs:
                raise EdfError(f"unknown input {name!r}; the program's inputs are: "
                               f"{', '.join(self.inputs) or '(none)'}{did_you_mean(name, self.inputs)}")
        missing = [n for n in self.inputs if n not in inputs and n not in self.parameters
                   and n not in self.feeds]
        if missing:
            typos = "".join(f"; {n} is read by statement {self._first_read[n]} and assigned by none"
                            f"{did_you_mean(n, self.defined)}" for n in missing
                            if n in self._first_read and did_you_mean(n, self.defined))
            raise EdfError(f"missing input{'s' if len(missing) > 1 else ''} "
                           f"{', '.join(missing)}: forward() needs every tensor the program "
                           f"reads without assigning ({', '.join(self.inputs)}){typos}")
        values = {}
        for name in self.inputs:
            if name in self.feeds and name not in inputs:
                continue  # made when the plan runs, once its shape is known
            values[name] = inputs.get(name, self.parameters.get(name))
            if isinstance(values[name], Parameter):
                self.parameters[name], values[name] = values[name], values[name].value
        env = input_arrays(self.xp, values, self._index_tensors, self.feeds)
        if self.check_finite:
            for name in self.float_inputs:
                require_finite(self.xp, env[name], f"input {name}")
        return env

    def _execute(self, env: dict[str, np.ndarray], results: Sequence[str] | None = None) -> None:
        """Run every statement on the arrays in ``env``, adding the defined tensors named in
        ``results`` (default: all) to it as new arrays (``edf.runs``)."""
        self.runner.run(self.spec, env, results)

    # -- run backward (the backward program is derived by edf.autodiff) ---------------------
    @checks.arguments(outputs=checks.optional(checks.tensor_names), wrt=checks.optional(checks.wrt))
    def gradient_program(self, outputs: str | Sequence[str] | None = None,
                         wrt: Sequence[str] | None = None) -> "Program":
        """The backward pass as a Program in the notation, with ``.seeds`` (output -> seed
        tensor) and ``.tag`` (``.grad``...): ``edf.autodiff.backward`` derives its statements.
        Default ``outputs``: the last statement's target; ``wrt``: ``default_wrt`` (names or
        Parameters). Cached until the program changes."""
        return self._gradient_program(outputs, wrt)

    def _gradient_program(self, outputs, wrt) -> "Program":
        """``gradient_program`` on checked arguments."""
        outputs = (outputs,) if isinstance(outputs, str) else tuple(outputs or (self.output,))
        key = (outputs, tuple(self.default_wrt if wrt is None else wrt))
        if key not in self._gradient_programs:
            wrt = self._differentiable(outputs, key[1])
            derived = autodiff.backward(self.statements, self.declarations, outputs, wrt)
            self._gradient_programs[key] = self._backward_program(derived)
        return self._gradient_programs[key]

    @property
    def default_wrt(self) -> list[str]:
        """What ``backward()`` differentiates with respect to when ``wrt`` is not given: the
        Parameters (bound, or given to ``forward()``) when the program reads any, so that data
        and labels get no gradient unless asked for (``wrt=["x"]``), as in a training step;
        every floating-point input when it reads none (``forward(x=x, W=W)`` with arrays)."""
        floats = self.float_inputs
        return [n for n in self.parameters if n in floats] or floats

    def _differentiable(self, outputs: Sequence[str], wrt: Sequence[str]) -> tuple[str, ...]:
        """``wrt``, once every output is a tensor of this program and everything in ``wrt`` a
        floating-point input."""
        for name in outputs:
            if name not in self.tensors:
                raise EdfError(f"unknown output {name!r}; the program's tensors are: "
                               f"{', '.join(self.defined)}{did_you_mean(name, self.tensors)}")
        for name in wrt:
            if name not in self.float_inputs:
                raise EdfError(f"cannot differentiate with respect to {name!r}: not a "
                               f"floating-point input (those are: {', '.join(self.float_inputs)})"
                               f"{did_you_mean(name, self.float_inputs)}")
        return tuple(wrt)

    def _backward_program(self, derived: autodiff.Backward) -> "Program":
        """A derived backward pass as a Program with this one's settings, run only inside this
        program's ``backward`` (so it shares this program's scratch memory)."""
        gradient = self.copy(())._adopt([*derived.declarations, *derived.statements])
        gradient.seeds, gradient.tag = dict(derived.seeds), derived.tag
        gradient.forward_program = self
        gradient.runner = runs.Runner(self.runner.arena)
        return gradient

    @checks.arguments(outputs=checks.optional(checks.tensor_names), wrt=checks.optional(checks.wrt),
                      batch=checks.index_name, materialise=checks.boolean)
    def per_example(self, outputs: str | Sequence[str] | None = None, wrt: Sequence[str] | None = None, *,
                    batch: str = "b", materialise: bool = False) -> PerExample:
        """The per-example backward program over the batch index ``batch`` (``edf.per_example``
        derives it; cached until the program changes): ``print(prog.per_example("loss").describe(
        x=x, y=y))`` says what it computes for each parameter, why, and the memory it adds."""
        return self._per_example(outputs, wrt, batch, materialise)

    def _per_example(self, outputs, wrt, batch: str, materialise: bool) -> PerExample:
        """``per_example`` on checked arguments."""
        outputs = (outputs,) if isinstance(outputs, str) else tuple(outputs or (self.output,))
        key = ("per example", outputs, tuple(self.default_wrt if wrt is None else wrt), batch, materialise)
        if key not in self._gradient_programs:
            ordinary = self._gradient_program(outputs, wrt)
            wrt = key[2]
            gradient = autodiff.Backward(tuple(ordinary.declarations), tuple(ordinary.statements),
                                         ordinary.seeds, ordinary.tag)
            derivation = derive_per_example(self.statements, gradient, outputs, wrt, batch, materialise)
            self._gradient_programs[key] = PerExample(self._backward_program(derivation.backward), self,
                                                      derivation)
        return self._gradient_programs[key]

    @one_thread_at_a_time
    def backward(self, seeds: str | Mapping[str, np.ndarray] | None = None,
                 wrt: Sequence[str] | None = None, *, per_example: str | None = None,
                 materialise: bool = False) -> dict[str, np.ndarray]:
        """Backprop through the last forward run; returns ``{input: d output / d input}``.

        ``seeds`` names the output (its gradient is seeded with ones) or maps outputs to seed
        arrays of their shape; it defaults to the last statement's target. Gradients are
        returned for the inputs in ``wrt`` (names or Parameters), by default ``default_wrt``:
        the Parameters when the program reads any (data and labels given as arrays get no
        gradient unless named in ``wrt``), else every floating-point input.

        ``per_example="b"`` (the batch index) also returns, for every parameter ``P`` (an input
        without that index), ``"P.grad_sq"``: the sum over examples of the squared per-example
        gradients, stored in ``Parameter.grad_sq`` too; with ``materialise=True`` also
        ``"P.grad_b"``, the per-example gradients ``[B, *P.shape]`` (``edf.per_example``).

        Loop invariant: the derived statements are run for the program's statements in
        reverse. After the backward statements of a suffix of the program have run, every
        tensor not assigned in that suffix has ``.grad`` equal to the gradient of the output
        with respect to it, as defined by that suffix. At the start the suffix is empty and only
        the outputs have (seeded) gradients; at the end the suffix is the whole program.
        """
        if not (seeds is None or isinstance(seeds, str)) or wrt is not None or per_example is not None \
                or materialise is not False:  # the usual backward("loss") pays for no checks
            seeds, wrt, per_example, materialise = _backward_arguments(self, seeds, wrt, per_example, materialise)
        return self._backward(seeds, wrt, per_example, materialise)

    def _backward(self, seeds, wrt, per_example, materialise) -> dict[str, np.ndarray]:
        """``backward``'s work on checked arguments."""
        if self._values is None:
            raise ProgramError("backward() needs the values of a forward() run; call forward first")
        values, wrt = self._values, self.default_wrt if wrt is None else wrt
        if seeds is None or isinstance(seeds, str):
            name = seeds or self.output
            if name not in values:
                raise EdfError(f"unknown output {name!r}; the program's tensors are: "
                               f"{', '.join(self.defined)}{did_you_mean(name, self.tensors)}")
            seeds = {name: self.xp.ones_like(values[name])}
        if per_example is None:
            gradient, extra = self._gradient_program(tuple(seeds), wrt), []
        else:
            derived = self._per_example(tuple(seeds), wrt, per_example, materialise)
            gradient, extra = derived.program, derived.derivation.results
        env = dict(values)
        for name, seed in seeds.items():
            seed = self.xp.asarray(seed, dtype=values[name].dtype)
            if seed.shape != values[name].shape:
                raise ShapeError(f"the seed for {name} has shape {seed.shape}, but {name} has "
                                 f"shape {values[name].shape}")
            env[gradient.seeds[name]] = seed if seed.ndim == 0 else self.xp.ascontiguousarray(seed)
        wanted = [gradient_name(n, gradient.tag) for n in (self.float_inputs if wrt is None else wrt)]
        gradient._execute(env, [n for n in wanted + extra if n in gradient._assigned])
        grads = {}
        for name in (self.float_inputs if wrt is None else wrt):
            grads[name] = env.get(gradient_name(name, gradient.tag))
            if grads[name] is None:  # no path from this input to the outputs
                grads[name] = self.xp.zeros_like(values[name])
        grads.update((name, env[name]) for name in extra if name in env)
        for name, parameter in self.parameters.items():
            for suffix in ("", "_sq", "_b"):  # a host parameter gets host arrays (one copy from a GPU)
                grad = grads.get(gradient_name(name, gradient.tag, suffix) if suffix else name)
                if grad is not None:
                    grad = grad if isinstance(grad, type(parameter.value)) else to_numpy(grad)
                    setattr(parameter, "grad" + suffix, grad)
        return grads

    @checks.arguments(output=checks.optional(checks.tensor_name), runs=checks.positive_int,
                      wrt=checks.optional(checks.wrt))
    def profile(self, output: str | None = None, *, runs: int = 10, wrt: Sequence[str] | None = None,
                **inputs) -> "Profile":
        """Time every forward and backward statement of a step on these inputs (as ``forward``
        takes them), ``runs`` times: ``print(prog.profile(x=x, W=W))`` shows each statement with
        what ran it (BLAS, a numba loop, NumPy), its median time and its share of the step.
        ``output`` (default: the last statement's target) is differentiated for ``wrt``."""
        from edf.core.profiling import profile

        return profile(self, output, runs, wrt, inputs)

    @checks.arguments(outputs=checks.optional(checks.tensor_names), wrt=checks.optional(checks.wrt))
    def backward_source(self, outputs: str | Sequence[str] | None = None,
                        wrt: Sequence[str] | None = None) -> str:
        """The backward program in the notation (see ``gradient_program``)."""
        return self.gradient_program(outputs, wrt).source()

    @checks.arguments(outputs=checks.optional(checks.tensor_names), wrt=checks.optional(checks.wrt))
    def with_gradients(self, outputs: str | Sequence[str] | None = None,
                       wrt: Sequence[str] | None = None) -> "Program":
        """This program followed by its backward pass, as one new Program.

        Gradients become ordinary tensors (``x.grad``) that further statements can read and
        that can be differentiated again: grad of grad, as a gradient penalty needs.
        """
        gradient = self.gradient_program(outputs, wrt)
        return self.copy(())._adopt([*gradient.declarations, *self.statements, *gradient.statements])


def _backward_arguments(program, seeds, wrt, per_example, materialise) -> tuple:
    """``Program.backward``'s arguments, checked (``edf.checks``); the common call skips this."""
    where = "edf.program.Program.backward"
    if not (seeds is None or isinstance(seeds, str)):
        seeds = checks.check(seeds, checks.seed_arrays, "seeds", where)
    return (seeds, checks.check(wrt, checks.optional(checks.wrt), "wrt", where, {"self": program}),
            checks.check(per_example, checks.optional(checks.index_name), "per_example", where),
            checks.check(materialise, checks.boolean, "materialise", where))


__all__ = [
    'Program', 'default_backend',
]


def __dir__() -> list[str]:  # dir() and tab completion show the API, not the imports (np, dataclass...)
    return sorted(__all__)
