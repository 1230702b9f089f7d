-- fleetgate:up
CREATE FUNCTION user_email(uid bigint) RETURNS text
    LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT email FROM users WHERE id = uid;
END;
