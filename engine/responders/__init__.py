"""Responders: the LLM stage of a call (scripted offline, or OpenAI-compatible)."""

LLM_TIMEOUT_S = 15.0  # the openai responder's default wait for one answer; a slower one is an error
