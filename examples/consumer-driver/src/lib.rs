//! A flow table as a network driver keeps one: looked up on every packet at `DISPATCH_LEVEL`
//! (a receive DPC), changed rarely by configuration at `PASSIVE_LEVEL`. It depends on
//! ndis-rwlock as a library: the table sits behind an `RwLockEx` (readers on every processor
//! touch only their own cache line), the configuration behind a `PushLock` (callers sleep
//! rather than spin).
//!
//! On Windows this crate builds as a driver with its own `DriverEntry`; on Linux its logic
//! runs over ndis-rwlock's simulated kernel (`tests/`).
#![cfg_attr(all(windows, not(test)), no_std)]

use ndis_rwlock::kernel::{AtDispatch, DefaultKernel};
use ndis_rwlock::{AllocError, CriticalRegion, PushLock, RwLockEx};

#[cfg(all(windows, not(test)))]
mod driver;

/// Flows the table holds.
pub const CAPACITY: usize = 64;

/// A flow: a 5-tuple hash and where its packets go.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Flow {
    /// The flow's key (a hash of its 5-tuple); 0 marks a free entry.
    pub key: u64,
    /// The queue its packets go to.
    pub queue: u16,
}

/// Why a flow could not be added.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddError {
    /// Key 0 marks free entries and `u64::MAX` the fallback entry.
    ReservedKey,
    /// All entries are taken.
    Full,
}

/// Driver configuration, changed at `PASSIVE_LEVEL`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Config {
    /// Queue for packets of unknown flows.
    pub default_queue: u16,
    /// Whether unknown flows are dropped instead.
    pub drop_unknown: bool,
}

/// The flow table and its configuration.
pub struct FlowTable {
    flows: RwLockEx<[Flow; CAPACITY]>,
    config: PushLock<Config>,
}

impl FlowTable {
    /// An empty table (one `NdisAllocateRWLock`).
    ///
    /// # Errors
    ///
    /// [`AllocError`] when the nonpaged pool has no room.
    pub fn new(config: Config) -> Result<Self, AllocError> {
        let mut flows = [Flow::default(); CAPACITY];
        flows[0] = fallback_entry(config);
        Ok(Self {
            flows: RwLockEx::new(flows)?,
            config: PushLock::new(config),
        })
    }

    /// The receive path, at `DISPATCH_LEVEL`: the queue for `key`, or `None` to drop.
    pub fn classify(&self, key: u64, at_dispatch: &AtDispatch<DefaultKernel>) -> Option<u16> {
        let flows = self.flows.read_at_dispatch(at_dispatch);
        if let Some(flow) = flows[1..].iter().find(|f| f.key == key && reservable(key)) {
            return Some(flow.queue);
        }
        // The configuration is not readable at DISPATCH_LEVEL (a push lock may sleep): the
        // receive path uses the copy `set_config` publishes in entry 0 of the table.
        let fallback = flows[0];
        (!fallback_drops(fallback)).then_some(fallback.queue)
    }

    /// Adds or updates a flow, at `IRQL <= DISPATCH_LEVEL`.
    ///
    /// # Errors
    ///
    /// [`AddError`] for key 0 or a full table.
    pub fn add(&self, flow: Flow) -> Result<(), AddError> {
        if !reservable(flow.key) {
            return Err(AddError::ReservedKey);
        }
        let mut flows = self.flows.write();
        let slot = flows[1..]
            .iter()
            .position(|f| f.key == flow.key)
            .or_else(|| flows[1..].iter().position(|f| f.key == 0))
            .ok_or(AddError::Full)?;
        flows[slot + 1] = flow;
        Ok(())
    }

    /// Removes a flow; returns whether it was there.
    pub fn remove(&self, key: u64) -> bool {
        let mut flows = self.flows.write();
        match flows[1..]
            .iter_mut()
            .find(|f| f.key == key && reservable(key))
        {
            Some(flow) => {
                *flow = Flow::default();
                true
            }
            None => false,
        }
    }

    /// Flows in the table.
    pub fn len(&self) -> usize {
        self.flows.read()[1..].iter().filter(|f| f.key != 0).count()
    }

    /// Whether the table has no flow.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Changes the configuration, at `PASSIVE_LEVEL` (it may sleep on the push lock), and
    /// publishes what the receive path needs into entry 0 of the table.
    pub fn set_config(&self, config: Config) {
        let region = CriticalRegion::enter();
        *self.config.write(&region) = config;
        drop(region);
        self.flows.write()[0] = fallback_entry(config);
    }

    /// The configuration, at `IRQL <= APC_LEVEL`.
    pub fn config(&self) -> Config {
        let region = CriticalRegion::enter();
        *self.config.read(&region)
    }
}

/// Entry 0 of the table holds the fallback for unknown flows: its key says whether to drop.
const DROP: u64 = u64::MAX;

fn fallback_entry(config: Config) -> Flow {
    Flow {
        key: if config.drop_unknown { DROP } else { 0 },
        queue: config.default_queue,
    }
}

fn reservable(key: u64) -> bool {
    key != 0 && key != DROP
}

fn fallback_drops(entry: Flow) -> bool {
    entry.key == DROP
}
