# Two stages: build and unit-test the gateway, then a slim runtime image.
# The build stage installs scripts/setup.sh's build_packages and configures
# with its cmake_flags, so the test command builds the way the image does
# (tests/deploy/check_dockerfile.py compares them, and checks that the
# runtime stage has the package of every library the binary links).
#   docker build -t sse-gateway .
#   docker run --rm -p 8080:8080 -p 9090:9090 -e DATABASE_URL=postgresql://… sse-gateway
FROM debian:12 AS build
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential cmake pkg-config libmicrohttpd-dev libevent-dev libcjson-dev \
      libssl-dev libpq-dev libgnutls28-dev && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# .dockerignore keeps local build folders out: their CMakeCache.txt names
# another source path and would stop cmake.
COPY . .
RUN cmake -S . -B build -DWERROR=ON \
 && cmake --build build -j"$(nproc)" \
 && ctest --test-dir build -L unit --output-on-failure

FROM debian:12-slim
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libmicrohttpd12 libevent-2.1-7 libevent-pthreads-2.1-7 libcjson1 libssl3 libpq5 \
      libgnutls30 ca-certificates && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/build/sse-gateway /usr/local/bin/sse-gateway
# nobody, by number: Kubernetes can only check runAsNonRoot against a numeric user.
USER 65534:65534
# 8080: subscriptions and publishing; 9090: /healthz, /readyz, /metrics and
# /stats on the admin daemon, which answers even when 8080 is full.
EXPOSE 8080 9090
ENV SSE_GATEWAY_LISTEN=0.0.0.0:8080 SSE_GATEWAY_ADMIN_LISTEN=0.0.0.0:9090
# For docker run, Compose and Swarm (Kubernetes ignores it and uses the
# Deployment's probes). The slim image has no curl or wget, and adding one
# for this would grow the image; bash, which it has, can speak HTTP/1.0 over
# /dev/tcp. It checks /healthz (alive), not /readyz: a database outage makes
# every instance unready at once, and Swarm would replace them all for it.
# tests/integration/edge_container.test.mjs runs this very command.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["/bin/bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/${SSE_GATEWAY_ADMIN_LISTEN##*:} && printf 'GET /healthz HTTP/1.0\\r\\n\\r\\n' >&3 && read -r -t 2 _ code _ <&3 && [ \"$code\" = 200 ]"]
ENTRYPOINT ["/usr/local/bin/sse-gateway"]
