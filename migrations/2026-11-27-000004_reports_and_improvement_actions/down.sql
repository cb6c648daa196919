DROP TABLE improvement_action_changes;
DROP TABLE improvement_actions;
DROP TABLE performance_reports;
