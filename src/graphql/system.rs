//! Who am I, and the service's own state.

use async_graphql::{ComplexObject, Context, ID, Object, SimpleObject};
use chrono::{DateTime, Utc};

use super::loaders::Loaders;
use super::staff::TechnicianNode;
use super::{CallerTechnician, caller, db};
use crate::auth::{Role, RoleGuard};
use crate::error::AppError;

/// The caller as the server sees their token.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct Viewer {
    /// The token's subject: recorded as the actor of every change this caller makes.
    pub subject: String,
    pub role: Role,
    /// The technician this caller acts as, when the token names one.
    pub technician_id: Option<ID>,
}

#[ComplexObject]
impl Viewer {
    /// The technician the token is linked to, when it names one that exists.
    async fn technician(&self, ctx: &Context<'_>) -> Result<Option<TechnicianNode>, AppError> {
        let Some(id) = caller(ctx)?.technician_id else { return Ok(None) };
        if let Some(CallerTechnician::WithFirstStatements(read)) = ctx.data_opt::<CallerTechnician>() {
            // Let the operation's other fields start their statements first, so that the token
            // check (which reads this record) runs with one of them rather than on a trip of its
            // own; either way this waits for it.
            tokio::task::yield_now().await;
            db(ctx)?.gate_passed().await?;
            if let Some(technician) = read.get() {
                return Ok(technician.clone().filter(|technician| technician.id == id).map(TechnicianNode));
            }
        }
        Ok(ctx.data_unchecked::<Loaders>().technicians.load_one(id).await?.map(TechnicianNode))
    }
}

/// The server and its database, for supervisors checking a deployment.
#[derive(SimpleObject)]
pub struct SystemStatus {
    /// deskpulse's version.
    pub version: String,
    /// The database server's clock.
    pub database_time: DateTime<Utc>,
    /// The applied schema migrations, oldest first.
    pub applied_migrations: Vec<String>,
}

#[derive(Default)]
pub struct SystemQuery;

#[Object]
impl SystemQuery {
    /// The caller: answers for every role.
    async fn me(&self, ctx: &Context<'_>) -> Result<Viewer, AppError> {
        let caller = caller(ctx)?;
        Ok(Viewer {
            subject: caller.subject.clone(),
            role: caller.role,
            technician_id: caller.technician_id.map(ID::from),
        })
    }

    /// The server's version and database state. SUPERVISOR and ADMIN only.
    #[graphql(guard = "RoleGuard::new(Role::Supervisor)")]
    async fn system_status(&self, ctx: &Context<'_>) -> Result<Option<SystemStatus>, AppError> {
        let (database_time, applied_migrations) = db(ctx)?
            .run(|conn| {
                let now = crate::store::system::database_time(conn)?;
                let applied = crate::db::applied_migrations(conn).map_err(AppError::Internal)?;
                Ok((now, applied))
            })
            .await?;
        Ok(Some(SystemStatus { version: env!("CARGO_PKG_VERSION").to_owned(), database_time, applied_migrations }))
    }
}
