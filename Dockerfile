# syntax=docker/dockerfile:1
# The image installs the project's wheel and the locked dependencies (requirements.lock, every file
# checked against its hash) — not the source tree — and runs as an unprivileged user.
#   docker build --build-arg PIP_INDEX_URL=https://mirrors.example.gov.cn/pypi/simple .
ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS wheel
# A package mirror (the bureau's, or one inside the government network) instead of PyPI.
ARG PIP_INDEX_URL=https://pypi.org/simple
ENV PIP_INDEX_URL=${PIP_INDEX_URL} PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY requirements-build.lock ./
RUN pip install --require-hashes -r requirements-build.lock
COPY pyproject.toml README.md ./
COPY tracker ./tracker
COPY workers ./workers
COPY web ./web
RUN python -m build --wheel --no-isolation --outdir /dist .

FROM ${PYTHON_IMAGE}
ARG PIP_INDEX_URL=https://pypi.org/simple
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TRACKER_INSTANCE_DIR=/var/lib/tracker
RUN groupadd --system --gid 10001 tracker \
    && useradd --system --uid 10001 --gid tracker --home-dir /var/lib/tracker --shell /usr/sbin/nologin tracker \
    && mkdir -p /var/lib/tracker && chown tracker:tracker /var/lib/tracker
COPY requirements.lock /tmp/requirements.lock
RUN PIP_INDEX_URL=${PIP_INDEX_URL} pip install --require-hashes --no-deps -r /tmp/requirements.lock \
    && rm /tmp/requirements.lock
COPY --from=wheel /dist/ /tmp/dist/
RUN pip install --no-deps /tmp/dist/*.whl && rm -rf /tmp/dist
# gunicorn's settings are the one file of the repository the image needs besides the wheel.
WORKDIR /app
COPY gunicorn.conf.py ./
USER 10001:10001
EXPOSE 8000
# Liveness of the web server (the compose file gives the workers and beat checks of their own).
HEALTHCHECK --interval=30s --timeout=10s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/livez', timeout=5)"]
CMD ["gunicorn", "-c", "gunicorn.conf.py", "web.wsgi:app"]
