# Stand-in for python:3.11.12-slim-bookworm: Debian's python3 (3.11.2) with venv and pip,
# `python` on PATH as in the official image. Test use only (deploy/README.md).
FROM chat-standin/bookworm
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && ln -s /usr/bin/python3 /usr/local/bin/python
# The build machine's extra CAs (an egress proxy that re-signs TLS, as on the project's
# machines): pip reaches PyPI through it during `docker build`.
COPY extra-ca/ /usr/local/share/ca-certificates/
RUN update-ca-certificates
ENV LANG=C.UTF-8 \
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt
CMD ["python3"]
