# openclaw-lock-sweeper: a static binary in an otherwise empty image.
#
#   docker build -t openclaw-lock-sweeper .
#
# The `build` stage compiles from source with the official Rust image. A build
# that already has the binary can replace that stage with a directory holding
# it (this is how CI builds the image, with no image registry to pull from):
#
#   podman build --build-context build=DIR .     # DIR/openclaw-lock-sweeper

# The Rust image carries gcc and libc6-dev, which the bundled SQLite (rusqlite)
# compiles with; statically linked like the rest.
FROM docker.io/library/rust:1-slim-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock build.rs ./
COPY src ./src
RUN target="$(rustc -vV | sed -n 's/^host: //p')" \
    && RUSTFLAGS="-C target-feature=+crt-static" cargo build --release --locked --target "$target" \
    && cp "target/$target/release/openclaw-lock-sweeper" /openclaw-lock-sweeper

FROM scratch
COPY --from=build /openclaw-lock-sweeper /openclaw-lock-sweeper
# OpenClaw's `node` user, which owns the files on its state volume.
USER 1000:1000
# The default state dir as OpenClaw finds it: $HOME/.openclaw. HOME, not
# OPENCLAW_STATE_DIR, so that OPENCLAW_HOME and OPENCLAW_STATE_DIR (as copied
# from the gateway's env) both override it, as they do for the gateway.
ENV HOME=/home/node
LABEL org.opencontainers.image.title="openclaw-lock-sweeper" \
      org.opencontainers.image.description="Removes OpenClaw OAuth lock files abandoned by a pid-1 holder, before the gateway starts" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.source="https://github.com/openclaw-lock-sweeper/openclaw-lock-sweeper"
ENTRYPOINT ["/openclaw-lock-sweeper"]
