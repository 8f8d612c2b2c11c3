//! Posture collector (stub: being written).
use super::Root;
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Posture {}

pub fn collect(_root: &Root) -> Posture {
    todo!()
}
