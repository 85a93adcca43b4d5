"""FHIR R4 reading: tolerant readers, upstream checks, resource summaries, narrative sanitising."""
