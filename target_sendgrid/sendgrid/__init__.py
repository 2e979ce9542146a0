"""The SendGrid boundary: HTTP with retries, the endpoints, jobs and exports polled, limits, export files."""
