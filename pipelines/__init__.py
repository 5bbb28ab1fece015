"""ditan jobs: configuration, loading, orchestration, writing and the command line."""
