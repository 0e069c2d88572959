"""The core of the CSP transfer product: importable and testable without the Functions host."""
