//! Index types of a compiled lab: small integers naming what a [`Snapshot`]
//! holds.
//!
//! Contract:
//! - Each index ([`PortId`], [`VpcIx`], [`SubnetIx`], [`EniIx`], [`RtIx`],
//!   [`SgIx`], [`AclIx`], [`VpceIx`], [`NlbIx`], [`TgIx`], [`TargetIx`],
//!   [`IfeIx`]) is a distinct `u32` newtype, so a subnet
//!   index cannot be used where an ENI index is meant; `.ix()` gives the
//!   `usize` position in the snapshot's table.
//! - An index is only meaningful in the snapshot that made it, except port
//!   ids and VPC indices, which stay stable across snapshots (see
//!   [`topology`](super::topology)).
//! - `ix` builds any of them from a table position and never panics: a
//!   position past `u32::MAX` saturates to `u32::MAX`.
//!
//! [`Snapshot`]: super::topology::Snapshot

macro_rules! index {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub u32);

        impl $name {
            /// As a `usize` index.
            pub const fn ix(self) -> usize {
                self.0 as usize
            }
        }
    };
}

index!(
    /// A port of the router.
    PortId
);
index!(
    /// A VPC in the snapshot.
    VpcIx
);
index!(
    /// A subnet in the snapshot.
    SubnetIx
);
index!(
    /// An ENI in the snapshot.
    EniIx
);
index!(
    /// A route table in the snapshot.
    RtIx
);
index!(
    /// A security group in the snapshot.
    SgIx
);
index!(
    /// A network ACL in the snapshot.
    AclIx
);
index!(
    /// A gateway endpoint in the snapshot.
    VpceIx
);
index!(
    /// A Network Load Balancer in the snapshot.
    NlbIx
);
index!(
    /// A target group in the snapshot.
    TgIx
);
index!(
    /// A registered target in the snapshot.
    TargetIx
);
index!(
    /// An interface endpoint in the snapshot.
    IfeIx
);

pub(super) fn ix<T: From<u32>>(i: usize) -> T {
    T::from(u32::try_from(i).unwrap_or(u32::MAX))
}

macro_rules! from_u32 {
    ($($t:ident),*) => { $(impl From<u32> for $t { fn from(v: u32) -> Self { $t(v) } })* };
}
from_u32!(PortId, VpcIx, SubnetIx, EniIx, RtIx, SgIx, AclIx, VpceIx, NlbIx, TgIx, TargetIx, IfeIx);
