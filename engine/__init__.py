"""Voice-call engine: schemas, patient data, prompts, call state and the Pipecat pipeline. No Qt."""
