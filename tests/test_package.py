"""``import edf`` is enough: the submodules a user reaches for are attributes of the package."""
import subprocess
import sys


def test_import_edf_brings_its_submodules():
    script = ("import edf\n"
              "print(edf.data.digits, edf.train.fit, edf.nn.affine, edf.optim.Adam, edf.testing.check_gradients)")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("<function") == 4 and "<class 'edf.library.optim.Adam'>" in done.stdout


def test_kernels_and_lectures_are_inside_edf(tmp_path):
    """kernels/ and lectures/ are edf.kernels and edf.lectures: nothing named `kernels` or
    `lectures` is imported at the top level (where another project's would clash)."""
    script = ("import sys, edf, edf.lectures.backprop\n"
              "edf.Program('for i: y[i] = x[i]').forward(x=[1.0])\n"
              "print(sorted(n for n in sys.modules if n.split('.')[0] in ('kernels', 'lectures')))\n"
              "print('edf.kernels.numpy_lowering' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["[]", "True"]
