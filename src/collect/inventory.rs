//! Inventory collector (stub: being written).
use super::Root;
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Inventory {}

pub fn collect(_root: &Root) -> Inventory {
    todo!()
}

pub fn machine_id(_root: &Root) -> Option<String> {
    todo!()
}
