"""Pure renderers: a stack spec in, a daemon's configuration text out (validated by the real tools in tests)."""
