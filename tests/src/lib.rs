//! Helpers for the end-to-end scenarios in `tests/tests/`.
