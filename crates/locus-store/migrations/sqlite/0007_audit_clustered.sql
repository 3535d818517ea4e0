-- The audit log rebuilt as a table clustered on (project_id, event_id), WITHOUT
-- ROWID. Before, every event was written to four B-trees: the rowid table, the
-- primary key on event_id and the project and account indexes. Now it is two:
-- the table itself, whose key is the project's log in order (a project's page
-- of events is one range of it), and the account index. The commit that
-- carries an event therefore writes about half as many extra pages to the WAL.
-- Events outside any project have project_id '' (a key column is never NULL);
-- the store reads '' as "no project". Same columns, same triggers.

CREATE TABLE audit_events_clustered (
    project_id  TEXT NOT NULL,
    event_id    TEXT NOT NULL,
    account_id  TEXT,
    request_id  TEXT NOT NULL,
    remote_host TEXT NOT NULL,
    event_type  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    content     TEXT NOT NULL,
    PRIMARY KEY (project_id, event_id)
) WITHOUT ROWID;

INSERT INTO audit_events_clustered (project_id, event_id, account_id, request_id, remote_host, event_type, created_at, content)
SELECT COALESCE(project_id, ''), event_id, account_id, request_id, remote_host, event_type, created_at, content FROM audit_events;

-- Dropping a table drops its triggers first, so no event is "deleted" here.
DROP TABLE audit_events;
ALTER TABLE audit_events_clustered RENAME TO audit_events;
CREATE INDEX audit_events_account ON audit_events (account_id, event_id);

CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit events are append-only');
END;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
WHEN OLD.created_at >= (SELECT cutoff FROM audit_retention WHERE id = 1)
BEGIN
    SELECT RAISE(ABORT, 'audit events are append-only');
END;
