FROM registry.example/team/web:2.4.0
USER 65534