-- Project content: metadata objects (api-contract.md §9), the links between
-- them, Studio shares, bookmarks and stories. Everything goes with its project.

-- One row per object. `body` is the object's JSON as the client sent it,
-- without the keys the server sets (id, accessInfo, version, links), which
-- live in columns. `personal` marks an object created without md.create_all
-- (a personal view, a VIEW_CREATOR's dashboard): its creator owns it.
CREATE TABLE md_objects (
    project_id    TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    id            TEXT NOT NULL,
    md_type       TEXT NOT NULL,
    name          TEXT NOT NULL,
    title         TEXT,
    body          TEXT NOT NULL,
    version       BIGINT NOT NULL,
    personal      BIGINT NOT NULL,
    created_by_id TEXT,
    created_by    TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    modified_by   TEXT NOT NULL,
    modified_at   BIGINT NOT NULL,
    PRIMARY KEY (project_id, id)
);
CREATE UNIQUE INDEX md_objects_name ON md_objects (project_id, md_type, name);
-- The view list's order (by title), covering the personal-view filter and the
-- id (the default views are left out by id).
CREATE INDEX md_objects_title ON md_objects (project_id, md_type, title, name, personal, created_by_id, id);

-- The links an object makes, resolved to the target's id when it was written
-- (`ordinal`: the link's position in the object, which orders defaultViews).
CREATE TABLE md_links (
    project_id TEXT NOT NULL,
    from_id    TEXT NOT NULL,
    to_id      TEXT NOT NULL,
    path       TEXT NOT NULL,
    ordinal    BIGINT NOT NULL,
    PRIMARY KEY (project_id, from_id, ordinal),
    FOREIGN KEY (project_id, from_id) REFERENCES md_objects (project_id, id) ON DELETE CASCADE
);
CREATE INDEX md_links_to ON md_links (project_id, to_id);

-- A shared Studio state of a view. It dies when any object of the view's
-- hierarchy (listed in md_share_objects) changes or goes.
CREATE TABLE md_shares (
    project_id    TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    id            TEXT NOT NULL,
    view_id       TEXT NOT NULL,
    state         TEXT NOT NULL,
    created_by_id TEXT,
    created_at    BIGINT NOT NULL,
    PRIMARY KEY (project_id, id)
);
CREATE TABLE md_share_objects (
    project_id TEXT NOT NULL,
    share_id   TEXT NOT NULL,
    object_id  TEXT NOT NULL,
    PRIMARY KEY (project_id, share_id, object_id),
    FOREIGN KEY (project_id, share_id) REFERENCES md_shares (project_id, id) ON DELETE CASCADE
);
CREATE INDEX md_share_objects_object ON md_share_objects (project_id, object_id);

-- Per-account named saved states, private to their owner.
CREATE TABLE bookmarks (
    project_id  TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    id          TEXT NOT NULL,
    account_id  TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    title       TEXT NOT NULL,
    state       TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    modified_at BIGINT NOT NULL,
    PRIMARY KEY (project_id, id)
);
CREATE UNIQUE INDEX bookmarks_name ON bookmarks (project_id, account_id, name);

-- Stories: a title, a description and an ordered list of blocks (JSON).
CREATE TABLE stories (
    project_id    TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    id            TEXT NOT NULL,
    title         TEXT NOT NULL,
    description   TEXT,
    blocks        TEXT NOT NULL,
    version       BIGINT NOT NULL,
    created_by_id TEXT,
    created_by    TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    modified_by   TEXT NOT NULL,
    modified_at   BIGINT NOT NULL,
    PRIMARY KEY (project_id, id)
);
CREATE INDEX stories_title ON stories (project_id, title);
