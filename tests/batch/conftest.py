"""Ray in these tests listens on 127.0.0.1 only, asks for a token (Ray's default for a cluster; a driver joining an
explicit address must be told), here one made up for the session rather than ~/.ray/auth_token, and never
reports usage. Ray reads these when it is first imported, and this file is imported before the test modules."""
import os
import secrets

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
os.environ.setdefault("RAY_AUTH_MODE", "token")
os.environ.setdefault("RAY_AUTH_TOKEN", secrets.token_hex(32))
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
