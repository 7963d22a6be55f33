"""The core: the framework a student reads, parse -> IR -> ranges -> swap rule -> program.

Read in this order (docs/READING.md says what each teaches):

    errors.py       the exceptions a user can cause
    functions.py    the one table of scalar functions: meaning, derivative, spellings
    ir.py           statements as frozen dataclasses (the bottom layer)
    notation.py     text -> IR and IR -> text
    ranges.py       how far each index runs; shapes of defined tensors
    autodiff.py     the swap rule: statements -> backward statements
    per_example.py  per-example gradients: backward statements -> per-example statements
    program.py      Program: build, check, run forward and backward
    runs.py         how a Program runs: a plan per input signature, through ProgramSpec
    params.py       Parameter and packages: what a Program binds and writes gradients to
    guards.py       checks at a Program's edges: input arrays, dtypes, memory, threads
    checks.py       the argument checks of the public API
    profiling.py    where a step's time goes
    display.py      how a Program shows itself in Jupyter (its statements, ranges, backward)

The core imports only itself and ``edf.kernels`` (through ``edf.kernels``' interface: ``Job``,
``build``, ``explain``, ``compile_statement``); kernels import only the core's bottom
layer (ir, functions, errors, notation's printer). Nothing here imports the library or the course.
"""
