"""Browser tests: the dashboard in headless chromium."""
