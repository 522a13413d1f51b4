"""Ray in these tests listens on 127.0.0.1 only, asks for its token (the default of a cluster started here; a
driver joining an explicit address must be told) and never reports usage. Ray reads these switches when it is
first imported, and this file is imported before the test modules."""
import os

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
os.environ.setdefault("RAY_AUTH_MODE", "token")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
