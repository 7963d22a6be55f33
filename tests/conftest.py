import atexit
import os
import shutil
import tempfile

import pytest
from hypothesis import HealthCheck, settings

# The suite runs with edf's documented defaults whatever the shell sets, except: the finite check
# is on (a statement producing inf or NaN fails loudly).
for variable in ("EDF_BACKEND", "EDF_DEBUG", "EDF_THREADS", "EDF_PASSES"):
    os.environ.pop(variable, None)
os.environ["EDF_CHECK_FINITE"] = "1"
# Generated kernels go to a fresh cache of this run's own, never the user's nor an earlier run's;
# pytest-xdist's workers inherit the one their controller made, and share it.
if "PYTEST_XDIST_WORKER" not in os.environ:
    os.environ["EDF_CACHE_DIR"] = tempfile.mkdtemp(prefix="edf-test-cache-")
    atexit.register(shutil.rmtree, os.environ["EDF_CACHE_DIR"], ignore_errors=True)

# The suite's programs are tiny, and the numba target gives a statement with little work to NumPy
# (compiling its loop nest would cost more than it saves): switch that off, so that they run on
# generated loops as larger ones do. tests/test_numba_cpu.py checks the rule itself.
from edf.kernels.passes import loops as _loops  # noqa: E402

_loops.SMALL_WORK = 0

settings.register_profile("default", deadline=None, max_examples=60,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("thorough", deadline=None, max_examples=1000,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture(scope="session")
def view_here() -> bool:
    """Whether grading can give a submission a view of its own on this machine (edf.view:
    bubblewrap, and namespaces for it). CI requires one (EDF_REQUIRE_VIEW=1): there a machine
    without it fails instead of skipping what needs it."""
    from edf import view

    why = view.unavailable()
    assert why is None or os.environ.get("EDF_REQUIRE_VIEW") != "1", f"EDF_REQUIRE_VIEW=1, but {why}"
    return why is None
