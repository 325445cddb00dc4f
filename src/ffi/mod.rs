//! The C ABI: the exported functions under their ndis.h names, with the ndis.h prototypes.
//!
//! Each one only translates: it passes its arguments to the generic function of the lock's
//! storage module ([`crate::storage`]) on the target's kernel, which checks them and
//! bug-checks on bad input. On Windows the `.sys` exports them (the `driver` feature); on
//! every other target they are the symbols C code links against in `libndis_rwlock.a`.

pub mod legacy;
pub mod pushrw;
pub mod rwlock_ex;
pub mod spinlock;
