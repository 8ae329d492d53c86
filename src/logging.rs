//! Logging: text or JSON records to --log (or stderr).
