"""Records: data sources, pulls and the citizen's stored FHIR resources."""
