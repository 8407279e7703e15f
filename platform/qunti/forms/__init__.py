"""The form engine: JSON Schema documents loaded, compiled to WTForms and judged by jsonschema."""
