"""Patient data: contract validation, speakable forms and the pronunciation lexicon."""
