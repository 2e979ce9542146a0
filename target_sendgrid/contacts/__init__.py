"""From record to contact: property mapping, values, custom fields by name, segment membership, list routing."""
