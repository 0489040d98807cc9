FROM registry.example/bookworm:20240101
# proxied
RUN echo 'Acquire::http::Proxy "http://127.0.0.1:3128";' > /etc/apt/apt.conf.d/80_proxy \
    && apt-get update  \
    && DEBIAN_FRONTEND=noninteractive \
    apt-get install  --yes curl ca-certificates less --no-install-recommends \
    && rm -f /etc/apt/apt.conf.d/80_proxy \
    && apt-get clean && rm -rf /var/lib/apt/lists/* 
RUN echo 'Acquire::http::Proxy "http://127.0.0.1:3128";' > /etc/apt/apt.conf.d/80_proxy  && \apt-get update && DEBIAN_FRONTEND=noninteractive apt-get remove --yes --purge vim-tiny \
    && rm -f /etc/apt/apt.conf.d/80_proxy \
    && apt-get clean && rm -rf /var/lib/apt/lists/* 


USER 33

USER 65534

USER 0
