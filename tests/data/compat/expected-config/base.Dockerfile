FROM registry.example/team/bookworm:20240101
# hello from config
RUN apt-get update -o Dpkg::Options::="--force-confold" \
    && DEBIAN_FRONTEND=noninteractive \
    apt-get install -o Dpkg::Options::="--force-confold" --yes curl ca-certificates less --no-install-recommends \
    && apt-get clean && rm -rf /var/lib/apt/lists/* 
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get remove --yes --purge vim-tiny \
    && apt-get clean && rm -rf /var/lib/apt/lists/* 


USER 33

USER 65534

USER 0
