//! Pause, resume and cancel for a running download, from any thread or task.

use tokio::sync::watch;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlState {
    Running,
    /// The connection is dropped; the `.part` file and hash state are kept.
    Paused,
    /// The download stops and its `.part` file is deleted.
    Cancelled,
}

/// A cheap, cloneable handle; give one clone to the download and keep one for the UI.
#[derive(Debug, Clone)]
pub struct DownloadControl {
    tx: std::sync::Arc<watch::Sender<ControlState>>,
}

impl Default for DownloadControl {
    fn default() -> Self {
        Self::new()
    }
}

impl DownloadControl {
    pub fn new() -> Self {
        DownloadControl {
            tx: std::sync::Arc::new(watch::channel(ControlState::Running).0),
        }
    }

    pub fn pause(&self) {
        // A cancelled download stays cancelled.
        self.tx.send_if_modified(|s| {
            let change = *s == ControlState::Running;
            if change {
                *s = ControlState::Paused;
            }
            change
        });
    }

    pub fn resume(&self) {
        self.tx.send_if_modified(|s| {
            let change = *s == ControlState::Paused;
            if change {
                *s = ControlState::Running;
            }
            change
        });
    }

    pub fn cancel(&self) {
        self.tx.send_replace(ControlState::Cancelled);
    }

    pub fn state(&self) -> ControlState {
        *self.tx.borrow()
    }

    pub(crate) fn subscribe(&self) -> watch::Receiver<ControlState> {
        self.tx.subscribe()
    }
}
