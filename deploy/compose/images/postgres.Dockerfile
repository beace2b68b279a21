# PostgreSQL from Debian's packages, on the base build.sh makes with
# debootstrap. It keeps the official postgres image's contract for what
# docker-compose.yml uses: POSTGRES_USER, POSTGRES_PASSWORD and POSTGRES_DB
# on first start, data in /var/lib/postgresql/data, pg_isready.
ARG DEBIAN_IMAGE=vouchers/debian:bookworm
FROM ${DEBIAN_IMAGE}
# Debian's package makes a cluster of its own on install; the entrypoint
# makes ours in the volume instead.
RUN mkdir -p /etc/postgresql-common \
 && echo 'create_main_cluster = false' > /etc/postgresql-common/createcluster.conf \
 && apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql-15 \
 && rm -rf /var/lib/apt/lists/* \
 && install -d -o postgres -g postgres -m 0700 /var/lib/postgresql/data \
 && install -d -o postgres -g postgres -m 2775 /run/postgresql
COPY postgres-entrypoint.sh /usr/local/bin/postgres-entrypoint
ENV PATH=/usr/lib/postgresql/15/bin:$PATH PGDATA=/var/lib/postgresql/data
USER postgres
# Fast shutdown: a smart one waits for every client to leave.
STOPSIGNAL SIGINT
EXPOSE 5432
ENTRYPOINT ["postgres-entrypoint"]
