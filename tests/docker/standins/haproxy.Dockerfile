# Stand-in for haproxy:2.8.10: Debian's haproxy (2.6) as user `haproxy`, the official
# config folder and stop signal. Test use only (deploy/README.md).
FROM chat-standin/bookworm
RUN apt-get update \
    && apt-get install -y --no-install-recommends haproxy \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /usr/local/etc/haproxy
USER haproxy
STOPSIGNAL SIGUSR1
CMD ["haproxy", "-f", "/usr/local/etc/haproxy/haproxy.cfg"]
