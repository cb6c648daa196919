//! Technicians and customers.

use async_graphql::connection::{Connection, Edge};
use async_graphql::{Context, ID, InputObject, MaybeUndefined, Object, Value};
use chrono::{DateTime, Utc};

use super::direct::{self, Plain, PlainFields};
use super::interactions::{InteractionConnection, InteractionFilterInput, interaction_page};
use super::kpis::{PerformanceNode, PeriodInput, performance_of};
use super::pagination::{ListCursor, TotalCount, cursor_at, decode_cursor, trim_page};
use super::tickets::{TicketConnection, TicketFilterInput, TicketOrderInput, ticket_page};
use super::{caller, cost, db, loaders, parse_id};
use crate::auth::{Role, RoleGuard};
use crate::domain::limits::{self, NAME_MAX, ORGANIZATION_MAX, PHONE_MAX, SEARCH_MAX, TEAM_MAX};
use crate::error::AppError;
use crate::models::{Customer, NewCustomer, NewTechnician, Technician};
use crate::store;
use crate::store::customers::{CustomerChanges, CustomerCursor};
use crate::store::technicians::TechnicianChanges;

/// A member of the support staff.
#[derive(Clone)]
pub struct TechnicianNode(pub Technician);

#[Object(name = "Technician", serial)]
impl TechnicianNode {
    async fn id(&self) -> ID {
        ID::from(self.0.id)
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn email(&self) -> &str {
        &self.0.email
    }
    async fn team(&self) -> &str {
        &self.0.team
    }
    /// A deactivated technician keeps their history but takes no new tickets.
    async fn active(&self) -> bool {
        self.0.active
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
    /// This technician's numbers for a period (tickets by current assignee). SUPERVISOR and ADMIN,
    /// or the technician themselves.
    #[graphql(complexity = "cost::kpi(1, 1, child_complexity)")]
    async fn performance(&self, ctx: &Context<'_>, period: PeriodInput) -> Result<Option<PerformanceNode>, AppError> {
        performance_of(ctx, self.0.id, period).await
    }
}

/// Whether the field `name` of a customer or a technician shows more than their id and name
/// (store::tickets::People::details). A field not named here is taken to.
pub fn shows_details(name: &str) -> bool {
    !matches!(name, "id" | "name" | "performance" | "interactions" | "tickets" | "__typename")
}

impl PlainFields for TechnicianNode {
    fn plain_field(&self, name: &str) -> Option<Plain<'_>> {
        let technician = &self.0;
        Some(match name {
            "id" => direct::id(technician.id),
            "name" => direct::text(&technician.name),
            "email" => direct::text(&technician.email),
            "team" => direct::text(&technician.team),
            "active" => Plain::Value(Value::Boolean(technician.active)),
            "createdAt" => direct::instant(technician.created_at),
            "updatedAt" => direct::instant(technician.updated_at),
            _ => return None,
        })
    }
}

/// A person who asks for help. Contact details are personal data: staff only.
#[derive(Clone)]
pub struct CustomerNode(pub Customer);

#[Object(name = "Customer", serial)]
impl CustomerNode {
    async fn id(&self) -> ID {
        ID::from(self.0.id)
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn email(&self) -> Option<&str> {
        self.0.email.as_deref()
    }
    async fn phone(&self) -> Option<&str> {
        self.0.phone.as_deref()
    }
    async fn organization(&self) -> Option<&str> {
        self.0.organization.as_deref()
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }

    /// This customer's calls, emails and chats, newest first.
    #[graphql(complexity = "cost::page(first, child_complexity)")]
    async fn interactions(
        &self,
        ctx: &Context<'_>,
        filter: Option<InteractionFilterInput>,
        #[graphql(desc = "Page size, 1 to 100 (default 20).")] first: Option<i32>,
        after: Option<String>,
    ) -> Result<InteractionConnection, AppError> {
        let mut filter = filter.unwrap_or_default().into_store();
        filter.customer_id = Some(self.0.id);
        interaction_page(ctx, filter, first, after).await
    }

    /// This customer's tickets (the filter's customerId is ignored).
    #[graphql(complexity = "cost::page(first, child_complexity)")]
    async fn tickets(
        &self,
        ctx: &Context<'_>,
        filter: Option<TicketFilterInput>,
        order_by: Option<TicketOrderInput>,
        #[graphql(desc = "Page size, 1 to 100 (default 20).")] first: Option<i32>,
        after: Option<String>,
    ) -> Result<TicketConnection, AppError> {
        let mut filter = filter.unwrap_or_default().into_store()?;
        filter.customer_id = Some(self.0.id);
        ticket_page(ctx, filter, order_by, first, after).await
    }
}

impl PlainFields for CustomerNode {
    fn plain_field(&self, name: &str) -> Option<Plain<'_>> {
        let customer = &self.0;
        Some(match name {
            "id" => direct::id(customer.id),
            "name" => direct::text(&customer.name),
            "email" => direct::optional_text(customer.email.as_deref()),
            "phone" => direct::optional_text(customer.phone.as_deref()),
            "organization" => direct::optional_text(customer.organization.as_deref()),
            "createdAt" => direct::instant(customer.created_at),
            "updatedAt" => direct::instant(customer.updated_at),
            _ => return None,
        })
    }
}

#[derive(InputObject)]
pub struct CreateTechnicianInput {
    pub name: String,
    pub email: String,
    #[graphql(default)]
    pub team: String,
}

/// Only the fields given change.
#[derive(InputObject)]
pub struct UpdateTechnicianInput {
    pub name: Option<String>,
    pub email: Option<String>,
    pub team: Option<String>,
}

#[derive(InputObject)]
pub struct CustomerInput {
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub organization: Option<String>,
}

/// Only the fields given change; `null` clears an optional field.
#[derive(InputObject)]
pub struct UpdateCustomerInput {
    pub name: Option<String>,
    pub email: MaybeUndefined<String>,
    pub phone: MaybeUndefined<String>,
    pub organization: MaybeUndefined<String>,
}

impl CustomerInput {
    /// Validates and normalises the input; `prefix` names the input in errors.
    pub fn into_new(self, prefix: &str) -> Result<NewCustomer, AppError> {
        let field = |name: &str| format!("{prefix}{name}");
        Ok(NewCustomer {
            name: limits::required_text(&field("name"), &self.name, NAME_MAX)?,
            email: self.email.as_deref().map(|e| limits::email(&field("email"), e)).transpose()?,
            phone: limits::optional_text(&field("phone"), self.phone.as_deref(), PHONE_MAX)?,
            organization: limits::optional_text(
                &field("organization"),
                self.organization.as_deref(),
                ORGANIZATION_MAX,
            )?,
        })
    }
}

fn optional_change(
    field: &str,
    value: MaybeUndefined<String>,
    check: impl Fn(&str, &str) -> Result<Option<String>, AppError>,
) -> Result<Option<Option<String>>, AppError> {
    match value {
        MaybeUndefined::Undefined => Ok(None),
        MaybeUndefined::Null => Ok(Some(None)),
        MaybeUndefined::Value(text) => Ok(Some(check(field, &text)?)),
    }
}

pub type CustomerConnection = Connection<ListCursor<(String, i64)>, CustomerNode, TotalCount>;

#[derive(Default)]
pub struct StaffQuery;

#[Object]
impl StaffQuery {
    /// One technician.
    async fn technician(&self, ctx: &Context<'_>, id: ID) -> Result<Option<TechnicianNode>, AppError> {
        let id = parse_id("id", &id)?;
        let loaded = ctx.data_unchecked::<loaders::Loaders>().technicians.load_one(id).await?;
        Ok(loaded.map(TechnicianNode))
    }

    /// Technicians by name; only active ones unless `includeInactive`, only one team's when given.
    #[graphql(complexity = "cost::unpaged(child_complexity)")]
    async fn technicians(
        &self,
        ctx: &Context<'_>,
        #[graphql(default)] include_inactive: bool,
        team: Option<String>,
    ) -> Result<Vec<TechnicianNode>, AppError> {
        let rows = db(ctx)?.run(move |conn| store::technicians::list(conn, !include_inactive, team.as_deref())).await?;
        Ok(rows.into_iter().map(TechnicianNode).collect())
    }

    /// One customer.
    async fn customer(&self, ctx: &Context<'_>, id: ID) -> Result<Option<CustomerNode>, AppError> {
        let id = parse_id("id", &id)?;
        let loaded = ctx.data_unchecked::<loaders::Loaders>().customers.load_one(id).await?;
        Ok(loaded.map(CustomerNode))
    }

    /// Customers whose name, e-mail, phone or organization contains `search` (any case), by name.
    #[graphql(complexity = "cost::page(first, child_complexity)")]
    async fn customers(
        &self,
        ctx: &Context<'_>,
        search: Option<String>,
        #[graphql(desc = "Page size, 1 to 100 (default 20).")] first: Option<i32>,
        after: Option<String>,
    ) -> Result<CustomerConnection, AppError> {
        let limit = limits::page_size("first", first, 20)?;
        let search = limits::optional_text("search", search.as_deref(), SEARCH_MAX)?;
        let after =
            decode_cursor::<(String, i64)>("after", after.as_deref())?.map(|(name, id)| CustomerCursor { name, id });
        let has_previous = after.is_some();
        let page_search = search.clone();
        let mut rows = db(ctx)?
            .run(move |conn| store::customers::search(conn, page_search.as_deref(), after.as_ref(), limit + 1))
            .await?;
        let has_next = trim_page(&mut rows, limit);
        let total = TotalCount::new(move |conn| store::customers::count(conn, search.as_deref()));
        let mut connection = Connection::with_additional_fields(has_previous, has_next, total);
        connection.edges.extend(rows.into_iter().map(|row| {
            let cursor = cursor_at((row.name.clone(), row.id));
            Edge::new(cursor, CustomerNode(row))
        }));
        Ok(connection)
    }
}

#[derive(Default)]
pub struct StaffMutation;

#[Object]
impl StaffMutation {
    /// Adds a technician. ADMIN only.
    #[graphql(guard = "RoleGuard::new(Role::Admin)")]
    async fn create_technician(
        &self,
        ctx: &Context<'_>,
        input: CreateTechnicianInput,
    ) -> Result<TechnicianNode, AppError> {
        let new = NewTechnician {
            name: limits::required_text("name", &input.name, NAME_MAX)?,
            email: limits::email("email", &input.email)?,
            team: limits::optional_text("team", Some(&input.team), TEAM_MAX)?.unwrap_or_default(),
        };
        let row = db(ctx)?.run(move |conn| store::technicians::create(conn, &new)).await?;
        Ok(TechnicianNode(row))
    }

    /// Changes a technician's name, e-mail or team. ADMIN only.
    #[graphql(guard = "RoleGuard::new(Role::Admin)")]
    async fn update_technician(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateTechnicianInput,
    ) -> Result<TechnicianNode, AppError> {
        let id = parse_id("id", &id)?;
        let changes = TechnicianChanges {
            name: input.name.map(|name| limits::required_text("name", &name, NAME_MAX)).transpose()?,
            email: input.email.map(|email| limits::email("email", &email)).transpose()?,
            team: input
                .team
                .map(|team| limits::optional_text("team", Some(&team), TEAM_MAX).map(Option::unwrap_or_default))
                .transpose()?,
            active: None,
        };
        set_technician(ctx, id, changes).await
    }

    /// Deactivates a technician: their history stays, they take no new tickets. ADMIN only.
    #[graphql(guard = "RoleGuard::new(Role::Admin)")]
    async fn deactivate_technician(&self, ctx: &Context<'_>, id: ID) -> Result<TechnicianNode, AppError> {
        let id = parse_id("id", &id)?;
        set_technician(ctx, id, TechnicianChanges { name: None, email: None, team: None, active: Some(false) }).await
    }

    /// Makes a deactivated technician active again. ADMIN only.
    #[graphql(guard = "RoleGuard::new(Role::Admin)")]
    async fn reactivate_technician(&self, ctx: &Context<'_>, id: ID) -> Result<TechnicianNode, AppError> {
        let id = parse_id("id", &id)?;
        set_technician(ctx, id, TechnicianChanges { name: None, email: None, team: None, active: Some(true) }).await
    }

    /// Adds a customer.
    async fn create_customer(&self, ctx: &Context<'_>, input: CustomerInput) -> Result<CustomerNode, AppError> {
        caller(ctx)?;
        let new = input.into_new("")?;
        let row = db(ctx)?.run(move |conn| store::customers::create(conn, &new)).await?;
        Ok(CustomerNode(row))
    }

    /// Changes a customer's details.
    async fn update_customer(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateCustomerInput,
    ) -> Result<CustomerNode, AppError> {
        let id = parse_id("id", &id)?;
        let changes = CustomerChanges {
            name: input.name.map(|name| limits::required_text("name", &name, NAME_MAX)).transpose()?,
            email: optional_change("email", input.email, |field, text| limits::email(field, text).map(Some))?,
            phone: optional_change("phone", input.phone, |field, text| {
                limits::optional_text(field, Some(text), PHONE_MAX)
            })?,
            organization: optional_change("organization", input.organization, |field, text| {
                limits::optional_text(field, Some(text), ORGANIZATION_MAX)
            })?,
        };
        let now = Utc::now();
        let row = db(ctx)?.run(move |conn| store::customers::update(conn, id, changes, now)).await?;
        Ok(CustomerNode(row))
    }
}

async fn set_technician(ctx: &Context<'_>, id: i64, changes: TechnicianChanges) -> Result<TechnicianNode, AppError> {
    let now = Utc::now();
    let row = db(ctx)?.run(move |conn| store::technicians::update(conn, id, changes, now)).await?;
    Ok(TechnicianNode(row))
}
