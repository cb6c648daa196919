-- live_watched() in PL/pgSQL (docs/benchmarks.md, "tenth session"). As a SQL function it was
-- never inlined (its body holds a sub-select), so every transaction that wrote a ticket event or
-- an interaction parsed, analysed and planned its body afresh: a SQL function's prepared body
-- lives only as long as the calling expression's state, which PL/pgSQL keeps for one
-- transaction. A PL/pgSQL function keeps its plan for the life of the connection. What it
-- answers is unchanged: the look-up still runs with the snapshot the calling trigger takes for
-- its `IF live_watched()`, as before.
CREATE OR REPLACE FUNCTION live_watched() RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN EXISTS (SELECT 1 FROM live_presence WHERE heartbeat_at > now() - interval '90 seconds');
END
$$;
