//! Who may read the interaction log, who may change a ticket, who may write at all, and
//! whether a token still stands.

use chrono::{DateTime, Utc};

use crate::auth::{Caller, Role};
use crate::error::AppError;

/// Whether a token issued at `issued_at` (its `iat`, in whole seconds) is revoked: issued before
/// its subject's not-before instant. A token from the very second of the revocation counts as
/// before it.
pub fn is_revoked(issued_at: i64, not_before: Option<DateTime<Utc>>) -> bool {
    let Some(not_before) = not_before else { return false };
    DateTime::from_timestamp(issued_at, 0).is_none_or(|issued| issued < not_before)
}

/// Every write needs the technician the caller acts as (when the token names one) to be active.
pub fn may_write(caller: &Caller) -> Result<(), AppError> {
    may_write_as(caller.technician_id, caller.technician_active)
}

/// [`may_write`] for a token naming `technician_id`, given whether that technician is active.
pub fn may_write_as(technician_id: Option<i64>, technician_active: bool) -> Result<(), AppError> {
    match technician_id {
        Some(id) if !technician_active => Err(AppError::Forbidden(format!(
            "technician {id}, whom your token acts for, is deactivated or does not exist: this token may read, not write"
        ))),
        _ => Ok(()),
    }
}

/// SUPERVISOR and ADMIN change any ticket; a TECHNICIAN changes only tickets assigned to them.
pub fn may_change_ticket(caller: &Caller, assignee_id: Option<i64>) -> Result<(), AppError> {
    if caller.has_role(Role::Supervisor) {
        return Ok(());
    }
    let me = acting_technician(caller)?;
    match assignee_id {
        Some(assignee) if assignee == me => Ok(()),
        Some(_) => Err(AppError::Forbidden("this ticket is assigned to another technician".into())),
        None => Err(AppError::Forbidden("this ticket is unassigned: take it (assign it to yourself) first".into())),
    }
}

/// Assignment: SUPERVISOR and ADMIN assign anyone; a TECHNICIAN takes an unassigned ticket or
/// hands back (unassigns) their own.
pub fn may_assign(caller: &Caller, current: Option<i64>, new: Option<i64>) -> Result<(), AppError> {
    if caller.has_role(Role::Supervisor) {
        return Ok(());
    }
    let me = acting_technician(caller)?;
    match (current, new) {
        (None, Some(new)) if new == me => Ok(()),
        (Some(current), None) if current == me => Ok(()),
        (Some(current), Some(new)) if current == me && new == me => Ok(()),
        (Some(current), _) if current != me => {
            Err(AppError::Forbidden("this ticket is assigned to another technician".into()))
        }
        _ => {
            Err(AppError::Forbidden("a technician can only take a ticket for themselves; supervisors reassign".into()))
        }
    }
}

/// Reading the interaction log: every staff role reads every interaction, on every path (the
/// `interactions` list, `Customer.interactions`, `Ticket.interactions`). PRODUCT.md gives
/// technicians the reading of "tickets, customers, interactions", and they already read every
/// ticket and customer: hiding the cross-customer list from them while each customer's and
/// ticket's entries stay open would guard nothing. Per-technician numbers (counts, durations)
/// stay supervisor-only in the KPI fields.
pub fn may_read_interactions(caller: &Caller) -> Result<(), AppError> {
    if caller.has_role(Role::Technician) {
        Ok(())
    } else {
        Err(AppError::Forbidden("reading interactions needs a staff role".into()))
    }
}

/// Which changes a live subscription (`ticketChanged`, `ticketUpdated`) carries to the caller:
/// SUPERVISOR and ADMIN watch every ticket; a TECHNICIAN watches the tickets assigned to them and
/// the unassigned ones they may take, never another technician's. Decided on each change, from
/// the ticket as it is after the change: a ticket handed to someone else stops reaching its
/// former assignee from that change on.
pub fn may_watch_ticket(caller: &Caller, assignee_id: Option<i64>) -> bool {
    if caller.has_role(Role::Supervisor) {
        return true;
    }
    caller.has_role(Role::Technician)
        && match assignee_id {
            None => true,
            Some(assignee) => caller.technician_id == Some(assignee),
        }
}

/// The technician a TECHNICIAN token acts as.
pub fn acting_technician(caller: &Caller) -> Result<i64, AppError> {
    caller
        .technician_id
        .ok_or_else(|| AppError::Forbidden("your token is not linked to a technician (technician_id claim)".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn technician(id: i64) -> Caller {
        Caller {
            subject: format!("tech-{id}"),
            role: Role::Technician,
            technician_id: Some(id),
            technician_active: true,
        }
    }

    #[test]
    fn every_staff_role_reads_the_interaction_log() {
        for role in [Role::Technician, Role::Supervisor, Role::Admin] {
            let caller = Caller { subject: "someone".into(), role, technician_id: None, technician_active: false };
            assert!(may_read_interactions(&caller).is_ok(), "{role:?}");
        }
        assert!(may_read_interactions(&technician(1)).is_ok());
    }

    #[test]
    fn technicians_watch_their_own_and_unassigned_tickets_only() {
        assert!(may_watch_ticket(&technician(1), Some(1)));
        assert!(may_watch_ticket(&technician(1), None));
        assert!(!may_watch_ticket(&technician(1), Some(2)));
        let unlinked = Caller { technician_id: None, ..technician(1) };
        assert!(!may_watch_ticket(&unlinked, Some(2)));
        let supervisor =
            Caller { subject: "s".into(), role: Role::Supervisor, technician_id: None, technician_active: true };
        assert!(may_watch_ticket(&supervisor, Some(2)));
    }

    #[test]
    fn technicians_change_their_own_tickets_only() {
        assert!(may_change_ticket(&technician(1), Some(1)).is_ok());
        assert!(may_change_ticket(&technician(1), Some(2)).is_err());
        assert!(may_change_ticket(&technician(1), None).is_err());
        let supervisor =
            Caller { subject: "s".into(), role: Role::Supervisor, technician_id: None, technician_active: true };
        assert!(may_change_ticket(&supervisor, Some(2)).is_ok());
    }

    #[test]
    fn a_deactivated_technicians_caller_writes_nothing() {
        assert!(may_write(&technician(1)).is_ok());
        let gone = Caller { technician_active: false, ..technician(1) };
        assert_eq!(may_write(&gone).map_err(|err| err.code()), Err("FORBIDDEN"));
        let supervisor = Caller { technician_id: None, technician_active: false, ..technician(1) };
        assert!(may_write(&supervisor).is_ok(), "no technician named, none to be inactive");
    }

    #[test]
    fn a_token_issued_before_the_not_before_instant_is_revoked() {
        let at = |text: &str| text.parse::<DateTime<Utc>>().unwrap();
        let revoked_at = at("2026-12-01T12:00:00.500Z");
        assert!(!is_revoked(at("2026-12-01T11:00:00Z").timestamp(), None));
        assert!(is_revoked(at("2026-12-01T11:59:59Z").timestamp(), Some(revoked_at)));
        assert!(is_revoked(at("2026-12-01T12:00:00Z").timestamp(), Some(revoked_at)), "the same second");
        assert!(!is_revoked(at("2026-12-01T12:00:01Z").timestamp(), Some(revoked_at)));
    }

    #[test]
    fn technicians_take_unassigned_tickets_and_hand_back_their_own() {
        assert!(may_assign(&technician(1), None, Some(1)).is_ok());
        assert!(may_assign(&technician(1), Some(1), None).is_ok());
        assert!(may_assign(&technician(1), None, Some(2)).is_err());
        assert!(may_assign(&technician(1), Some(2), Some(1)).is_err());
        assert!(may_assign(&technician(1), Some(1), Some(2)).is_err());
    }
}
