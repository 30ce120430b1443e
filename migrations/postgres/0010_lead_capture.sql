-- The later original's chat data (issue 16): what a chat message carries (`data_type`: a plain
-- message, or the visitor's name, email or phone, which lead capture copies onto the client),
-- and assignments without an assignee: an active row with a NULL `assigned_to_id` means
-- "awaiting assignment", as in the later original.
ALTER TABLE chat_messages ADD COLUMN data_type VARCHAR(20) NOT NULL DEFAULT 'message'
    CONSTRAINT chat_messages_data_type_check CHECK (data_type IN ('message', 'name', 'email', 'phone'));
ALTER TABLE client_assignments ALTER COLUMN assigned_to_id DROP NOT NULL;
