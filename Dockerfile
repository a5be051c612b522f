# Smyth itself in a container, for those who want it there rather than on the host.
#
#   docker build -t smyth .
#   # the gateway of a Docker stack (what compose/compose.yaml runs), the default command:
#   docker run ... smyth                      # = smyth gateway (needs SMYTH_WORKERS)
#   # or everything in one container: gateway and handler processes together
#   docker run --rm -v "$PWD:/var/task:ro" -p 127.0.0.1:8080:8080 smyth smyth run --host 0.0.0.0
#
# `smyth up` does not use this image: it builds one per project from images/Dockerfile,
# with the project's requirements in a virtualenv of their own.
ARG BASE_IMAGE=python:3.12-slim
FROM ${BASE_IMAGE}

ENTRYPOINT []
USER root
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_PROGRESS_BAR=off
# A virtualenv, not the system's pip: Debian-based images refuse system installs (PEP 668).
RUN python3 -m venv /opt/smyth/venv
ENV PATH=/opt/smyth/venv/bin:$PATH \
    HOME=/tmp \
    LAMBDA_TASK_ROOT=/var/task

COPY pyproject.toml README.md /src/
COPY smyth /src/smyth
RUN pip install "/src[fast]" && rm -rf /src

WORKDIR /var/task
EXPOSE 8080
# Never root, as Lambda never runs a handler as root; override with --user to match your files.
USER 65534:65534
CMD ["smyth", "gateway"]
