//! The rules of the help desk in plain Rust, without I/O: the enumerations every layer shares,
//! the ticket lifecycle, who may change what, and input limits.

/// An enumeration stored as TEXT (with a CHECK in the migration), exposed as a GraphQL enum.
macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(
            async_graphql::Enum, Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord,
            serde::Serialize, serde::Deserialize, diesel::AsExpression, diesel::FromSqlRow,
        )]
        #[diesel(sql_type = diesel::sql_types::Text)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;
            fn from_str(text: &str) -> Result<Self, String> {
                match text {
                    $($text => Ok($name::$variant),)+
                    other => Err(format!("unknown {} {other:?}", stringify!($name))),
                }
            }
        }

        impl diesel::serialize::ToSql<diesel::sql_types::Text, diesel::pg::Pg> for $name {
            fn to_sql<'b>(&'b self, out: &mut diesel::serialize::Output<'b, '_, diesel::pg::Pg>)
                -> diesel::serialize::Result {
                <str as diesel::serialize::ToSql<diesel::sql_types::Text, diesel::pg::Pg>>::to_sql(self.as_str(), out)
            }
        }

        impl diesel::deserialize::FromSql<diesel::sql_types::Text, diesel::pg::Pg> for $name {
            fn from_sql(bytes: diesel::pg::PgValue<'_>) -> diesel::deserialize::Result<Self> {
                // Read in place: a page decodes several of these per row.
                Ok(std::str::from_utf8(bytes.as_bytes())?.parse()?)
            }
        }
    };
}
pub(crate) use text_enum;

// After the macro, so that these modules can use it.
pub mod improvement;
pub mod kpi;
pub mod lifecycle;
pub mod limits;
pub mod permissions;
pub mod report;
pub mod sla;

text_enum! {
    /// How urgent a ticket is.
    Priority {
        Low => "LOW",
        Normal => "NORMAL",
        High => "HIGH",
        Urgent => "URGENT",
    }
}

text_enum! {
    /// How a support request came in.
    TicketChannel {
        Phone => "PHONE",
        Email => "EMAIL",
        Chat => "CHAT",
        Web => "WEB",
    }
}

text_enum! {
    /// Where a ticket is in its lifecycle: OPEN -> IN_PROGRESS -> RESOLVED -> CLOSED, plus
    /// OPEN -> RESOLVED and the reopen RESOLVED -> IN_PROGRESS.
    TicketStatus {
        Open => "OPEN",
        InProgress => "IN_PROGRESS",
        Resolved => "RESOLVED",
        Closed => "CLOSED",
    }
}

text_enum! {
    /// What a ticket event records.
    EventKind {
        Created => "CREATED",
        Assigned => "ASSIGNED",
        StatusChanged => "STATUS_CHANGED",
        Reopened => "REOPENED",
        PriorityChanged => "PRIORITY_CHANGED",
        NoteAdded => "NOTE_ADDED",
        Rated => "RATED",
        /// An SLA policy was applied (`toValue`: its name) or removed (`toValue` null), when the
        /// ticket opened or its priority changed; `fromValue` names the one before.
        SlaApplied => "SLA_APPLIED",
        /// A clock passed its due instant (`toValue`: FIRST_RESPONSE or RESOLUTION), dated at
        /// the breach; recorded by the scheduler.
        SlaBreached => "SLA_BREACHED",
    }
}

text_enum! {
    /// How a customer and the support team were in touch.
    InteractionChannel {
        Call => "CALL",
        Email => "EMAIL",
        Chat => "CHAT",
    }
}

text_enum! {
    /// Who reached out: the customer (INBOUND) or the support team (OUTBOUND).
    Direction {
        Inbound => "INBOUND",
        Outbound => "OUTBOUND",
    }
}

text_enum! {
    /// Where a satisfaction rating came from.
    RatingSource {
        /// Recorded by staff (e.g. told on the phone).
        Staff => "STAFF",
        /// Submitted by the customer through a survey link.
        Survey => "SURVEY",
        /// Brought in with imported history.
        Import => "IMPORT",
    }
}
