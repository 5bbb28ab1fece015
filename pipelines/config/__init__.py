"""Configuration: the run schema, the input sources, the jobs' options, one error formatter."""
