-- The audit log: append-only. Events are written in the same transaction as
-- the change they record. No foreign keys: a deleted project or account keeps
-- its events. event_id is 56 digits that sort by time (see audit.rs).

CREATE TABLE audit_events (
    event_id    TEXT PRIMARY KEY,
    project_id  TEXT,
    account_id  TEXT,
    request_id  TEXT NOT NULL,
    remote_host TEXT NOT NULL,
    event_type  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    content     TEXT NOT NULL
);
CREATE INDEX audit_events_project ON audit_events (project_id, event_id);
CREATE INDEX audit_events_account ON audit_events (account_id, event_id);

-- The retention cutoff: events older than it may be purged (Store::purge_audit);
-- 0 keeps everything, the default.
CREATE TABLE audit_retention (
    id     BIGINT PRIMARY KEY CHECK (id = 1),
    cutoff BIGINT NOT NULL
);
INSERT INTO audit_retention (id, cutoff) VALUES (1, 0);

-- Nothing may change an event, or remove one younger than the retention cutoff.
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit events are append-only');
END;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
WHEN OLD.created_at >= (SELECT cutoff FROM audit_retention WHERE id = 1)
BEGIN
    SELECT RAISE(ABORT, 'audit events are append-only');
END;
