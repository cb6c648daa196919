CREATE OR REPLACE FUNCTION live_watched() RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1 FROM live_presence WHERE heartbeat_at > now() - interval '90 seconds')
$$;
