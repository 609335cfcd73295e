# Stand-in for node:20.19.3-bookworm-slim: Debian's nodejs and npm (Node 18), enough for
# `npm ci` of the browser client. Test use only (deploy/README.md).
FROM chat-standin/bookworm
RUN apt-get update \
    && apt-get install -y --no-install-recommends nodejs npm ca-certificates \
    && rm -rf /var/lib/apt/lists/*
# The build machine's extra CAs (an egress proxy that re-signs TLS, as on the project's
# machines): npm reaches its registry through it during `docker build`.
COPY extra-ca/ /usr/local/share/ca-certificates/
RUN update-ca-certificates
ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
CMD ["node"]
