//! Spool (stub: being written).
