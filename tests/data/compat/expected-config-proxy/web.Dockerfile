FROM registry.example/lib:0.3.1-2-20240101
LABEL py="3.11.2"
RUN echo 'Acquire::http::Proxy "http://127.0.0.1:3128";' > /etc/apt/apt.conf.d/80_proxy \
    && apt-get update  \
    && DEBIAN_FRONTEND=noninteractive \
    apt-get install  --yes nginx --no-install-recommends \
    && rm -f /etc/apt/apt.conf.d/80_proxy \
    && apt-get clean && rm -rf /var/lib/apt/lists/*  && groupadd -o -g 33 -r www-data && useradd -l -o -r -m -d /var/lib/www-data -g www-data -u 33 www-data
USER 33:33
