-- Responses API objects the gateway served (for previous_response_id and GET /v1/responses/{id}),
-- owned by the key that created them: input items, output items and the response, as JSON.

CREATE TABLE responses (
    response_id TEXT PRIMARY KEY,
    owner       TEXT NOT NULL,
    data        TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);
CREATE INDEX responses_created ON responses (created_at);
