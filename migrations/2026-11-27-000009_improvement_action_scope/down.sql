ALTER TABLE improvement_actions DROP COLUMN scope;
