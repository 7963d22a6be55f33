"""The command line: every error ends in a one-line message and a non-zero exit status, never a
traceback; ``--debug`` shows the traceback."""
import subprocess
import sys

import pytest

from edf import cli


def lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


@pytest.mark.parametrize("argv, message", [
    (["show", "for i: y[i] = x[i]", "--backend", "nope"],
     "edf: edf.program.Program: backend must be one of 'cupy', 'numba', 'numba-cuda', 'numpy', "
     "'reference', 'auto', got 'nope'"),
    (["show", "for i: y[i] = x[i]", "--shape", "x=a"],
     "edf: --shape takes NAME=SIZE,SIZE,... (for example x=64,10), got 'x=a'"),
    (["lecture", "nope"], "edf: no lecture named 'nope'; available: "),
    (["lecture", "all", "--jobs", "abc"], "edf: --jobs takes a number of worker processes, got 'abc'"),
    (["lecture", "backprop", "--quick", "--backend", "nope"],
     "edf: edf.program.Program: backend must be one of"),
    (["exercise", "grade", "99"], "edf: no exercise '99'; there are: "),
])
def test_a_user_error_is_one_line_and_status_2(capsys, argv, message):
    assert cli.main(argv) == 2
    err = lines(capsys.readouterr().err)
    assert len(err) == 1 and err[0].startswith(message), err


def test_a_syntax_error_adds_the_statement_and_a_caret(capsys):
    assert cli.main(["show", "for i: y[i] = = x[i]"]) == 2
    assert lines(capsys.readouterr().err) == [
        "edf: expected a number, tensor or function call, found '=' (line 1)",
        "    for i: y[i] = = x[i]",
        "                  ^"]


def test_a_file_that_cannot_be_written_is_one_line(capsys, tmp_path, monkeypatch):
    def refuse(*args):
        raise PermissionError(13, "Permission denied", str(tmp_path / "x.ipynb"))

    monkeypatch.setattr(cli, "lecture_notebook", refuse)
    assert cli.main(["lecture", "backprop", "--notebook", str(tmp_path / "x.ipynb")]) == 2
    assert lines(capsys.readouterr().err) == [f"edf: [Errno 13] Permission denied: '{tmp_path / 'x.ipynb'}'"]


def broken(*args):
    raise RuntimeError("a bug\nwith a second line")


def test_an_internal_error_is_one_line_saying_how_to_see_more(capsys, monkeypatch):
    monkeypatch.setattr(cli, "show", broken)
    assert cli.main(["show", "for i: y[i] = x[i]"]) == 1
    assert lines(capsys.readouterr().err) == [
        "edf: internal error (RuntimeError: a bug); run the same command with --debug to see the "
        "traceback, and please report it"]


@pytest.mark.parametrize("argv", [["--debug", "show", "y = x"], ["show", "y = x", "--debug"]])
def test_debug_shows_the_traceback(monkeypatch, argv):
    monkeypatch.setattr(cli, "show", broken)
    with pytest.raises(RuntimeError, match="a bug"):
        cli.main(argv)


def test_an_interrupt_is_one_line_and_status_130(capsys, monkeypatch):
    def interrupted(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "show", interrupted)
    assert cli.main(["show", "y = x"]) == 130
    assert lines(capsys.readouterr().err) == ["edf: interrupted"]


def test_no_traceback_from_the_installed_command_unless_asked():
    command = [sys.executable, "-m", "edf.cli", "show", "for i: y[i] = x[i]", "--backend", "nope"]
    done = subprocess.run(command, capture_output=True, text=True)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert len(lines(done.stderr)) == 1 and done.stderr.startswith("edf: ")
    debug = subprocess.run(command + ["--debug"], capture_output=True, text=True)
    assert debug.returncode == 1 and "Traceback" in debug.stderr
    assert lines(debug.stderr)[-1].startswith("edf.core.errors.ArgumentError: edf.program.Program: "
                                              "backend must be one of")
