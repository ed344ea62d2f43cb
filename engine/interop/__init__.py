"""Pipecat Flows interop: plain FlowConfig files in, and schemas out as flow.yaml + handlers.py."""
