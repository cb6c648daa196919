//! Who is calling: roles, the caller attached to each request, JWT verification and signing, and
//! the role guard that protects fields.

mod guard;
mod jwt;

pub use guard::RoleGuard;
pub use jwt::{Claims, SurveyClaims, TokenError, TokenKeys};

use serde::{Deserialize, Serialize};

/// Staff roles, each including the one before: TECHNICIAN < SUPERVISOR < ADMIN.
#[derive(
    async_graphql::Enum,
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[value(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Role {
    Technician,
    Supervisor,
    Admin,
}

impl Role {
    pub fn includes(self, required: Role) -> bool {
        self >= required
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Technician => "TECHNICIAN",
            Role::Supervisor => "SUPERVISOR",
            Role::Admin => "ADMIN",
        }
    }
}

/// The authenticated caller of one request, taken from a verified token and what the database
/// says about it (http::access makes it, in one place).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The token's `sub`: recorded as the actor of everything this caller changes.
    pub subject: String,
    pub role: Role,
    /// The technician this caller acts as, when the token names one.
    pub technician_id: Option<i64>,
    /// False when the token names a technician that is deactivated or does not exist: such a
    /// caller reads but writes nothing.
    pub technician_active: bool,
}

impl Caller {
    /// The caller a verified token stands for, given whether the technician it names (if any) is
    /// active.
    pub fn new(claims: Claims, technician_active: bool) -> Self {
        Caller { subject: claims.sub, role: claims.role, technician_id: claims.technician_id, technician_active }
    }

    pub fn has_role(&self, required: Role) -> bool {
        self.role.includes(required)
    }
}
