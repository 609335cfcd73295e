# Stand-in for redis:7.2.5-bookworm: Debian's redis-server (7.0) running as `redis` in
# /data. Like the official image's entrypoint, it turns protected mode off when started
# as `redis-server ...` without it (the compose network is the protection); Debian's
# binary alone would answer every other container with DENIED. Test use only
# (deploy/README.md).
FROM chat-standin/bookworm
RUN apt-get update \
    && apt-get install -y --no-install-recommends redis-server redis-tools \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /data && chown redis:redis /data \
    && printf '%s\n' '#!/bin/sh' \
       'if [ "$1" = redis-server ]; then' \
       '  case " $* " in *" --protected-mode "*) ;; *) set -- "$@" --protected-mode no ;; esac' \
       'fi' \
       'exec "$@"' > /usr/local/bin/docker-entrypoint.sh \
    && chmod 755 /usr/local/bin/docker-entrypoint.sh
WORKDIR /data
VOLUME /data
USER redis
EXPOSE 6379
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["redis-server"]
