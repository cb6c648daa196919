DROP TABLE satisfaction_ratings;
DROP TABLE interactions;
DROP FUNCTION interactions_refuse_edit();
