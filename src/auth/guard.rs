use async_graphql::{Context, Guard};

use super::Role;
use crate::error::AppError;
use crate::graphql::caller;

/// Refuses a field with FORBIDDEN unless the caller holds at least `required`. Put it on a
/// nullable field: the field answers null with the error while the rest of the query answers.
pub struct RoleGuard {
    required: Role,
}

impl RoleGuard {
    pub fn new(required: Role) -> Self {
        RoleGuard { required }
    }
}

impl Guard for RoleGuard {
    async fn check(&self, ctx: &Context<'_>) -> async_graphql::Result<()> {
        let caller = caller(ctx)?;
        if caller.has_role(self.required) {
            Ok(())
        } else {
            Err(AppError::Forbidden(format!("this field needs the {} role", self.required.as_str())).into())
        }
    }
}
