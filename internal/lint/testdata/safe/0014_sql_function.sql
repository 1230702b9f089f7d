-- fleetgate:up
CREATE FUNCTION order_count(uid bigint) RETURNS bigint
    LANGUAGE sql STABLE
    AS 'SELECT count(*) FROM orders WHERE user_id = uid';

CREATE FUNCTION purge_demo() RETURNS void LANGUAGE plpgsql AS $fn$
BEGIN
    -- Body is not run by the migration: DELETE FROM orders; DROP TABLE users;
    DELETE FROM orders WHERE user_id = 0;
    EXECUTE 'TRUNCATE demo_data';
END
$fn$;

-- fleetgate:down
DROP FUNCTION purge_demo();
DROP FUNCTION order_count(bigint);
