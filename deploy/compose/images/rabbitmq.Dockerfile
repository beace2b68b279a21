# RabbitMQ from Debian's packages, on the base build.sh makes with
# debootstrap. As the official image: guest may connect from other
# containers (the broker is reached only on the Compose network), logs go
# to the console, data in /var/lib/rabbitmq, rabbitmq-diagnostics works.
ARG DEBIAN_IMAGE=vouchers/debian:bookworm
FROM ${DEBIAN_IMAGE}
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends rabbitmq-server \
 && rm -rf /var/lib/apt/lists/* \
 && printf 'loopback_users.guest = false\nlisteners.tcp.default = 5672\n' > /etc/rabbitmq/rabbitmq.conf \
 && rm -f /etc/rabbitmq/rabbitmq-env.conf
# One node name whatever the container's hostname, so a container made
# anew finds its data in the volume (the data folder is named after it).
ENV RABBITMQ_NODENAME=rabbit@localhost RABBITMQ_LOGS=- HOME=/var/lib/rabbitmq
USER rabbitmq
WORKDIR /var/lib/rabbitmq
EXPOSE 5672
# RabbitMQ's own start script, not Debian's wrapper: the wrapper neither
# passes SIGTERM on (docker stop waited its whole timeout, then killed the
# broker) nor lets the log reach the console.
CMD ["/usr/lib/rabbitmq/bin/rabbitmq-server"]
