// @generated automatically by Diesel CLI.

diesel::table! {
    business_calendars (id) {
        id -> Int8,
        name -> Text,
        time_zone -> Text,
        weekly_hours -> Jsonb,
        holidays -> Jsonb,
        is_default -> Bool,
        version -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    customers (id) {
        id -> Int8,
        name -> Text,
        email -> Nullable<Text>,
        phone -> Nullable<Text>,
        organization -> Nullable<Text>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    improvement_action_changes (id) {
        id -> Int8,
        action_id -> Int8,
        at -> Timestamptz,
        actor -> Text,
        field -> Text,
        from_value -> Nullable<Text>,
        to_value -> Nullable<Text>,
    }
}

diesel::table! {
    improvement_actions (id) {
        id -> Int8,
        title -> Text,
        description -> Text,
        kind -> Text,
        target_metric -> Text,
        target_value -> Float8,
        baseline_value -> Nullable<Float8>,
        baseline_from -> Timestamptz,
        baseline_to -> Timestamptz,
        owner -> Text,
        due_date -> Nullable<Date>,
        status -> Text,
        outcome_notes -> Nullable<Text>,
        source_report_id -> Nullable<Int8>,
        idempotency_key -> Nullable<Text>,
        request_hash -> Text,
        created_by -> Text,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        ended_at -> Nullable<Timestamptz>,
        version -> Int4,
        outcome_value -> Nullable<Float8>,
        outcome_measured_at -> Nullable<Timestamptz>,
        scope -> Jsonb,
    }
}

diesel::table! {
    interactions (id) {
        id -> Int8,
        customer_id -> Int8,
        ticket_id -> Nullable<Int8>,
        technician_id -> Nullable<Int8>,
        channel -> Text,
        direction -> Text,
        occurred_at -> Timestamptz,
        duration_seconds -> Nullable<Int4>,
        summary -> Text,
        corrects_id -> Nullable<Int8>,
        logged_by -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    performance_reports (id) {
        id -> Int8,
        kind -> Text,
        period_start -> Timestamptz,
        period_end -> Timestamptz,
        time_zone -> Text,
        version -> Int4,
        generated_at -> Timestamptz,
        generated_by -> Text,
        trigger -> Text,
        snapshot -> Jsonb,
    }
}

diesel::table! {
    retention_runs (id) {
        id -> Int8,
        started_at -> Timestamptz,
        finished_at -> Nullable<Timestamptz>,
        dry_run -> Bool,
        triggered_by -> Text,
        status -> Text,
        tickets_closed_before -> Timestamptz,
        interactions_before -> Timestamptz,
        reports_generated_before -> Timestamptz,
        actions_ended_before -> Timestamptz,
        tickets_removed -> Int8,
        ticket_events_removed -> Int8,
        ratings_removed -> Int8,
        interactions_removed -> Int8,
        reports_removed -> Int8,
        improvement_actions_removed -> Int8,
        error -> Nullable<Text>,
    }
}

diesel::table! {
    satisfaction_ratings (id) {
        id -> Int8,
        ticket_id -> Int8,
        rating -> Int2,
        comment -> Nullable<Text>,
        source -> Text,
        submitted_by -> Text,
        submitted_at -> Timestamptz,
        superseded_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    sla_policies (id) {
        id -> Int8,
        name -> Text,
        priority -> Text,
        category -> Nullable<Text>,
        first_response_minutes -> Int4,
        resolution_minutes -> Int4,
        at_risk_percent -> Int2,
        calendar_id -> Int8,
        version -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    technicians (id) {
        id -> Int8,
        name -> Text,
        email -> Text,
        team -> Text,
        active -> Bool,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    ticket_events (id) {
        id -> Int8,
        ticket_id -> Int8,
        at -> Timestamptz,
        actor -> Text,
        kind -> Text,
        from_value -> Nullable<Text>,
        to_value -> Nullable<Text>,
        note -> Nullable<Text>,
    }
}

diesel::table! {
    ticket_slas (ticket_id) {
        ticket_id -> Int8,
        policy_id -> Nullable<Int8>,
        policy -> Jsonb,
        applied_at -> Timestamptz,
        segments -> Jsonb,
        first_response_due_at -> Nullable<Timestamptz>,
        first_response_risk_at -> Nullable<Timestamptz>,
        resolution_due_at -> Nullable<Timestamptz>,
        resolution_risk_at -> Nullable<Timestamptz>,
        resolution_breach_at -> Nullable<Timestamptz>,
        first_response_breach_recorded -> Bool,
        resolution_breach_recorded -> Bool,
        calendar_copy_id -> Int8,
    }
}

diesel::table! {
    tickets (id) {
        id -> Int8,
        number -> Text,
        customer_id -> Int8,
        subject -> Text,
        description -> Text,
        category -> Text,
        priority -> Text,
        channel -> Text,
        status -> Text,
        assignee_id -> Nullable<Int8>,
        opened_at -> Timestamptz,
        first_response_at -> Nullable<Timestamptz>,
        first_resolved_at -> Nullable<Timestamptz>,
        resolved_at -> Nullable<Timestamptz>,
        closed_at -> Nullable<Timestamptz>,
        reopen_count -> Int4,
        version -> Int4,
        external_ref -> Nullable<Text>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        priority_rank -> Int2,
    }
}

diesel::table! {
    token_revocations (subject) {
        subject -> Text,
        not_before -> Timestamptz,
        revoked_by -> Text,
        revoked_at -> Timestamptz,
    }
}

diesel::joinable!(improvement_action_changes -> improvement_actions (action_id));
diesel::joinable!(improvement_actions -> performance_reports (source_report_id));
diesel::joinable!(interactions -> customers (customer_id));
diesel::joinable!(interactions -> technicians (technician_id));
diesel::joinable!(interactions -> tickets (ticket_id));
diesel::joinable!(satisfaction_ratings -> tickets (ticket_id));
diesel::joinable!(sla_policies -> business_calendars (calendar_id));
diesel::joinable!(ticket_events -> tickets (ticket_id));
diesel::joinable!(ticket_slas -> sla_policies (policy_id));
diesel::joinable!(ticket_slas -> tickets (ticket_id));
diesel::joinable!(tickets -> customers (customer_id));
diesel::joinable!(tickets -> technicians (assignee_id));

diesel::allow_tables_to_appear_in_same_query!(
    business_calendars,
    customers,
    improvement_action_changes,
    improvement_actions,
    interactions,
    performance_reports,
    retention_runs,
    satisfaction_ratings,
    sla_policies,
    technicians,
    ticket_events,
    ticket_slas,
    tickets,
    token_revocations,
);
