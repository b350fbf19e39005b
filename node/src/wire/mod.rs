//! What the network side of the node uses, as one clone-able value: the connection code
//! ([`crate::wire::peering`]), the exchange of directory versions and a reload take it.

pub mod certs;
pub mod peering;
pub mod receiver;
pub mod tls;
pub mod transport;

use crate::attachments::{Attachments, Transfers};
use crate::handles::{Dialer, Limits, Net, Tasks};
use crate::operator::Ops;
use crate::outgoing::Cases;

/// What the network side of the node uses: the cases (to store what arrives), the endpoint
/// and its connections, the tasks, the inbound rate limits, the operator's surface (peers
/// seen, certificates, reloads) and the attachments' transfers.
#[derive(Clone, Debug)]
pub struct Wire {
    pub(crate) cases: Cases,
    pub(crate) net: Net,
    pub(crate) tasks: Tasks,
    pub(crate) limits: Limits,
    pub(crate) ops: Ops,
    pub(crate) attachments: Attachments,
    pub(crate) dialer: Dialer,
    /// The exchanges of directory versions owed to peers.
    pub(crate) offers: crate::peers::dirsync::Offers,
}

impl Wire {
    /// The QUIC client configuration for new connections (renewed by a reload).
    pub fn client_config(&self) -> quinn::ClientConfig {
        self.ops
            .certs
            .client_config()
            .unwrap_or_else(|| self.net.initial_client_config())
    }

    /// What the attachments' transfers use of it.
    pub fn transfers(&self) -> Transfers {
        Transfers {
            cases: self.cases.clone(),
            attachments: self.attachments.clone(),
            tasks: self.tasks.clone(),
            net: self.net.clone(),
            limits: self.limits.clone(),
            dialer: self.dialer.clone(),
        }
    }
}
