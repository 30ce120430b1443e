-- Rivo schema, SQLite (timestamps as RFC 3339 UTC text, UUIDs as 16-byte blobs, JSON as text). Mirrors the original Django models (accounts, chat, clients).

CREATE TABLE roles (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    CONSTRAINT roles_name_key UNIQUE (name)
);

CREATE TABLE role_permissions (
    role_id    BIGINT NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    permission TEXT NOT NULL,
    PRIMARY KEY (role_id, permission)
);

CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    email         TEXT NOT NULL,
    username      TEXT NOT NULL,
    password      TEXT NOT NULL,
    first_name    TEXT NOT NULL DEFAULT '',
    last_name     TEXT NOT NULL DEFAULT '',
    phone         TEXT NOT NULL DEFAULT '',
    role_id       BIGINT REFERENCES roles (id) ON DELETE SET NULL,
    created_by_id BIGINT REFERENCES users (id) ON DELETE SET NULL,
    is_active     INTEGER NOT NULL DEFAULT 1,
    is_staff      INTEGER NOT NULL DEFAULT 0,
    is_superuser  INTEGER NOT NULL DEFAULT 0,
    last_login    TEXT,
    date_joined   TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    CONSTRAINT users_username_key UNIQUE (username)
);
CREATE UNIQUE INDEX users_email_key ON users (lower(email));
CREATE INDEX users_role_id_idx ON users (role_id);
CREATE INDEX users_created_at_idx ON users (created_at DESC, id DESC);

CREATE TABLE user_permissions (
    user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    permission TEXT NOT NULL,
    PRIMARY KEY (user_id, permission)
);

CREATE TABLE chat_messages (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id  BLOB NOT NULL,
    message     TEXT NOT NULL,
    sender_type TEXT NOT NULL DEFAULT 'client',
    sent_at     TEXT NOT NULL,
    CONSTRAINT chat_messages_sender_type_check CHECK (sender_type IN ('client', 'bot')),
    CONSTRAINT chat_messages_message_check CHECK (message <> '')
);
CREATE INDEX chat_messages_session_sent_idx ON chat_messages (session_id, sent_at, id);
CREATE INDEX chat_messages_sent_at_idx ON chat_messages (sent_at);

CREATE TABLE clients (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    name          TEXT NOT NULL,
    email         TEXT NOT NULL DEFAULT '',
    phone         TEXT NOT NULL DEFAULT '',
    current_stage TEXT NOT NULL DEFAULT 'lead',
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    CONSTRAINT clients_current_stage_check CHECK (current_stage IN (
        'lead', 'contacted', 'qualified', 'docs_pending', 'docs_received', 'application_started',
        'application_submitted', 'application_in_process', 'application_approved', 'disbursed',
        'active', 'lost', 'closed', 'rejected'))
);
CREATE INDEX clients_email_idx ON clients (email);
CREATE INDEX clients_phone_idx ON clients (phone);
CREATE INDEX clients_current_stage_idx ON clients (current_stage);
CREATE INDEX clients_email_phone_idx ON clients (email, phone);
CREATE INDEX clients_stage_created_idx ON clients (current_stage, created_at DESC);
CREATE INDEX clients_created_at_idx ON clients (created_at DESC, id DESC);

CREATE TABLE client_contexts (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    client_id       BIGINT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    chat_session_id BLOB,
    context_data    TEXT NOT NULL DEFAULT '{}',
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    CONSTRAINT client_contexts_client_id_key UNIQUE (client_id),
    CONSTRAINT client_contexts_object_check CHECK (json_type(context_data) = 'object')
);
CREATE INDEX client_contexts_chat_session_idx ON client_contexts (chat_session_id);

CREATE TABLE client_stage_history (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    client_id     BIGINT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    from_stage    TEXT,
    to_stage      TEXT NOT NULL,
    changed_by_id BIGINT REFERENCES users (id) ON DELETE SET NULL,
    remarks       TEXT NOT NULL DEFAULT '',
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);
CREATE INDEX client_stage_history_client_idx ON client_stage_history (client_id, created_at DESC);
CREATE INDEX client_stage_history_to_stage_idx ON client_stage_history (to_stage);
CREATE INDEX client_stage_history_changed_by_idx ON client_stage_history (changed_by_id);

CREATE TABLE client_assignments (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    client_id      BIGINT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    assigned_to_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    assigned_by_id BIGINT REFERENCES users (id) ON DELETE SET NULL,
    is_active      INTEGER NOT NULL DEFAULT 1,
    remarks        TEXT NOT NULL DEFAULT '',
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL
);
CREATE INDEX client_assignments_client_idx ON client_assignments (client_id, created_at DESC);
CREATE INDEX client_assignments_is_active_idx ON client_assignments (is_active);
CREATE INDEX client_assignments_assigned_to_idx ON client_assignments (assigned_to_id);
CREATE INDEX client_assignments_assigned_by_idx ON client_assignments (assigned_by_id);
-- At most one active assignment per client, enforced by the database.
CREATE UNIQUE INDEX client_assignments_one_active ON client_assignments (client_id) WHERE is_active = 1;
