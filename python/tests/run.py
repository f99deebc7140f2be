"""meson test's entry for the python suite: runs pytest on this directory. Without NumPy or
pytest the suite is skipped (77), unless $CLT_REQUIRE_DEVICE=1 (CI), where that is a failure."""
import os
import sys

try:
    import numpy  # noqa: F401
    import pytest
except ImportError as e:
    print("python suite: %s (Debian: python3-numpy python3-pytest)" % e, file=sys.stderr)
    sys.exit(1 if os.environ.get("CLT_REQUIRE_DEVICE") == "1" else 77)
here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(here))
sys.exit(pytest.main(["-q", "-p", "no:cacheprovider", here] + sys.argv[1:]))
