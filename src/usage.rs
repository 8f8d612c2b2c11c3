//! Usage ledger (stub: being written).
