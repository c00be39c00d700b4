-- The sse schema (docs/DESIGN.md, The delivery guarantee). Idempotent: every
-- object is created if missing or replaced. sse-gateway runs this whole file
-- in one transaction under an advisory lock (concurrent instances migrate one
-- after the other), and only when the digest of this file differs from the
-- one recorded in sse.schema_version: against an up-to-date schema, `serve`
-- takes no lock a publisher could wait behind.

CREATE SCHEMA IF NOT EXISTS sse;

CREATE TABLE IF NOT EXISTS sse.schema_version (version int NOT NULL);
ALTER TABLE sse.schema_version ADD COLUMN IF NOT EXISTS digest text;

-- Publishers write here; positions are given later, by the leader, in commit order.
CREATE TABLE IF NOT EXISTS sse.outbox (
    id bigserial PRIMARY KEY,
    txid bigint NOT NULL DEFAULT txid_current(),
    stream text NOT NULL,
    event text,
    data text NOT NULL,
    published_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX IF NOT EXISTS outbox_txid ON sse.outbox (txid);

CREATE TABLE IF NOT EXISTS sse.events (
    position bigint PRIMARY KEY,
    stream text NOT NULL,
    event text,
    data text NOT NULL,
    published_at timestamptz NOT NULL,
    sequenced_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS events_stream_position ON sse.events (stream, position);
CREATE INDEX IF NOT EXISTS events_sequenced_at ON sse.events (sequenced_at);

-- The name rules of sse.publish also as constraints, so a login that inserts
-- into the tables directly cannot store an event a subscriber could mistake
-- for one of the gateway's sentinels (event types gateway:*) or that breaks
-- the framing. NOT VALID: rows already there are not rechecked.
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['outbox', 'events'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_constraint
                       WHERE conname = t || '_names' AND conrelid = ('sse.' || t)::regclass) THEN
            EXECUTE format($f$ALTER TABLE sse.%I ADD CONSTRAINT %I CHECK (
                stream ~ '^[A-Za-z0-9_.:/@-]{1,200}$'
                AND (event IS NULL OR (event <> '' AND event !~ '[\r\n]'
                                       AND left(event, 8) <> 'gateway:'))) NOT VALID$f$,
                t, t || '_names');
        END IF;
    END LOOP;
END $$;

-- Exactly one row. head: highest position given out (positions are contiguous).
-- leader_sleeping: publishers wake the leader only while it sleeps.
CREATE TABLE IF NOT EXISTS sse.state (
    one boolean PRIMARY KEY DEFAULT true CHECK (one),
    head bigint NOT NULL DEFAULT 0,
    pruned_through bigint NOT NULL DEFAULT 0,
    leader_sleeping boolean NOT NULL DEFAULT true
);
INSERT INTO sse.state (one) VALUES (true) ON CONFLICT DO NOTHING;

CREATE TABLE IF NOT EXISTS sse.gateways (
    id text PRIMARY KEY,
    host text NOT NULL,
    pid int NOT NULL,
    started_at timestamptz NOT NULL,
    last_seen timestamptz NOT NULL,
    connections int NOT NULL DEFAULT 0,
    draining boolean NOT NULL DEFAULT false,
    leader boolean NOT NULL DEFAULT false
);

-- The rules for names, as expressions the planner inlines: NULL when valid,
-- else the message. sse.publish tests them without a nested function call (a
-- PERFORM per check cost a third of a publish).
CREATE OR REPLACE FUNCTION sse._stream_error(stream text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN stream IS NULL OR stream !~ '^[A-Za-z0-9_.:/@-]{1,200}$'
        THEN 'sse: invalid stream name ' || quote_literal(coalesce(stream, 'NULL'))
             || ': 1-200 bytes of A-Z a-z 0-9 _ - . : / @' END
$$;

CREATE OR REPLACE FUNCTION sse._event_error(event text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN event IS NOT NULL AND (event ~ '[\r\n]' OR event = '')
            THEN 'sse: invalid event type: no CR, LF or empty string'
        -- A subscriber could not tell such an event from the gateway's sentinels.
        WHEN left(event, 8) = 'gateway:'
            THEN 'sse: event types starting with gateway: are reserved' END
$$;

CREATE OR REPLACE FUNCTION sse._check_stream(stream text) RETURNS void
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF sse._stream_error(stream) IS NOT NULL THEN
        RAISE EXCEPTION '%', sse._stream_error(stream) USING ERRCODE = '22023';
    END IF;
END $$;

CREATE OR REPLACE FUNCTION sse._check_event(event text) RETURNS void
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF sse._event_error(event) IS NOT NULL THEN
        RAISE EXCEPTION '%', sse._event_error(event) USING ERRCODE = '22023';
    END IF;
END $$;

-- Durable, transactional publish: the event exists only if the caller commits.
-- The functions an application calls run as the schema's owner (SECURITY
-- DEFINER with a fixed search_path), so a role granted sse_publisher needs
-- no right on the tables themselves.
CREATE OR REPLACE FUNCTION sse.publish(stream text, data text, event text DEFAULT NULL)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    problem text := coalesce(sse._stream_error(stream), sse._event_error(event),
                             CASE WHEN data IS NULL THEN 'sse: data must not be NULL' END);
BEGIN
    IF problem IS NOT NULL THEN
        RAISE EXCEPTION '%', problem USING ERRCODE = '22023';
    END IF;
    INSERT INTO sse.outbox (stream, event, data) VALUES (stream, event, data);
END $$;

-- Several events in array order, for POST /publish: one round trip per
-- request, and the events of one call consecutive in the outbox. One check
-- and one INSERT for the whole array (a call of sse.publish per element cost
-- several times more); the outbox ids follow the array order, since the id
-- default is computed above the sort.
CREATE OR REPLACE FUNCTION sse.publish_many(streams text[], datas text[], events text[])
RETURNS int LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    problem text;
    n int;
BEGIN
    IF cardinality(streams) <> cardinality(datas) OR cardinality(streams) <> cardinality(events) THEN
        RAISE EXCEPTION 'sse: publish_many needs arrays of one length' USING ERRCODE = '22023';
    END IF;
    SELECT p INTO problem
    FROM (SELECT coalesce(sse._stream_error(u.s), sse._event_error(u.e),
                          CASE WHEN u.d IS NULL THEN 'sse: data must not be NULL' END) AS p, u.i
          FROM unnest(streams, datas, events) WITH ORDINALITY AS u(s, d, e, i)) c
    WHERE p IS NOT NULL ORDER BY i LIMIT 1;
    IF problem IS NOT NULL THEN
        RAISE EXCEPTION '%', problem USING ERRCODE = '22023';
    END IF;
    INSERT INTO sse.outbox (stream, event, data)
    SELECT u.s, u.e, u.d FROM unnest(streams, datas, events) WITH ORDINALITY AS u(s, d, e, i)
    ORDER BY u.i;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;

-- Ephemeral: delivered to whoever is connected now; nothing is stored.
CREATE OR REPLACE FUNCTION sse.notify(stream text, data text, event text DEFAULT NULL)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM sse._check_stream(stream);
    PERFORM sse._check_event(event);
    PERFORM pg_notify('sse#notify',
        json_build_object('stream', stream, 'event', event, 'data', coalesce(data, ''))::text);
END $$;

CREATE OR REPLACE FUNCTION sse.head() RETURNS bigint
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$ SELECT head FROM sse.state $$;

-- At commit time (deferred), wake the leader, but only while it sleeps: a
-- NOTIFY takes a global lock at commit, so notifying on every publish would
-- serialize concurrent publishers' commits.
-- Deferred: it fires at the publisher's COMMIT, outside sse.publish, so it
-- runs as the schema's owner itself to read sse.state.
CREATE OR REPLACE FUNCTION sse._wake_leader() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF (SELECT leader_sleeping FROM sse.state) THEN
        PERFORM pg_notify('sse#wake', '');
    END IF;
    RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS outbox_wake ON sse.outbox;
-- One queued check per row: a WHEN that queued it only for a transaction's
-- first row (marking the transaction in a local setting) made batches of 16
-- 4 % faster but single-row publishing 15 % slower (pgbench, 16 sessions).
CREATE CONSTRAINT TRIGGER outbox_wake AFTER INSERT ON sse.outbox
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION sse._wake_leader();
DROP FUNCTION IF EXISTS sse._first_outbox_row();

-- One batch, run by the leader in its own transaction: moves the outbox rows of
-- whole committed transactions (all rows of one become visible together, so
-- selecting by txid never splits one) into sse.events with consecutive
-- positions, each transaction's events together and in publish order. The
-- UPDATE of sse.state also serializes any two would-be leaders.
-- It returns the events it moved, in position order, so the leader's own
-- dispatcher can fan them out without reading them back; the data only of
-- the first max_bytes of the batch (NULL after them), so what the leader
-- holds stays bounded whatever the events hold.
-- An empty outbox returns before any lock: a row lock gives the transaction
-- an id, and its commit then waits for a WAL flush (a third of a
-- millisecond here, several after an idle spell), which the leader paid
-- after every batch and on every backup poll.
CREATE OR REPLACE FUNCTION sse._sequence_rows(max_rows int, max_bytes bigint)
RETURNS TABLE (ev_position bigint, ev_stream text, ev_event text, ev_data text, ev_published_us bigint)
LANGUAGE plpgsql AS $$
DECLARE
    old_head bigint;
    moved bigint;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM sse.outbox) THEN
        RETURN;
    END IF;
    SELECT st.head INTO old_head FROM sse.state st FOR UPDATE;
    RETURN QUERY
    WITH batch AS (
        DELETE FROM sse.outbox o
        WHERE o.txid IN (SELECT DISTINCT s.txid
                         FROM (SELECT ob.txid FROM sse.outbox ob ORDER BY ob.id LIMIT max_rows) s)
        RETURNING o.id, o.txid, o.stream, o.event, o.data, o.published_at
    ), ins AS (
        INSERT INTO sse.events AS e (position, stream, event, data, published_at)
        SELECT old_head + row_number() OVER (ORDER BY b.txid, b.id), b.stream, b.event, b.data,
               b.published_at
        FROM batch b
        RETURNING e.position, e.stream, e.event, e.data, e.published_at
    )
    SELECT i.position, i.stream, i.event,
           CASE WHEN sum(octet_length(i.data)) OVER (ORDER BY i.position) <= max_bytes
                THEN i.data END,
           (extract(epoch FROM i.published_at) * 1e6)::int8
    FROM ins i ORDER BY i.position;
    GET DIAGNOSTICS moved = ROW_COUNT;
    IF moved > 0 THEN
        UPDATE sse.state SET head = old_head + moved, leader_sleeping = false;
        PERFORM pg_notify('sse#events', (old_head + moved)::text);
    END IF;
END $$;

-- The same batch without its rows, for gateways of an earlier version
-- during a rolling upgrade.
CREATE OR REPLACE FUNCTION sse._sequence(max_rows int, OUT moved bigint, OUT new_head bigint)
LANGUAGE sql AS $$
    SELECT count(*), coalesce(max(r.ev_position), (SELECT head FROM sse.state))
    FROM sse._sequence_rows(max_rows, 0) r
$$;

-- Roles. sse_publisher: what an application needs to publish and to read the
-- head, nothing more. sse_gateway: what `sse-gateway serve --no-migrate`
-- needs (read events, sequence as the leader, prune, keep its fleet row), no
-- DDL and no ownership. Both NOLOGIN: grant them to login roles. Creating
-- roles needs CREATEROLE; without it (and without the roles) the grants are
-- skipped with a warning and the schema works for its owner alone.
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA sse FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA sse FROM PUBLIC;
DO $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['sse_publisher', 'sse_gateway'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %I NOLOGIN', r);
            EXCEPTION WHEN insufficient_privilege THEN
                RAISE WARNING 'sse: cannot create role % (no CREATEROLE): grants to it skipped', r;
            END;
        END IF;
    END LOOP;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'sse_publisher') THEN
        GRANT USAGE ON SCHEMA sse TO sse_publisher;
        GRANT EXECUTE ON FUNCTION sse.publish(text, text, text), sse.publish_many(text[], text[], text[]),
            sse.notify(text, text, text), sse.head() TO sse_publisher;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'sse_gateway') THEN
        GRANT USAGE ON SCHEMA sse TO sse_gateway;
        GRANT EXECUTE ON FUNCTION sse.publish(text, text, text), sse.publish_many(text[], text[], text[]),
            sse.notify(text, text, text), sse.head(), sse._sequence(int),
            sse._sequence_rows(int, bigint) TO sse_gateway;
        GRANT SELECT ON sse.schema_version, sse.events, sse.state TO sse_gateway;
        -- The leader's batch (sse._sequence runs as its caller) and its pruning.
        GRANT SELECT, DELETE ON sse.outbox TO sse_gateway;
        GRANT INSERT, DELETE ON sse.events TO sse_gateway;
        GRANT UPDATE (head, pruned_through, leader_sleeping) ON sse.state TO sse_gateway;
        GRANT SELECT, INSERT, UPDATE, DELETE ON sse.gateways TO sse_gateway;
    END IF;
END $$;

DELETE FROM sse.schema_version;
INSERT INTO sse.schema_version (version) VALUES (2);
-- The digest of this file is recorded by sse-gateway after it ran.
