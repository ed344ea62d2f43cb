"""Conversation schemas: careful YAML loading, models, cross-checks and compilation."""
