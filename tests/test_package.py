"""``import edf`` is enough: the submodules a user reaches for are attributes of the package."""
import subprocess
import sys


def test_import_edf_brings_its_submodules():
    script = ("import edf\n"
              "print(edf.data.digits, edf.train.fit, edf.nn.affine, edf.optim.Adam, edf.testing.check_gradients)")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("<function") == 4 and "<class 'edf.optim.Adam'>" in done.stdout
