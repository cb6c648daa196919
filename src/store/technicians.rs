use std::collections::HashMap;

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::conflict_on_unique;
use super::plan_once::key_in;
use crate::error::AppError;
use crate::models::{NewTechnician, Technician};
use crate::schema::technicians;

const EMAIL_TAKEN: &str = "a technician with this e-mail address exists";

pub fn create(conn: &mut PgConnection, new: &NewTechnician) -> Result<Technician, AppError> {
    diesel::insert_into(technicians::table)
        .values(new)
        .returning(Technician::as_returning())
        .get_result(conn)
        .map_err(|err| conflict_on_unique(err, "email", EMAIL_TAKEN))
}

/// Changes the fields that are `Some`.
pub struct TechnicianChanges {
    pub name: Option<String>,
    pub email: Option<String>,
    pub team: Option<String>,
    pub active: Option<bool>,
}

pub fn update(
    conn: &mut PgConnection,
    id: i64,
    changes: TechnicianChanges,
    now: DateTime<Utc>,
) -> Result<Technician, AppError> {
    conn.transaction(|conn| {
        let current = find(conn, id)?;
        diesel::update(technicians::table.find(id))
            .set((
                technicians::name.eq(changes.name.unwrap_or(current.name)),
                technicians::email.eq(changes.email.unwrap_or(current.email)),
                technicians::team.eq(changes.team.unwrap_or(current.team)),
                technicians::active.eq(changes.active.unwrap_or(current.active)),
                technicians::updated_at.eq(now),
            ))
            .returning(Technician::as_returning())
            .get_result(conn)
            .map_err(|err| conflict_on_unique(err, "email", EMAIL_TAKEN))
    })
}

pub fn find(conn: &mut PgConnection, id: i64) -> Result<Technician, AppError> {
    technicians::table
        .find(id)
        .select(Technician::as_select())
        .get_result(conn)
        .optional()?
        .ok_or_else(|| AppError::NotFound(format!("technician {id} does not exist")))
}

pub fn by_ids(conn: &mut PgConnection, ids: &[i64]) -> Result<HashMap<i64, Technician>, AppError> {
    let rows = technicians::table
        .filter(key_in(technicians::id, ids))
        .select(Technician::as_select())
        .load::<Technician>(conn)?;
    Ok(rows.into_iter().map(|row| (row.id, row)).collect())
}

/// Every technician, by name; only active ones when asked, only one team's when given.
pub fn list(conn: &mut PgConnection, active_only: bool, team: Option<&str>) -> Result<Vec<Technician>, AppError> {
    let mut query = technicians::table.select(Technician::as_select()).into_boxed();
    if active_only {
        query = query.filter(technicians::active.eq(true));
    }
    if let Some(team) = team {
        query = query.filter(technicians::team.eq(team.to_owned()));
    }
    Ok(query.order((technicians::name.asc(), technicians::id.asc())).load(conn)?)
}
