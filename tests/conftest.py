import os

os.environ.setdefault("MPLBACKEND", "Agg")

from hypothesis import settings  # noqa: E402

# numba compiles on first call: no per-example deadline; a modest number of examples keeps
# the suite fast on 2 cores (raise with HYPOTHESIS_PROFILE=thorough).
settings.register_profile("default", deadline=None, max_examples=25)
settings.register_profile("thorough", deadline=None, max_examples=300)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
