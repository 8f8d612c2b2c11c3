//! Patch-status collector (stub: being written).
use super::Root;
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Patches {}

pub fn collect(_root: &Root) -> Patches {
    todo!()
}
