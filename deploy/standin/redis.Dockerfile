# A stand-in for redis:7-alpine, for machines that cannot pull from Docker Hub (CI here):
# Debian's redis-server on the base that tests/containers bootstraps from Debian packages.
# The generated Compose file runs it as it runs the official image: as the `redis` user,
# `redis-server /usr/local/etc/redis/redis.conf`, data in /data.
#
#     docker build --build-arg BASE=bulkhead-standin/base:bookworm \
#         -t bulkhead-standin/redis:7 - < deploy/standin/redis.Dockerfile
ARG BASE=bulkhead-standin/base:bookworm
FROM ${BASE}

RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends redis-server \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt /var/log/dpkg.log \
    && mkdir -p /data /usr/local/etc/redis \
    && chown redis:redis /data \
    && chmod 0750 /data

WORKDIR /data
USER redis
CMD ["redis-server"]
