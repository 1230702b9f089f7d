ALTER TYPE account_status ADD VALUE 'closed' AFTER 'suspended';
