//! Spool (stub with the agreed API: being written on its own branch).
use std::io;
use std::path::Path;

pub struct Spool {}
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub id: u64,
    pub topic: String,
    pub payload: Vec<u8>,
    pub retain: bool,
}
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct SpoolStats {
    pub records: u64,
    pub bytes: u64,
    pub dropped_total: u64,
    pub corrupt_total: u64,
}
impl Spool {
    pub fn open(_dir: &Path, _max_bytes: u64) -> io::Result<Spool> {
        todo!()
    }
    pub fn push(&mut self, _topic: &str, _payload: &[u8], _retain: bool) -> io::Result<u64> {
        todo!()
    }
    pub fn read_after(&mut self, _after: Option<u64>, _max: usize) -> io::Result<Vec<Record>> {
        todo!()
    }
    pub fn ack(&mut self, _id: u64) -> io::Result<()> {
        todo!()
    }
    pub fn stats(&self) -> SpoolStats {
        todo!()
    }
}
