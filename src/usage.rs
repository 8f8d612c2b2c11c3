//! Usage ledger (stub with the agreed API: being written on its own branch).
use crate::collect::Root;
use serde::Serialize;
use std::io;
use std::path::Path;
use std::time::{Duration, SystemTime};

pub struct Probe {
    pub boot_id: String,
    pub uptime: Duration,
    pub now: SystemTime,
    pub session_active: bool,
}
pub fn probe(_root: &Root) -> io::Result<Probe> {
    todo!()
}
pub struct Ledger {}
impl Ledger {
    pub fn load(_path: &Path) -> Ledger {
        todo!()
    }
    pub fn save(&self, _path: &Path) -> io::Result<()> {
        todo!()
    }
    pub fn record(&mut self, _probe: &Probe) {
        todo!()
    }
    pub fn month(&self, _year: i32, _month: time::Month) -> UsageMonth {
        todo!()
    }
    pub fn months(&self) -> Vec<(i32, time::Month)> {
        todo!()
    }
}
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct UsageMonth {
    pub period: String,
}
