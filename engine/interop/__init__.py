"""Pipecat's own flow format in and out: plain FlowConfig files opened as schemas (flow_in,
handlers) and schemas written out as flows stock Pipecat runs (flow_out)."""
