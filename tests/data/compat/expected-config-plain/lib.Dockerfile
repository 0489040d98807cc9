FROM registry.example/base:1.0.0-1
LABEL upstream="1.0.0" self="0.3.1"
ENV GREETING="plain" REG=registry.example
RUN groupadd -o -g 900 -r app && useradd -l -o -r -m -d /var/lib/app -g app -u 900 app
USER 900