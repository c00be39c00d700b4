# Multi-stage build: build and run the unit tests, then a slim
# runtime image. Kept in step with scripts/setup.sh's package list.
FROM debian:12 AS build
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential cmake pkg-config libmicrohttpd-dev libevent-dev libcjson-dev \
      libjwt-dev libpq-dev && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DWERROR=ON \
 && cmake --build build -j"$(nproc)" \
 && ctest --test-dir build -L unit --output-on-failure

FROM debian:12-slim
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libmicrohttpd12 libevent-2.1-7 libevent-pthreads-2.1-7 libcjson1 libjwt0 libpq5 \
      ca-certificates && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/build/sse-gateway /usr/local/bin/sse-gateway
USER nobody
EXPOSE 8080
ENV SSE_GATEWAY_LISTEN=0.0.0.0:8080
ENTRYPOINT ["/usr/local/bin/sse-gateway"]
