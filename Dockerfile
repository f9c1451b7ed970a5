FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 TRACKER_INSTANCE_DIR=/var/lib/tracker
WORKDIR /app
COPY pyproject.toml README.md ./
COPY tracker ./tracker
COPY workers ./workers
COPY web ./web
COPY gunicorn.conf.py ./
RUN pip install --no-cache-dir . && useradd --system tracker && mkdir -p /var/lib/tracker && chown tracker /var/lib/tracker
USER tracker
EXPOSE 8000
CMD ["gunicorn", "-c", "gunicorn.conf.py", "web.wsgi:app"]
