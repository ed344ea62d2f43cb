"""Responders: the LLM stage of a call (scripted offline, or OpenAI-compatible)."""
