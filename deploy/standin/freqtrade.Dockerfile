# A stand-in for freqtradeorg/freqtrade:2026.9, for machines that cannot pull from Docker
# Hub (CI here): the same layout the Bulkhead Dockerfile relies on (uid 1000 `ftuser`,
# Freqtrade in ~/.local, WORKDIR /freqtrade), with Freqtrade from PyPI on a base that
# tests/containers bootstraps from Debian packages (mmdebstrap, then `docker import`).
# Users get the official image; this file is not what runs their fleet.
#
#     docker build --build-arg BASE=bulkhead-standin/base:bookworm \
#         -t bulkhead-standin/freqtrade:2026.9 - < deploy/standin/freqtrade.Dockerfile
ARG BASE=bulkhead-standin/base:bookworm
FROM ${BASE}

ENV LANG=C.UTF-8 \
    LC_ALL=C.UTF-8 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONFAULTHANDLER=1 \
    PATH=/home/ftuser/.local/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    FT_APP_ENV=docker

RUN useradd --uid 1000 --user-group --create-home --shell /bin/bash ftuser \
    && mkdir /freqtrade \
    && chown ftuser:ftuser /freqtrade

USER ftuser
WORKDIR /freqtrade

# Binary wheels where there are any: the base has no compiler, and nothing here needs one
# (the few source-only packages, such as sdnotify, are pure Python).
RUN pip install --user --no-cache-dir --prefer-binary freqtrade==2026.9 \
    && mkdir /freqtrade/user_data \
    && freqtrade --version

ENTRYPOINT ["freqtrade"]
CMD ["trade"]
