"""Is this number, link or account known? The staff's risk list and residents' reports."""
