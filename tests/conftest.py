import os
import tempfile

from hypothesis import HealthCheck, settings

# Tests run with the finite check on: a statement producing inf or NaN fails loudly.
os.environ.setdefault("EDF_CHECK_FINITE", "1")
# Generated kernels go to a cache of the test run's own, not the user's.
os.environ.setdefault("EDF_CACHE_DIR", tempfile.mkdtemp(prefix="edf-test-cache-"))

settings.register_profile("default", deadline=None, max_examples=60,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("thorough", deadline=None, max_examples=1000,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
