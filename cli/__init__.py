"""The `voice-console` command line."""
