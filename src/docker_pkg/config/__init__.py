"""Configuration: the reference's keys and defaults, the user file merged with
``--configfile``, checked once and typed (:mod:`.settings`); the YAML parser is loaded only
when a configuration is not in the cache (:mod:`.yaml_file`)."""
