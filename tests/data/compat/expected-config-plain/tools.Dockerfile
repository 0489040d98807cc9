FROM registry.example/web:2.4.0
USER 65534