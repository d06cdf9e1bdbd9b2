# The OpenClaw releases the real-code tests pin (sourced by install.sh and read by wedge.test.mjs).
# 2026.5.22: the last release whose file lock records no `starttime`: a pid-1 lock wedges it forever.
# 2026.7.1:  the line OpenClaw's own Kubernetes docs pin; records `starttime`.
# 2026.9.6:  the latest release when this was written.
OPENCLAW_VERSIONS="2026.5.22 2026.7.1 2026.9.6"
OPENCLAW_WEDGING_VERSIONS="2026.5.22"
