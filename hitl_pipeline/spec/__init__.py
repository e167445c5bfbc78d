"""Review specs: the JSON Schema, YAML loading with located errors, the typed model."""
