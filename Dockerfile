# Saring's image: the web process and every worker role (docker-compose.yml picks the
# command). The code and the committed model artifacts are baked in, never a secret:
# settings come from the environment at run time.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Dependencies first: a code change reuses this layer. Every wheel is prebuilt for
# linux/amd64 and arm64 (psycopg[binary], hiredis, scikit-learn), so no compiler.
COPY requirements.txt .
RUN pip install -r requirements.txt

# Owned by root, read by the service's user: the processes cannot change their own code.
COPY alembic.ini ./
COPY migrations/ migrations/
COPY moderation/ moderation/
COPY workers/ workers/
COPY models/ models/
COPY deploy/gunicorn.conf.py deploy/gunicorn.conf.py

RUN useradd --system --uid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin saring
USER saring

EXPOSE 8000
CMD ["gunicorn", "-c", "deploy/gunicorn.conf.py"]
